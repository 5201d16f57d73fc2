"""The PP-OCRv6 small detection/recognition models bundled in the ``rapidocr`` wheel, loaded with
explicit paths; ``ocr_text`` asks for ``RAPIDOCR_PPOCRV6``."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from dp_core.contract import ModelRef, Runtime
from dp_resources.models.store import package_file

# The models that ship inside the rapidocr wheel (rapidocr/models/). Any other det/rec/lang choice
# is downloaded on first use, which a run must never do, so the paths are always given
# explicitly and RapidOCR never resolves a model by name.
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"  # carries its character list in the ONNX metadata
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"


def _weight_files() -> list[Path]:
    return [package_file("rapidocr", "models", name) for name in (DET_MODEL, REC_MODEL, CLS_MODEL)]


def _load(runtime: Runtime):
    # Imported here: the registry imports every component module, installed extras or not.
    from rapidocr import EngineType, RapidOCR

    det, rec, cls = _weight_files()
    return RapidOCR(
        params={
            # RapidOCR logs a warning for every frame without text.
            "Global.log_level": "error",
            "Det.engine_type": EngineType.ONNXRUNTIME,
            "Rec.engine_type": EngineType.ONNXRUNTIME,
            "Cls.engine_type": EngineType.ONNXRUNTIME,
            "Det.model_path": str(det),
            "Rec.model_path": str(rec),
            "Cls.model_path": str(cls),
        }
    )


def _rapidocr_version() -> str:
    try:
        return importlib.metadata.version("rapidocr")
    except importlib.metadata.PackageNotFoundError:
        return "not-installed"


RAPIDOCR_PPOCRV6 = ModelRef(
    name="rapidocr_ppocrv6_small",
    # Pre/post-processing (box unclipping, score, resizing) lives in rapidocr's code, not the
    # weights, so its version is part of the model's identity.
    version=_rapidocr_version(),
    engine="onnxruntime",
    package="rapidocr",
    weight_files=_weight_files,
    load=_load,
    cpu_only=True,
)
