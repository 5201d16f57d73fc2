"""``frames``: decode the video once and keep the union of frames the visual components ask for.

Every visual component declares a :class:`FrameRequest` (rate, size, cap); the profile resolver
puts the union of the enabled ones into this component's config, so a change in what is asked
for changes ``frames``' config hash. Frames are upright (display rotation applied) RGB, scaled
by FFmpeg's swscale while converting, and stored per resolution tier (``media.frames_store``).
"""

from __future__ import annotations

import math
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Mapping

import av
from av.video.reformatter import VideoReformatter
import pyarrow as pa
import numpy as np

from dp_assets.contract import (
    ComponentConfig,
    ComponentContext,
    ComponentResult,
    ComponentSpec,
    EmptyReason,
    FrameRequest,
    Modality,
)
from dp_assets.media.container import ffmpeg_messages, open_media
from dp_assets.media.frames_store import INDEX_FILE, INDEX_SCHEMA, tier_file
from dp_core.contract import parquet


class FrameRequestModel(ComponentConfig):
    fps: float | None
    max_side: int
    max_frames: int | None = None

    def as_request(self) -> FrameRequest:
        return FrameRequest(fps=self.fps, max_side=self.max_side, max_frames=self.max_frames)


class FramesConfig(ComponentConfig):
    # Filled by the profile resolver with the union of the enabled components' requests.
    requests: tuple[FrameRequestModel, ...] = ()


OUTPUT_SCHEMA = INDEX_SCHEMA


class _Selector:
    """Picks, for one request, the first frame at or after each tick of its sampling grid."""

    def __init__(self, request: FrameRequest, duration_s: float | None):
        self.request = request
        fps = request.fps
        if fps is not None and request.max_frames and duration_s and duration_s > 0:
            fps = min(fps, request.max_frames / duration_s)
        self.fps = fps
        self.next_tick = -math.inf
        self.count = 0

    def wants(self, t: float) -> bool:
        if self.request.max_frames is not None and self.count >= self.request.max_frames:
            return False
        if self.fps is None:
            self.count += 1
            return True
        if t + 1e-6 < self.next_tick:
            return False
        self.count += 1
        self.next_tick = (math.floor(t * self.fps + 1e-6) + 1) / self.fps
        return True

    @property
    def exhausted(self) -> bool:
        return self.request.max_frames is not None and self.count >= self.request.max_frames


def _tier_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Display size scaled so the longer side is at most ``max_side`` (never upscaled)."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


# Frames handed to the converting thread and not yet written: each holds a decoded picture, so a
# few are enough to keep the thread busy while the decoder works.
_IN_FLIGHT = 8


