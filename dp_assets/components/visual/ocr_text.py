"""``ocr_text``: on-screen text (captions, titles, UI) read with RapidOCR's bundled PP-OCR models.

Each sampled frame goes through PP-OCRv6 text detection and recognition (ONNX, on CPU); the lines
of all frames are merged into the video's de-duplicated text, in the order it first appears.
"""

from __future__ import annotations

import difflib
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
from dp_resources.models.rapidocr import RAPIDOCR_PPOCRV6 as MODEL


# Text needs pixels: at 1280 px the small UI text of a 1920x1080 browser recording is still
# read correctly (checked on the test screen recordings). That costs ~1.3 s per 1280x720 frame
# (2.5 s of CPU on 2 cores, measured), so the rate is low: on-screen text stays up for seconds,
# and 0.5 fps still sees every caption that lasts 2 s. 60 frames bound a video to ~80 s on 2
# cores; longer videos are sampled more sparsely (see FrameRequest) and may miss short captions.
DEFAULT_FPS = 0.5
DEFAULT_MAX_SIDE = 1280
DEFAULT_MAX_FRAMES = 60
# A line is kept when the recogniser is at least this sure of it. Captions and UI labels on
# the test media read at 0.93-1.0; what falls below is texture read as glyphs (flag stripes
# as "￥￥" at 0.55-0.63) or half-hidden text ("IDENT OI THE" of a lectern seal, 0.71-0.74).
DEFAULT_MIN_CONFIDENCE = 0.8
# ... and has at least this many letters or digits: single glyphs are mostly icons read as
# characters ("×", "☆", "+") or the first letter of a clipped label.
DEFAULT_MIN_ALNUM = 2
# Two readings are one line when, after case folding and dropping everything but letters and
# digits, they are equal; or one contains the other and the shorter one's box lies mostly
# (CONTAINED_OVERLAP of its area) inside the longer one's: the detector split a row of UI
# buttons differently in another frame, or the frame edge cut a label; or they are this similar
# (difflib ratio) *and* overlap on screen (IoU at least NEAR_DUPLICATE_IOU): a caption misread
# in one frame ("IMG_4822.MO" / "IMG_4822.M0"). The position test keeps neighbouring labels
# that differ in one character ("IMG_4821.MOV" / "IMG_4822.MOV", ratio 0.9) apart.
NEAR_DUPLICATE_RATIO = 0.8
NEAR_DUPLICATE_IOU = 0.3
CONTAINED_OVERLAP = 0.5




class OcrTextConfig(ComponentConfig):
    fps: float = Field(DEFAULT_FPS, gt=0, le=30)
    max_side: int = Field(DEFAULT_MAX_SIDE, ge=320, le=4096)
    max_frames: int = Field(DEFAULT_MAX_FRAMES, ge=1)
    min_confidence: float = Field(DEFAULT_MIN_CONFIDENCE, ge=0, le=1)
    min_alnum: int = Field(DEFAULT_MIN_ALNUM, ge=1)
    # The 180-degree classifier only helps with upside-down text (scanned pages); video text is
    # upright, and the classifier costs one more model pass per line.
    use_angle_classifier: bool = False


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("pts_s", pa.float64(), nullable=False),
        # reading order within the frame (RapidOCR sorts top-to-bottom, left-to-right)
        pa.field("line_index", pa.int32(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),
        # axis-aligned [x_min, y_min, x_max, y_max] as fractions of the frame's width and height
        pa.field("box", pa.list_(pa.float64(), 4), nullable=False),
    ]
)


def frame_request(config: OcrTextConfig, sampling: SamplingPolicy) -> FrameRequest:
    # Independent of the profile's policy: OCR needs more pixels and far fewer frames.
    return FrameRequest(fps=config.fps, max_side=config.max_side, max_frames=config.max_frames)


