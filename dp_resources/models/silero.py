"""Silero VAD's ONNX network, as the ``silero-vad`` wheel ships it.

``voice_activity`` keeps the streaming wrapper that feeds the network (it is about windows of
audio, not packaging); where the weights are and how Silero's loader is imported live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dp_resources.models.store import package_file

# The model file inside the ``silero-vad`` wheel, and the package version it came from (the
# model signature also hashes the file, so another release can never share an artifact). The
# wheel also ships the same network as TorchScript (``silero_vad.jit``); the ONNX copy is used
# because its session takes its own thread count (one), while TorchScript runs on torch's
# process-wide pool: with two threads its 32 ms calls were 1.2-6x slower than with one (measured),
# and changing that pool would slow every other torch model in the process. Both give the same
# probabilities (largest difference 2e-7 on 29 s of noise, measured).
SILERO_PACKAGE = "silero_vad"
SILERO_ONNX_FILE = ("data", "silero_vad.onnx")
SILERO_VERSION = "6.2.3"


def silero_utils() -> Any:
    """``silero_vad.utils_vad``, imported without its side effect: importing the package calls
    ``torch.set_num_threads(1)`` for the whole process, which would slow every other torch model."""
    import torch

    threads = torch.get_num_threads()
    import silero_vad.utils_vad as utils

    torch.set_num_threads(threads)
    return utils


def silero_weight_files() -> list[Path]:
    return [package_file(SILERO_PACKAGE, *SILERO_ONNX_FILE)]


def silero_onnx_wrapper() -> Any:
    """Silero's own ONNX wrapper: one intra-op and one inter-op thread, CPU provider, and the
    64-sample context it prepends to every window (the network was trained with it)."""
    return silero_utils().OnnxWrapper(str(silero_weight_files()[0]), force_onnx_cpu=True)
