"""``ocr_text``: on-screen text (captions, titles, UI) read with RapidOCR's bundled PP-OCR models.

Text regions are detected on a reduced copy of each sampled frame and recognised from the
full-resolution frame; work already done is reused: a frame that looks like the last one read
keeps its lines, and a region whose pixels did not change keeps its reading, so only new text is
recognised. The lines of all frames are merged into the video's de-duplicated text, in the order
it first appears.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
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
# read correctly (checked on the test screen recordings); recognition reads from these frames.
# On-screen text stays up for seconds, and 0.5 fps still sees every caption that lasts 2 s.
# Longer videos than 60 frames allow are sampled more sparsely (see FrameRequest) and may miss
# short captions.
DEFAULT_FPS = 0.5
DEFAULT_MAX_SIDE = 1280
DEFAULT_MAX_FRAMES = 60
# Detection runs on a copy of the frame scaled to DEFAULT_DETECT_SIDE on its long side, and
# the regions it finds are cropped from the full frame for recognition. RapidOCR's own default
# detects a 1280x720 frame at 1308x736 (~1.1 s on 2 cores); 960x540 takes ~0.3 s and finds the
# same words on the evaluation set's stills (text 10-80 px at 1280x720) and the test screen
# recordings' small UI text, which 640 px loses (12 px words: recall 1.0 -> 0.77).
DEFAULT_DETECT_SIDE = 960
# Frames smaller than the detection size are enlarged to it, at most this many times. 1: never.
# PP-OCRv6's detector finds small words in 320x240 frames as well unenlarged as enlarged 3x: on
# the evaluation set's 24 low-resolution stills, 106 of 112 words of 7-20 px against 105, with
# precision 0.974 against 0.949, in 0.20 s a frame against 0.61 s; the Obama clip's caption and
# date line read the same. Enlarging costs the square of the factor and helps no height measured.
MAX_DETECT_UPSCALE = 1.0
# A sampled frame whose 160 px grey thumbnail differs from the last frame read by less than
# this mean absolute difference (0-255) shows the same picture (a paused screen recording, a
# static slide): its lines are reused without detection. Compression noise measures 0.3-1.
SAME_FRAME_DIFF = 2.0
SAME_FRAME_THUMB_SIDE = 160
# A detected region is the same text as one read in the previous frame when their boxes overlap
# (IoU at least REUSE_IOU) and the two crops, scaled to one size, differ by less than
# REUSE_CROP_DIFF (mean absolute grey difference, 0-255) in *every* square block along the line
# (a block is as wide as the line is high, one or two characters): a static caption. Its
# reading is reused instead of recognised again. Per block, so that one changed character in a
# long line (a clock's minute, a counter) is a change: its block differs by tens of levels,
# while the same caption over re-encoded frames differs by 1-3.
REUSE_IOU = 0.7
REUSE_CROP_DIFF = 6.0
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
    detect_side: int = Field(DEFAULT_DETECT_SIDE, ge=160, le=4096)
    max_detect_upscale: float = Field(MAX_DETECT_UPSCALE, ge=1, le=8)
    # Reuse work across frames (see SAME_FRAME_DIFF, REUSE_IOU); off reads every frame anew.
    reuse: bool = True
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


@dataclass
class _Read:
    """What one frame's reading leaves for the next: its thumbnail, regions, crops and lines."""

    thumb: np.ndarray
    regions: list[dict]  # {"box": normalised box, "crop": crop (BGR), "text": str, "confidence": float}


