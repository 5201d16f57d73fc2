"""``faces``: frontal faces per sampled frame with OpenCV's Haar cascade, and how present they are.

Viola-Jones detection with the ``haarcascade_frontalface_default.xml`` cascade that ships inside
the ``opencv-python-headless`` wheel; it finds upright, roughly frontal faces and misses profiles
and tilted heads, so ``presence_ratio`` is a lower bound on how often a face is on screen.
"""

from __future__ import annotations

from typing import Mapping

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
from dp_resources.models.haar import HAAR_FRONTAL_FACE as MODEL


# Frames at the profile's rate but 640 px on the long side: a face a tenth of a 16:9 frame's
# height is 18 px at 320 px, below the cascade's 24 px window, and 36 px at 640 px; a 640x360
# frame takes ~50 ms (measured on Big Buck Bunny).
DEFAULT_MAX_SIDE = 640
# Scale step of the detection pyramid (10 %, OpenCV's default) and the number of overlapping
# hits a face needs. 5 is the lowest count without false faces on Big Buck Bunny and Obama's
# clip at 1 fps (3 adds one to each); the handheld phone clip keeps one (a shelf) up to 6.
DEFAULT_SCALE_FACTOR = 1.1
DEFAULT_MIN_NEIGHBORS = 5
# Smallest face searched for, as a share of the frame's shorter side, never below the cascade's
# own 24x24 window. At 640x360 the window is the larger (5 % is 18 px); at a raised max_side it
# keeps the search off windows too small to hold a recognisable face (36 px at 1280x720).
DEFAULT_MIN_FACE_RATIO = 0.05
CASCADE_WINDOW_PX = 24




class FacesConfig(ComponentConfig):
    max_side: int = Field(DEFAULT_MAX_SIDE, ge=64, le=4096)
    scale_factor: float = Field(DEFAULT_SCALE_FACTOR, gt=1.0, le=2.0)
    min_neighbors: int = Field(DEFAULT_MIN_NEIGHBORS, ge=1)
    min_face_ratio: float = Field(DEFAULT_MIN_FACE_RATIO, gt=0, lt=1)


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
    return FrameRequest(fps=sampling.fps, max_side=config.max_side, max_frames=sampling.max_frames)


def detect_faces(cascade: cv2.CascadeClassifier, image: np.ndarray, config: FacesConfig) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in pixels of one (h, w, 3) uint8 RGB frame, largest first."""
    # No histogram equalisation (unlike many tutorials): on the test media it turns a ring on a
    # lectern into a face, and stretches the noise of the near-black clip into another one.
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    side = max(CASCADE_WINDOW_PX, int(round(config.min_face_ratio * min(gray.shape))))
    found = cascade.detectMultiScale(
        gray, scaleFactor=config.scale_factor, minNeighbors=config.min_neighbors, minSize=(side, side)
    )
    boxes = [tuple(int(v) for v in box) for box in found]
    return sorted(boxes, key=lambda b: -(b[2] * b[3]))


def compute(ctx: ComponentContext, config: FacesConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    frames = ctx.frames  # the frames of this component's frame_request, handed over by run_component
    cascade = ctx.models.get(MODEL, ctx.runtime)
    rows = []
    for t, image in zip(frames.pts_s, frames.images):
        height, width = image.shape[:2]
        boxes = detect_faces(cascade, np.asarray(image), config)
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
        return ComponentResult.empty(
            EmptyReason.NO_FACES,
            f"no frontal face in any of {len(rows)} sampled frame(s) ({frames.images.shape[2]}x{frames.images.shape[1]} px)",
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
    description="Frontal faces per sampled frame (OpenCV Haar cascade): count, boxes, largest-face size, presence ratio.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=FacesConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("frames",),
    models=(MODEL,),
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
