"""OpenCV's frontal-face Haar cascade, as the ``opencv-python-headless`` wheel ships it;
``faces`` asks for ``HAAR_FRONTAL_FACE``."""

from __future__ import annotations

from pathlib import Path

import cv2

from dp_core.contract import ModelRef, Runtime
from dp_resources.models.store import package_file

CASCADE_FILE = "haarcascade_frontalface_default.xml"


def _weight_files() -> list[Path]:
    return [package_file("cv2", "data", CASCADE_FILE)]


def _load(runtime: Runtime) -> cv2.CascadeClassifier:
    path = _weight_files()[0]
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not read the cascade {path}")
    return cascade


HAAR_FRONTAL_FACE = ModelRef(
    name="haarcascade_frontalface_default",
    # detectMultiScale's grouping lives in OpenCV's code, not in the XML: an OpenCV upgrade
    # may move boxes, so its version is part of the model's identity.
    version=cv2.__version__,
    engine="opencv",
    package="cv2",
    weight_files=_weight_files,
    load=_load,
    cpu_only=True,
)
