"""``video_probe``: what the file is (container, codecs, display size, frame rate, duration).

Reads the header and demuxes packets (no decoding) so that frame counts and durations come from
the data, not from headers that lie (an AVI claiming 444 frames holds 68; live-recorded WebM has
no duration at all). Container tags are never copied: phone clips carry GPS coordinates there.
A video stream whose stated frame size is over ``MAX_FRAME_PIXELS`` (or has none) fails the
probe before any frame is decoded, so nothing downstream tries to allocate it.
"""

from __future__ import annotations

from typing import Mapping

import av
import numpy as np
import pyarrow as pa

from dp_assets.contract import ComponentConfig, ComponentContext, ComponentResult, ComponentSpec, Modality
from dp_assets.media.container import MAX_FRAME_PIXELS, MediaError, ffmpeg_messages, open_media, refused_frame_size

# A stream is variable-frame-rate when more than this share of its frame intervals stray from the
# median interval by more than VFR_INTERVAL_TOLERANCE (relative). 10 % absorbs the millisecond
# rounding of Matroska timestamps (24 fps shows up as 41/42 ms) without hiding real VFR.
VFR_INTERVAL_TOLERANCE = 0.10
VFR_STRAY_SHARE = 0.05
# A container that announces this many seconds more than its packets hold lost its tail (a
# truncated upload), as opposed to ending on a long last frame.
TRUNCATION_SLACK_S = 1.0


class VideoProbeConfig(ComponentConfig):
    pass


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("container", pa.string()),
        pa.field("has_video", pa.bool_()),
        pa.field("has_audio", pa.bool_()),
        pa.field("video_codec", pa.string()),
        pa.field("pixel_format", pa.string()),
        pa.field("coded_width", pa.int32()),
        pa.field("coded_height", pa.int32()),
        pa.field("rotation", pa.int32()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("fps_avg", pa.float64()),
        pa.field("fps_nominal", pa.float64()),
        pa.field("fps_variable", pa.bool_()),
        pa.field("frame_count", pa.int64()),  # non-empty video packets (an edit list may hide a few)
        pa.field("duration_s", pa.float64()),
        pa.field("duration_source", pa.string()),
        pa.field("data_end_s", pa.float64()),
        pa.field("truncated", pa.bool_()),
        pa.field("audio_codec", pa.string()),
        pa.field("audio_sample_rate", pa.int32()),
        pa.field("audio_channels", pa.int32()),
    ]
)


def _packet_times(container, stream) -> tuple[np.ndarray, float | None]:
    """Presentation times of the stream's non-empty packets and the end time of the last one."""
    times: list[float] = []
    end = None
    base = stream.time_base
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        start = float(packet.pts * base)
        times.append(start)
        stop = float(start + (packet.duration or 0) * base)
        end = stop if end is None else max(end, stop)
    return np.sort(np.asarray(times, dtype=np.float64)), end


def _is_variable(times: np.ndarray) -> bool:
    if times.size < 3:
        return False
    intervals = np.diff(times)
    median = float(np.median(intervals))
    if median <= 0:
        return True
    strays = np.abs(intervals - median) > VFR_INTERVAL_TOLERANCE * median
    return float(strays.mean()) > VFR_STRAY_SHARE


def _display_rotation(container, stream) -> int:
    """Display-matrix rotation in degrees (multiple of 90), read from the first decoded frame."""
    for frame in container.decode(stream):
        return int(round((frame.rotation or 0) / 90.0)) * 90
    return 0


