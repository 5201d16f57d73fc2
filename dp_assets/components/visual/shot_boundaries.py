"""``shot_boundaries``: find hard cuts (abrupt shot changes) from colour-histogram changes.

Compares the HSV histograms of consecutive low-resolution frames, in the spirit of
PySceneDetect's HistogramDetector with the adaptive test of its AdaptiveDetector; gradual
transitions (fades, dissolves) are deliberately not reported as cuts.
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

# Sampling. 8 fps puts a cut at most 1/8 s after the real one while keeping the frames store
# small; 64 px on the long side (64x36 for 16:9) is plenty for colour histograms and makes the
# decode-side scaling nearly free.
DEFAULT_ANALYSIS_FPS = 8.0
DEFAULT_ANALYSIS_MAX_SIDE = 64
# 7200 frames = 15 min at 8 fps, about 50 MB of 64x36 RGB. Longer videos are sampled more
# sparsely so that the cap still spans the whole video (see FrameRequest): cut times get coarser
# and fast motion starts to look like a cut, but memory and the frames store stay bounded.
DEFAULT_MAX_FRAMES = 7200

# Detection. A pair of frames is a cut when its histogram distance (0 = same colours,
# 1 = disjoint) is at least DEFAULT_MIN_SCORE *and* DEFAULT_ADAPTIVE_RATIO times the median
# distance of the pairs around it. On the test media real cuts score 0.28-0.46 while camera
# motion, talking heads and a caption sliding in stay below 0.14; the ratio test rejects fades,
# where every pair in a row differs by about as much (ratio ~1.3 across Big Buck Bunny's
# fade-in) and rejects busy action, which raises the neighbours' median with it. A pop-up that
# greys out a whole screen recording (0.29-0.33) does count: the picture changes at once.
DEFAULT_MIN_SCORE = 0.2
DEFAULT_ADAPTIVE_RATIO = 3.0
# Neighbours on each side of a pair used for the adaptive median; half a second is long enough
# to see the local motion level and short enough not to reach into the previous shot.
DEFAULT_ADAPTIVE_WINDOW_S = 0.5
# A shot shorter than this is not believed: of several candidate cuts closer together the
# strongest wins (a flash or a glitch frame yields two candidates). 0.6 s is PySceneDetect's
# default of 15 frames at 25 fps. It also applies to the first shot.
DEFAULT_MIN_SHOT_S = 0.6

# Histogram bins per HSV channel. 16 keeps the 2,304 pixels of a 64x36 frame from spreading
# into mostly-empty bins, so the distance measures colour changes rather than pixel noise.
HIST_BINS = 16
# The neighbours' median is floored at this distance: in a static shot it is close to 0 and any
# compression flicker would look like a many-fold jump. About the median pair distance of
# ordinary footage at 8 fps.
ADAPTIVE_MEDIAN_FLOOR = 0.02
# Pixels whose histograms are computed at once (about 2,000 frames of 64x36); bounds the
# temporaries to ~100 MB whatever analysis_max_side is.
_CHUNK_PIXELS = 4_000_000


class ShotBoundariesConfig(ComponentConfig):
    analysis_fps: float = Field(DEFAULT_ANALYSIS_FPS, gt=0, le=120)
    analysis_max_side: int = Field(DEFAULT_ANALYSIS_MAX_SIDE, ge=16, le=512)
    max_frames: int = Field(DEFAULT_MAX_FRAMES, ge=2)
    min_score: float = Field(DEFAULT_MIN_SCORE, gt=0, le=1)
    adaptive_ratio: float = Field(DEFAULT_ADAPTIVE_RATIO, ge=1)  # 1 disables the adaptive test
    adaptive_window_s: float = Field(DEFAULT_ADAPTIVE_WINDOW_S, gt=0)
    min_shot_s: float = Field(DEFAULT_MIN_SHOT_S, ge=0)


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("time_s", pa.float64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("from_pts_s", pa.float64(), nullable=False),
        pa.field("to_pts_s", pa.float64(), nullable=False),
    ]
)


def frame_request(config: ShotBoundariesConfig, sampling: SamplingPolicy) -> FrameRequest:
    # Independent of the profile's sampling policy: cut detection needs dense frames, not many
    # pixels, whatever the other components sample.
    return FrameRequest(fps=config.analysis_fps, max_side=config.analysis_max_side, max_frames=config.max_frames)


def hsv_histograms(images: np.ndarray) -> np.ndarray:
    """Per-frame HSV histograms, shape (n, 3, HIST_BINS + 1), each channel summing to 1.

    Hue is weighted by chroma (S*V): the hue of grey and near-black pixels is noise (a dark
    frame's hue histogram flips wholesale between frames), so their weight goes to an extra
    "neutral" bin instead. Saturation and value use the last bin as padding (always 0).
    """
    n, height, width = images.shape[:3]
    out = np.zeros((n, 3, HIST_BINS + 1), dtype=np.float64)
    step = max(1, _CHUNK_PIXELS // (height * width))
    for start in range(0, n, step):
        chunk = np.ascontiguousarray(images[start : start + step])
        m, h, w, _ = chunk.shape
        # cvtColor is per pixel, so the whole chunk converts as one tall image.
        hsv = cv2.cvtColor(chunk.reshape(m * h, w, 3), cv2.COLOR_RGB2HSV).reshape(m, h * w, 3)
        rows = np.repeat(np.arange(m), h * w) * (HIST_BINS + 1)
        hue_bin = (hsv[..., 0].astype(np.int64) * HIST_BINS) // 180  # OpenCV hue is 0..179
        chroma = (hsv[..., 1].astype(np.float64) * hsv[..., 2]) / (255.0 * 255.0)
        size = m * (HIST_BINS + 1)
        hue = np.bincount(rows + hue_bin.ravel(), weights=chroma.ravel(), minlength=size)
        hue = hue.reshape(m, HIST_BINS + 1)
        hue[:, HIST_BINS] = (1.0 - chroma).sum(axis=1)
        sat = np.bincount(rows + (hsv[..., 1].ravel().astype(np.int64) * HIST_BINS) // 256, minlength=size)
        val = np.bincount(rows + (hsv[..., 2].ravel().astype(np.int64) * HIST_BINS) // 256, minlength=size)
        out[start : start + m, 0] = hue
        out[start : start + m, 1] = sat.reshape(m, HIST_BINS + 1)
        out[start : start + m, 2] = val.reshape(m, HIST_BINS + 1)
    out /= out.sum(axis=2, keepdims=True)
    return out


def pair_distances(hists: np.ndarray) -> np.ndarray:
    """Bhattacharyya distance (0..1) between consecutive frames, averaged over H, S and V."""
    overlap = np.sqrt(hists[1:] * hists[:-1]).sum(axis=2)
    return np.sqrt(np.clip(1.0 - overlap, 0.0, 1.0)).mean(axis=1)


def adaptive_ratios(scores: np.ndarray, window: int) -> np.ndarray:
    """Each score over the floored median of up to ``window`` scores on either side of it.

    A median rather than a mean, so that a second cut inside the window does not hide the first.
    """
    ratios = np.empty_like(scores)
    for i in range(scores.size):
        around = np.concatenate([scores[max(0, i - window) : i], scores[i + 1 : i + 1 + window]])
        local = float(np.median(around)) if around.size else 0.0
        ratios[i] = scores[i] / max(local, ADAPTIVE_MEDIAN_FLOOR)
    return ratios


def select_cuts(candidates: list[int], scores: np.ndarray, times: np.ndarray, min_shot_s: float) -> list[int]:
    """The strongest candidates that leave every shot, the first included, ``min_shot_s`` long.

    Greedy by score: of two candidates closer than ``min_shot_s`` the weaker one goes, which
    keeps the real cut when a cut and a flash or glitch frame are close together.
    """
    accepted: list[int] = []
    for i in sorted(candidates, key=lambda c: -scores[c]):
        t = times[i]
        if t - times[0] + 1e-9 < min_shot_s:
            continue
        if all(abs(t - times[j]) + 1e-9 >= min_shot_s for j in accepted):
            accepted.append(i)
    return sorted(accepted)


def compute(
    ctx: ComponentContext, config: ShotBoundariesConfig, inputs: Mapping[str, ComponentResult]
) -> ComponentResult:
    frames = ctx.frames  # the frames of this component's frame_request, handed over by run_component
    pts = frames.pts_s
    n = len(frames)
    span = float(pts[-1] - pts[0]) if n else 0.0
    # With no frame at least min_shot_s after the first, no cut could ever be accepted: "zero
    # cuts" would be a consequence of the rule, not an observation, so say the clip is too short.
    if n < 2 or span + 1e-9 < config.min_shot_s:
        return ComponentResult.empty(
            EmptyReason.TOO_SHORT,
            f"{n} frame(s) sampled over {span:.2f} s; a cut needs two frames and a first shot of at "
            f"least min_shot_s={config.min_shot_s:g} s",
        )

    # scores[k] compares frame k - 1 with frame k (scores[0] = 0: the first frame starts a shot),
    # so candidate cuts are indices of the first frame of a new shot.
    scores = np.concatenate([[0.0], pair_distances(hsv_histograms(frames.images))])
    sample_interval = float(np.median(np.diff(pts)))
    window = max(1, int(round(config.adaptive_window_s / sample_interval))) if sample_interval > 0 else 1
    ratios = np.concatenate([[0.0], adaptive_ratios(scores[1:], window)])
    candidates = [k for k in range(1, n) if scores[k] >= config.min_score and ratios[k] >= config.adaptive_ratio]
    cuts = select_cuts(candidates, scores, pts, config.min_shot_s)

    # A cut's time is the timestamp of the first sampled frame of the new shot (as in ffmpeg's
    # scene score and PySceneDetect); the real cut lies in (from_pts_s, to_pts_s].
    rows = [
        {"time_s": float(pts[k]), "score": float(scores[k]), "from_pts_s": float(pts[k - 1]), "to_pts_s": float(pts[k])}
        for k in cuts
    ]
    # The last sampled frame stands for one sample interval of video.
    covered = span + sample_interval
    shot_count = len(rows) + 1
    summary = {
        "cut_count": len(rows),
        "shot_count": shot_count,
        "cut_times_s": [r["time_s"] for r in rows],
        "mean_shot_length_s": covered / shot_count,
        "covered_s": covered,
        "analysed_frames": n,
        "sample_interval_s": sample_interval,
    }
    return ComponentResult.ok(pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA), summary=summary)


SPEC = ComponentSpec(
    name="shot_boundaries",
    modality=Modality.VISUAL,
    description="Hard cuts between shots, from HSV histogram changes between consecutive low-resolution frames.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=ShotBoundariesConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("frames",),
    frame_request=frame_request,
    summary_keys=(
        "analysed_frames",
        "covered_s",
        "cut_count",
        "cut_times_s",
        "mean_shot_length_s",
        "sample_interval_s",
        "shot_count",
    ),
)
