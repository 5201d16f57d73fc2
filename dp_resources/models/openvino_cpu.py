"""How every model that runs on OpenVINO is compiled for the CPU.

OpenVINO is imported inside the functions: the model loaders that use it import this module,
and a command that loads no model must not pay for OpenVINO's import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# OpenVINO's CPU plugin computes in bf16 where the processor supports it (AMX, AVX512-BF16)
# unless told otherwise: the same model signature would then read differently on another
# machine. f32 is what the readings and the evaluation set's scores were measured with.
OPENVINO_CPU_PROPERTIES = {"INFERENCE_PRECISION_HINT": "f32"}


def compile_on_cpu(model_xml: Path) -> Any:
    """An OpenVINO IR (``model.xml`` beside its ``model.bin``) compiled for the CPU in f32."""
    import openvino as ov

    core = ov.Core()
    return core.compile_model(core.read_model(str(model_xml)), "CPU", OPENVINO_CPU_PROPERTIES)