def _size_problem(cc, logs) -> str | None:
    """Why the video stream's frame size cannot be decoded, or None when it can.

    FFmpeg itself refuses sizes over ``max_pixels`` while probing and then reports the stream as
    0 x 0, so the stated size is read back from its log message.
    """
    if cc.width > 0 and cc.height > 0 and cc.width * cc.height <= MAX_FRAME_PIXELS:
        return None
    refused = refused_frame_size(logs) or ((cc.width, cc.height) if cc.width > 0 and cc.height > 0 else None)
    if refused is None:
        details = "; ".join(ffmpeg_messages(logs, av.logging.ERROR)) or "no decoder message"
        return f"the {cc.name} video stream states no frame size ({details})"
    width, height = refused
    return (
        f"the video stream states a frame size of {width}x{height} ({width * height / 1e6:,.0f} Mpx), over the "
        f"limit of {MAX_FRAME_PIXELS / 1e6:.1f} Mpx (MAX_FRAME_PIXELS, 8192x8192); not decoded"
    )


def compute(ctx: ComponentContext, config: VideoProbeConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    try:
        return _probe(ctx)
    except av.error.FFmpegError as exc:
        # e.g. a seek back to the start of a file cut inside its first packet
        raise MediaError(ctx.video_path, f"{exc.strerror or type(exc).__name__} while probing") from None


def _probe(ctx: ComponentContext) -> ComponentResult:
    with open_media(ctx.video_path) as (container, logs):
        row: dict = {field.name: None for field in OUTPUT_SCHEMA}
        row["container"] = container.format.name
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        row["has_video"] = video is not None
        row["has_audio"] = audio is not None
        header_duration = float(container.duration) / 1e6 if container.duration else None
        durations: list[float] = []
        if audio is not None:
            row["audio_codec"] = audio.codec_context.name
            row["audio_sample_rate"] = audio.codec_context.sample_rate
            row["audio_channels"] = audio.codec_context.channels
        if video is not None:
            cc = video.codec_context
            problem = _size_problem(cc, logs)
            if problem is not None:
                return ComponentResult.failed(f"{ctx.video_path}: {problem}")
            row["video_codec"] = cc.name
            row["pixel_format"] = cc.pix_fmt
            row["coded_width"], row["coded_height"] = cc.width, cc.height
            times, end = _packet_times(container, video)
            container.seek(0)
            rotation = _display_rotation(container, video)
            row["rotation"] = rotation
            swap = rotation % 180 != 0
            row["width"], row["height"] = (cc.height, cc.width) if swap else (cc.width, cc.height)
            row["frame_count"] = int(times.size)
            row["fps_nominal"] = float(video.base_rate) if video.base_rate else None
            row["fps_variable"] = _is_variable(times)
            if end is not None:
                durations.append(end)
            if times.size >= 2:
                span = (end or times[-1]) - times[0]
                row["fps_avg"] = float(times.size / span) if span > 0 else None
        if audio is not None:
            container.seek(0)
            _, audio_end = _packet_times(container, audio)
            if audio_end is not None:
                durations.append(audio_end)
        if header_duration is not None:
            row["duration_s"], row["duration_source"] = header_duration, "header"
        elif durations:
            row["duration_s"], row["duration_source"] = max(durations), "packets"
        data_end = max(durations) if durations else None
        row["data_end_s"] = data_end
        row["truncated"] = bool(
            header_duration is not None and data_end is not None and header_duration - data_end > TRUNCATION_SLACK_S
        )
        warnings = [f"demuxer: {m}" for m in ffmpeg_messages(logs)]
    if row["truncated"]:
        warnings.append(
            f"media data ends at {data_end:.2f} s but the container announces {header_duration:.2f} s (file truncated or damaged)"
        )
    table = pa.Table.from_pylist([row], schema=OUTPUT_SCHEMA)
    return ComponentResult.ok(table, summary=row, warnings=warnings)


SPEC = ComponentSpec(
    name="video_probe",
    modality=Modality.CORE,
    description="Container, codecs, display size after rotation, frame rate (avg, VFR), duration, audio presence.",
    # 1.1.0: a frame size over MAX_FRAME_PIXELS (or none) fails the probe; FFmpeg's warnings
    # about streams that are never decoded (attachments, subtitles) are no longer listed.
    producer_version="1.1.0",
    schema_version=1,
    config_model=VideoProbeConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    # the row itself
    summary_keys=tuple(OUTPUT_SCHEMA.names),
)