def _convert(reformatter: VideoReformatter, frame: av.VideoFrame, width: int, height: int, turns: int, output) -> None:
    """Scale and convert one frame for one tier, and append it to the tier's file."""
    image = reformatter.reformat(frame, width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
    if turns:
        image = np.rot90(image, k=turns)
    # The array's own buffer: no copy into a bytes object first.
    output.write(memoryview(np.ascontiguousarray(image)))


def compute(ctx: ComponentContext, config: FramesConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    probe = inputs["video_probe"].summary
    if not probe.get("has_video"):
        return ComponentResult.empty(EmptyReason.NO_VIDEO_TRACK, f"{probe.get('container')} file has no video stream")
    requests = [r.as_request() for r in config.requests] or [ctx.sampling.default_request]
    selectors = [_Selector(r, probe.get("duration_s")) for r in requests]
    tiers = sorted({r.max_side for r in requests})
    display_w, display_h = probe["width"], probe["height"]
    tier_sizes = {tier: _tier_size(display_w, display_h, tier) for tier in tiers}

    frames_dir = Path(ctx.frames_dir)
    frames_dir.mkdir(parents=True, exist_ok=True)
    for tier in tiers:
        tier_file(frames_dir, tier).unlink(missing_ok=True)
    outputs = {tier: open(tier_file(frames_dir, tier), "wb") for tier in tiers}
    # One reformatter per tier keeps FFmpeg's scaler context alive between frames; building a
    # new one per frame costs more than decoding the frame.
    reformatters = {tier: VideoReformatter() for tier in tiers}
    tier_counts = {tier: 0 for tier in tiers}
    rows: list[dict] = []
    warnings: list[str] = []
    decoded = 0
    last_t = None
    # Scaling and writing run on one thread beside the decoder (FFmpeg's scaler and the writes
    # release the GIL): one thread keeps each tier's frames in order.
    converter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dp-frames")
    converting: deque[Future] = deque()
    try:
        with open_media(ctx.video_path) as (container, logs):
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            step = 1.0 / float(stream.average_rate) if stream.average_rate else 1.0 / 25
            try:
                expected = probe.get("frame_count")
                for frame in container.decode(stream):
                    decoded += 1
                    if decoded % 25 == 0:
                        ctx.progress(decoded, expected, "frames decoded")
                    t = frame.time if frame.time is not None else (0.0 if last_t is None else last_t + step)
                    last_t = t
                    wanted = [s.request for s in selectors if s.wants(t)]
                    if not wanted:
                        if all(s.exhausted for s in selectors):
                            break
                        continue
                    turns = int(round((frame.rotation or 0) / 90.0)) % 4
                    for tier in sorted({r.max_side for r in wanted}):
                        w, h = tier_sizes[tier]
                        coded_w, coded_h = (h, w) if turns % 2 else (w, h)
                        converting.append(converter.submit(_convert, reformatters[tier], frame, coded_w, coded_h, turns, outputs[tier]))
                        while len(converting) > _IN_FLIGHT or (converting and converting[0].done()):
                            converting.popleft().result()
                        rows.append(
                            {
                                "tier": tier,
                                "tier_index": tier_counts[tier],
                                "pts_s": float(t),
                                "width": w,
                                "height": h,
                                "requests": [r.key for r in wanted if r.max_side == tier],
                            }
                        )
                        tier_counts[tier] += 1
            except av.error.FFmpegError as exc:
                warnings.append(f"decoding stopped after {decoded} frames at {last_t or 0:.2f} s: {exc.strerror or exc}")
            warnings += [f"decoder: {m}" for m in ffmpeg_messages(logs)]
            while converting:
                converting.popleft().result()
    finally:
        converter.shutdown(wait=True, cancel_futures=True)
        for handle in outputs.values():
            handle.close()

    if probe.get("truncated"):
        warnings.append(
            f"decoded up to {last_t or 0:.2f} s of the {probe['duration_s']:.2f} s the container announces (file truncated or damaged)"
        )
    if not rows:
        reason = "; ".join(warnings) or "the video stream decoded to zero frames"
        if warnings:
            return ComponentResult.failed(f"{ctx.video_path}: no frame could be decoded: {reason}")
        return ComponentResult.empty(EmptyReason.NO_FRAMES, reason)
    table = pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)
    parquet().write_table(table, frames_dir / INDEX_FILE)
    summary = {
        "decoded_frames": decoded,
        "stored_frames": len(rows),
        "decoded_until_s": float(last_t) if last_t is not None else None,
        "damaged": bool(warnings),
        "tiers": {str(t): tier_counts[t] for t in tiers},
    }
    return ComponentResult.ok(table, summary=summary, warnings=warnings, files={"frames_dir": str(frames_dir)})


SPEC = ComponentSpec(
    name="frames",
    modality=Modality.VISUAL,
    description="One decode of the video into the union of frames the enabled visual components request.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=FramesConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("video_probe",),
    reads={"video_probe": ("has_video", "container", "duration_s", "width", "height", "truncated", "frame_count")},
    summary_keys=(
        "damaged",
        "decoded_frames",
        "decoded_until_s",
        "stored_frames",
        "tiers",
    ),
)