def normalise(text: str) -> str:
    """Letters and digits only, case-folded: what two readings of one line share."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _area(box: list[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _intersection(a: list[float], b: list[float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def box_iou(a: list[float], b: list[float]) -> float:
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def same_line(key: str, box: list[float], other_key: str, other_box: list[float]) -> bool:
    """Whether two readings (normalised text and box) are one on-screen line; see NEAR_DUPLICATE_RATIO."""
    if key == other_key:
        return True
    short_box = box if len(key) <= len(other_key) else other_box
    if (key in other_key or other_key in key) and _area(short_box) > 0:
        if _intersection(box, other_box) / _area(short_box) >= CONTAINED_OVERLAP:
            return True
    return (
        box_iou(box, other_box) >= NEAR_DUPLICATE_IOU
        and difflib.SequenceMatcher(None, key, other_key).ratio() >= NEAR_DUPLICATE_RATIO
    )


def read_lines(engine, image: np.ndarray, config: OcrTextConfig) -> list[dict]:
    """The kept lines of one (h, w, 3) uint8 RGB frame: text, confidence, normalised box."""
    height, width = image.shape[:2]
    # RapidOCR takes arrays as OpenCV BGR.
    output = engine(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), use_cls=config.use_angle_classifier)
    lines = []
    for points, text, score in zip(output.boxes if output.boxes is not None else (), output.txts or (), output.scores or ()):
        text = text.strip()
        if float(score) < config.min_confidence or len(normalise(text)) < config.min_alnum:
            continue
        pts = np.asarray(points, dtype=np.float64)
        box = [
            float(np.clip(pts[:, 0].min() / width, 0, 1)),
            float(np.clip(pts[:, 1].min() / height, 0, 1)),
            float(np.clip(pts[:, 0].max() / width, 0, 1)),
            float(np.clip(pts[:, 1].max() / height, 0, 1)),
        ]
        lines.append({"text": text, "confidence": float(score), "box": box})
    return lines


def merge_lines(rows: list[dict]) -> list[dict]:
    """Distinct lines in first-seen order, from per-frame readings in time and reading order.

    A line shows the full reading when others are parts of it (split or clipped), else its most
    confident reading.
    """
    groups: list[dict] = []
    for row in rows:
        key = normalise(row["text"])
        match = next((g for g in groups if same_line(key, row["box"], g["key"], g["box"])), None)
        if match is None:
            groups.append({"key": key, "text": row["text"], "confidence": row["confidence"], "box": row["box"], "seen": 1})
            continue
        match["seen"] += 1
        extends = len(key) > len(match["key"]) and match["key"] in key
        is_part = len(key) < len(match["key"]) and key in match["key"]
        if extends or (not is_part and row["confidence"] > match["confidence"]):
            match.update(key=key, text=row["text"], confidence=row["confidence"], box=row["box"])
    return groups


def compute(ctx: ComponentContext, config: OcrTextConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    frames = ctx.frames  # the frames of this component's frame_request, handed over by run_component
    engine = ctx.models.get(MODEL, ctx.runtime)
    rows = []
    for t, image in zip(frames.pts_s, frames.images):
        for index, line in enumerate(read_lines(engine, np.asarray(image), config)):
            rows.append({"pts_s": float(t), "line_index": index, **line})
    if not rows:
        return ComponentResult.empty(
            EmptyReason.NO_TEXT,
            f"no text line with confidence >= {config.min_confidence:g} in any of {len(frames)} sampled frame(s)",
        )
    lines = merge_lines(rows)
    summary = {
        # The key text_features reads: one distinct line per row, in first-seen order.
        "video_text": "\n".join(line["text"] for line in lines),
        "line_count": len(lines),
        "mean_confidence": float(np.mean([r["confidence"] for r in rows])),
        "frame_count": len(frames),
        "frames_with_text": len({r["pts_s"] for r in rows}),
        "text_ratio": len({r["pts_s"] for r in rows}) / len(frames),
    }
    return ComponentResult.ok(pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA), summary=summary)


SPEC = ComponentSpec(
    name="ocr_text",
    modality=Modality.VISUAL,
    description="On-screen text per sampled frame (RapidOCR, bundled PP-OCRv6 det/rec ONNX) and the video's de-duplicated text.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=OcrTextConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("frames",),
    models=(MODEL,),
    frame_request=frame_request,
    summary_keys=(
        "frame_count",
        "frames_with_text",
        "line_count",
        "mean_confidence",
        "text_ratio",
        "video_text",
    ),
)
