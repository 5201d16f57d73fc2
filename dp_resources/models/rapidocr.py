"""The PP-OCRv6 small detection/recognition models bundled in the ``rapidocr`` wheel, loaded with
explicit paths; ``ocr_text`` asks for ``RAPIDOCR_PPOCRV6`` and gets a :class:`PaddleOcr`, which
runs detection and recognition as separate steps (so a caller chooses the detection scale and
recognises only the regions it needs).

The detector runs on OpenVINO, recognition and the angle classifier on onnxruntime (RapidOCR's
default). Detection is most of OCR's cost, and OpenVINO runs it in about half onnxruntime's time
on this project's 2-core Xeon with the same boxes. Recognition gains little from it, while
OpenVINO keeps memory for every crop width it has seen (+594 MiB after 19 widths, measured,
against +208 MiB on onnxruntime, which frees its buffers after each call; docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dp_core.contract import ModelRef, Runtime
from dp_resources.models.openvino_cpu import OPENVINO_CPU_PROPERTIES
from dp_resources.models.store import installed_version, package_file

# The models that ship inside the rapidocr wheel (rapidocr/models/). Any other det/rec/lang choice
# is downloaded on first use, which a run must never do, so the paths are always given
# explicitly and RapidOCR never resolves a model by name.
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"  # carries its character list in the ONNX metadata
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
# RapidOCR's own detector resizes every image so its *shorter* side is at least 736 px (a
# 1280x720 frame is detected at 1308x736, ~1.1 s on 2 cores). PaddleOcr.detect takes the image
# at the size it is given (only rounded to multiples of 32): the caller picks the scale.
_NO_RESIZE_LIMIT = 8192


def _weight_files() -> list[Path]:
    return [package_file("rapidocr", "models", name) for name in (DET_MODEL, REC_MODEL, CLS_MODEL)]


@dataclass
class PaddleOcr:
    """PP-OCR text detection, angle classification and recognition, each callable on its own.

    RapidOCR runs the detector through one OpenVINO infer request, which is not safe to call from
    two threads at once and returns its output as a view of its own buffer; the model store
    shares one loaded model between a process's threads, so every call holds the lock until its
    result is decoded. Both runtimes already use every core for one inference.
    """

    engine: Any  # rapidocr.RapidOCR, holding the compiled detector and the onnxruntime sessions
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """Text regions of a BGR image as (n, 4, 2) float32 corner points in its pixels, in
        reading order (top to bottom, then left to right); (0, 4, 2) when there is none."""
        with self._lock:
            detector = self.engine._load_det_model()  # noqa: SLF001 (rapidocr is pinned)
            found = detector(image_bgr)
            if found.boxes is None or len(found.boxes) == 0:
                return np.zeros((0, 4, 2), np.float32)
            return np.array(found.boxes, dtype=np.float32)

    def crop(self, image_bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The region ``box`` (4 corner points) straightened into an upright crop."""
        from rapidocr.utils.process_img import get_rotate_crop_image

        return get_rotate_crop_image(image_bgr, np.asarray(box, dtype=np.float32).copy())

    def upright(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Crops turned by 180 degrees where the angle classifier says they are upside down."""
        if not crops:
            return crops
        with self._lock:
            classifier = self.engine._load_cls_model()  # noqa: SLF001
            return list(classifier(crops).img_list)

    def recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence) of each crop, recognised in batches of similar aspect ratio."""
        if not crops:
            return []
        from rapidocr.ch_ppocr_rec.typings import TextRecInput

        with self._lock:
            recogniser = self.engine._load_rec_model()  # noqa: SLF001
            out = recogniser(TextRecInput(img=crops))
            return [(str(text), float(score)) for text, score in zip(out.txts, out.scores)]


@contextlib.contextmanager
def _openvino_cpu_properties(properties: dict[str, str]):
    """RapidOCR's OpenVINO sessions compiled with ``properties`` added to the CPU configuration
    it builds (its own config file has no key for the precision)."""
    from rapidocr.inference_engine.openvino import device_config

    original = device_config.CPUConfig.get_config
    device_config.CPUConfig.get_config = lambda self: {**original(self), **properties}
    try:
        yield
    finally:
        device_config.CPUConfig.get_config = original


def _load(runtime: Runtime) -> PaddleOcr:
    # Imported here: the registry imports every component module, installed extras or not.
    from rapidocr import EngineType, RapidOCR

    det, rec, cls = _weight_files()
    engine = RapidOCR(
        params={
            # RapidOCR logs a warning for every frame without text.
            "Global.log_level": "error",
            "Det.engine_type": EngineType.OPENVINO,
            "Rec.engine_type": EngineType.ONNXRUNTIME,
            "Cls.engine_type": EngineType.ONNXRUNTIME,
            "Det.model_path": str(det),
            "Rec.model_path": str(rec),
            "Cls.model_path": str(cls),
            "Det.limit_type": "max",
            "Det.limit_side_len": _NO_RESIZE_LIMIT,
        }
    )
    # RapidOCR loads each model on its first use; load all three now, the detector compiled with
    # the properties.
    with _openvino_cpu_properties(OPENVINO_CPU_PROPERTIES):
        engine._load_det_model()  # noqa: SLF001
        engine._load_rec_model()  # noqa: SLF001
        engine._load_cls_model()  # noqa: SLF001
    return PaddleOcr(engine)


RAPIDOCR_PPOCRV6 = ModelRef(
    name="rapidocr_ppocrv6_small",
    # Pre/post-processing (box unclipping, score, resizing) lives in rapidocr's code, not the
    # weights, and the runtimes' kernels round differently from release to release, so all three
    # versions are part of the model's identity. The engine named is the detector's.
    version=(
        f"{installed_version('rapidocr')}+openvino-{installed_version('openvino')}"
        f"+onnxruntime-{installed_version('onnxruntime')}"
    ),
    engine="openvino",
    package="rapidocr",
    weight_files=_weight_files,
    load=_load,
    cpu_only=True,
)