def _thumb(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = SAME_FRAME_THUMB_SIDE / max(height, width)
    small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


def same_crop(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two crops of a line show the same text (see REUSE_CROP_DIFF)."""
    if abs(a.shape[0] - b.shape[0]) > 2 or abs(a.shape[1] - b.shape[1]) > 2:
        return False
    grey_a = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float32)
    grey_b = cv2.cvtColor(cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY).astype(np.float32)
    difference = np.abs(grey_a - grey_b)
    block = max(1, a.shape[0])
    return all(float(difference[:, x : x + block].mean()) < REUSE_CROP_DIFF for x in range(0, a.shape[1], block))


def read_frame(engine, image: np.ndarray, config: OcrTextConfig, previous: _Read | None = None) -> tuple[list[dict], _Read, dict]:
    """The kept lines of one (h, w, 3) uint8 RGB frame (text, confidence, normalised box), what
    the next frame may reuse, and counts of the work done ("detected", "recognised", "reused")."""
    height, width = image.shape[:2]
    thumb = _thumb(image)
    work = {"detected": 0, "recognised": 0, "reused": 0}
    if config.reuse and previous is not None and previous.thumb.shape == thumb.shape:
        if float(np.abs(thumb - previous.thumb).mean()) < SAME_FRAME_DIFF:
            work["reused"] = len(previous.regions)
            return _kept(previous.regions, config), _Read(thumb, previous.regions), work
    # RapidOCR takes arrays as OpenCV BGR.
    frame = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    work["detected"] = 1
    boxes = _detect(engine, frame, config.detect_side, config.max_detect_upscale)
    regions: list[dict] = []
    todo: list[int] = []
    for points in boxes:
        crop = engine.crop(frame, points)
        box = [
            float(np.clip(points[:, 0].min() / width, 0, 1)),
            float(np.clip(points[:, 1].min() / height, 0, 1)),
            float(np.clip(points[:, 0].max() / width, 0, 1)),
            float(np.clip(points[:, 1].max() / height, 0, 1)),
        ]
        region = {"box": box, "crop": crop, "text": "", "confidence": 0.0}
        match = None
        if config.reuse and previous is not None:
            match = next(
                (r for r in previous.regions if box_iou(box, r["box"]) >= REUSE_IOU and same_crop(crop, r["crop"])), None
            )
        if match is not None:
            region.update(text=match["text"], confidence=match["confidence"])
            work["reused"] += 1
        else:
            todo.append(len(regions))
        regions.append(region)
    crops = [regions[i]["crop"] for i in todo]
    if config.use_angle_classifier:
        crops = engine.upright(crops)
    for i, (text, confidence) in zip(todo, engine.recognise(crops)):
        regions[i].update(text=text, confidence=confidence)
    work["recognised"] = len(todo)
    return _kept(regions, config), _Read(thumb, regions), work


def _detect(engine, frame: np.ndarray, side: int, max_upscale: float) -> np.ndarray:
    """Text regions of a BGR frame detected at ``side`` px on its long side, in frame pixels.

    Smaller frames are enlarged towards it by at most ``max_upscale`` (see MAX_DETECT_UPSCALE).
    """
    height, width = frame.shape[:2]
    scale = min(max_upscale, side / max(height, width))
    if scale == 1:
        return engine.detect(frame)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=interpolation)
    return engine.detect(resized) / scale


def _kept(regions: list[dict], config: OcrTextConfig) -> list[dict]:
    lines = []
    for region in regions:
        text = region["text"].strip()
        if region["confidence"] < config.min_confidence or len(normalise(text)) < config.min_alnum:
            continue
        lines.append({"text": text, "confidence": float(region["confidence"]), "box": list(region["box"])})
    return lines


def read_lines(engine, image: np.ndarray, config: OcrTextConfig) -> list[dict]:
    """The kept lines of one (h, w, 3) uint8 RGB frame on its own: text, confidence, normalised box."""
    return read_frame(engine, image, config)[0]


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
    previous: _Read | None = None
    work = {"detected": 0, "recognised": 0, "reused": 0}
    for position, (t, image) in enumerate(zip(frames.pts_s, frames.images)):
        ctx.progress(position, len(frames), "frames")
        lines, previous, done = read_frame(engine, np.asarray(image), config, previous)
        work = {k: work[k] + done[k] for k in work}
        for index, line in enumerate(lines):
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
        # Work done: frames detected (the others repeated the previous picture), regions
        # recognised, and regions whose reading was reused.
        "frames_detected": work["detected"],
        "regions_recognised": work["recognised"],
        "regions_reused": work["reused"],
    }
    return ComponentResult.ok(pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA), summary=summary)


SPEC = ComponentSpec(
    name="ocr_text",
    modality=Modality.VISUAL,
    description="On-screen text per sampled frame (RapidOCR, bundled PP-OCRv6 det/rec ONNX; new text regions only) and the video's de-duplicated text.",
    producer_version="2.1.0",
    schema_version=1,
    config_model=OcrTextConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("frames",),
    models=(MODEL,),
    frame_request=frame_request,
    summary_keys=(
        "frame_count",
        "frames_detected",
        "frames_with_text",
        "line_count",
        "mean_confidence",
        "regions_recognised",
        "regions_reused",
        "text_ratio",
        "video_text",
    ),
)
