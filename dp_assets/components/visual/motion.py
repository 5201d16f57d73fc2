"""``motion``: how much the picture moves, from dense optical flow between consecutive low-resolution frames.

Farneback flow (OpenCV) per pair of sampled frames; magnitudes are normalised by the frame
diagonal and by the time between the two frames, so values compare across resolutions and
frame rates. Camera motion and object motion are not told apart.
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

# Sampling. 8 fps is the rate shot_boundaries samples at, so the two components pick the same
# frame timestamps and a cut's (from_pts_s, to_pts_s] interval is exactly one motion pair
# (visual_pacing drops that pair). At 160 px flow still resolves a moving person or a pan, and
# one pair takes ~3 ms.
DEFAULT_ANALYSIS_FPS = 8.0
DEFAULT_ANALYSIS_MAX_SIDE = 160
# 2400 frames = 5 min at 8 fps, ~100 MB of 160x90 RGB. Longer videos are sampled more sparsely
# (see FrameRequest); Farneback underestimates displacements much larger than its window, so
# fast motion then reads lower.
DEFAULT_MAX_FRAMES = 2400

# Unit of every magnitude: frame diagonals per second (1.0 = content crossing the whole frame
# diagonally in one second). Per-pixel flow (pixels) / diagonal (pixels) / pair interval (s).
#
# A pair is static below DEFAULT_STATIC_THRESHOLD (1/200 of the diagonal per second): on the
# test media leaves swaying in front of a fixed camera measure 0.0005-0.0034, an idle screen
# recording 0.000-0.002, the still moments of a talking head ~0.002-0.004, compression noise
# included. A pair is dynamic above DEFAULT_DYNAMIC_THRESHOLD (a twentieth of the diagonal per
# second): handheld phone footage measures mostly 0.05-0.38, while a slow camera move closing
# in on two speakers (0.015-0.04) and a man talking in a moving car (0.015-0.11) are in between.
DEFAULT_STATIC_THRESHOLD = 0.005
DEFAULT_DYNAMIC_THRESHOLD = 0.05

# Farneback parameters of OpenCV's own optical-flow sample (samples/python/opt_flow.py): pyramid
# scale 0.5 with 3 levels, 15 px window, 3 iterations, 5-pixel polynomial with sigma 1.2. Three
# levels search a 160 px frame down to 40 px, enough for the ~10 px per pair of a fast pan.
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


class MotionConfig(ComponentConfig):
    analysis_fps: float = Field(DEFAULT_ANALYSIS_FPS, gt=0, le=60)
    analysis_max_side: int = Field(DEFAULT_ANALYSIS_MAX_SIDE, ge=32, le=1024)
    max_frames: int = Field(DEFAULT_MAX_FRAMES, ge=2)
    static_threshold: float = Field(DEFAULT_STATIC_THRESHOLD, ge=0)
    dynamic_threshold: float = Field(DEFAULT_DYNAMIC_THRESHOLD, gt=0)


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("from_pts_s", pa.float64(), nullable=False),
        pa.field("to_pts_s", pa.float64(), nullable=False),
        # per-pixel flow magnitude over the pair, in frame diagonals per second
        pa.field("mean", pa.float64(), nullable=False),
        pa.field("median", pa.float64(), nullable=False),
        pa.field("p95", pa.float64(), nullable=False),
    ]
)


def frame_request(config: MotionConfig, sampling: SamplingPolicy) -> FrameRequest:
    # Independent of the profile's policy: flow needs close frames, not many pixels.
    return FrameRequest(fps=config.analysis_fps, max_side=config.analysis_max_side, max_frames=config.max_frames)


def flow_magnitude(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Per-pixel Farneback flow magnitude between two grey frames, in frame diagonals."""
    flow = cv2.calcOpticalFlowFarneback(previous, current, None, **FARNEBACK)
    height, width = previous.shape
    return np.hypot(flow[..., 0], flow[..., 1]) / float(np.hypot(width, height))


def compute(ctx: ComponentContext, config: MotionConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    frames = ctx.frames  # the frames of this component's frame_request, handed over by run_component
    pts = frames.pts_s
    if len(frames) < 2:
        return ComponentResult.empty(
            EmptyReason.TOO_SHORT, f"{len(frames)} frame(s) sampled at {config.analysis_fps:g} fps; motion needs two"
        )
    rows = []
    previous = cv2.cvtColor(np.ascontiguousarray(frames.images[0]), cv2.COLOR_RGB2GRAY)
    for k in range(1, len(frames)):
        current = cv2.cvtColor(np.ascontiguousarray(frames.images[k]), cv2.COLOR_RGB2GRAY)
        interval = float(pts[k] - pts[k - 1])
        # Equal timestamps (a duplicated frame) carry no time to divide by; skip the pair.
        if interval > 0:
            speed = flow_magnitude(previous, current) / interval
            rows.append(
                {
                    "from_pts_s": float(pts[k - 1]),
                    "to_pts_s": float(pts[k]),
                    "mean": float(speed.mean()),
                    "median": float(np.median(speed)),
                    "p95": float(np.percentile(speed, 95)),
                }
            )
        previous = current
    if not rows:
        return ComponentResult.empty(EmptyReason.TOO_SHORT, f"all {len(frames)} sampled frames share one timestamp")
    means = np.array([r["mean"] for r in rows])
    summary = {
        "pair_count": len(rows),
        # Summaries of the pairs' mean magnitudes: the average motion, and how fast the fastest
        # 5 % of moments are (a single whip pan does not dominate it as a max would).
        "motion_mean": float(means.mean()),
        "motion_median": float(np.median(means)),
        "motion_p95": float(np.percentile(means, 95)),
        "static_ratio": float((means < config.static_threshold).mean()),
        "dynamic_ratio": float((means > config.dynamic_threshold).mean()),
        "sample_interval_s": float(np.median(np.diff(pts))),
    }
    return ComponentResult.ok(pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA), summary=summary)


SPEC = ComponentSpec(
    name="motion",
    modality=Modality.VISUAL,
    description="Dense optical flow (Farneback) between consecutive low-resolution frames: per-pair magnitude in frame diagonals per second, static/dynamic shares.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=MotionConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("frames",),
    frame_request=frame_request,
    summary_keys=(
        "dynamic_ratio",
        "motion_mean",
        "motion_median",
        "motion_p95",
        "pair_count",
        "sample_interval_s",
        "static_ratio",
    ),
)
