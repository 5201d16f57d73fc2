"""Open a media file with PyAV and turn FFmpeg's failures into one readable sentence."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator

import av
import av.logging

# FFmpeg only reports *why* a file is bad (e.g. "moov atom not found") through its log, and PyAV
# drops the log unless a level is set; WARNING keeps the damage reports without per-frame noise.
_FFMPEG_LOG_LEVEL = av.logging.WARNING

# The largest decoded picture any decoder of ours may allocate, in pixels (FFmpeg's ``max_pixels``
# codec option, set on every video decoder we open, also while the file is probed). 8192 x 8192
# is twice the area of 8K UHD (7680 x 4320) and of DCI 8K (8192 x 4320), so every camera and
# screen format passes; a decoded frame at the limit is 100 MB in 8-bit 4:2:0 and 200 MB as RGB,
# and a threaded decoder keeps several in flight. A header that states more is broken or hostile
# (a few bytes claiming 100000 x 100000 would ask for 15 GB per frame): ``video_probe`` fails the
# video with the stated size, and a stream that changes to such a size mid-way stops decoding.
MAX_FRAME_PIXELS = 8192 * 8192
# FFmpeg's words when it refuses a picture size: over ``max_pixels``, or over its own hard limit
# (w * h beyond what an int can index, e.g. 100000 x 100000).
_REFUSED_SIZE = re.compile(r"Picture size (\d+)x(\d+) (?:exceeds specified max pixel count|is invalid)")
# Streams we never decode (subtitles, attachments, data) make FFmpeg warn while probing that it
# found no codec parameters for them; that is no damage to the video or audio.
_UNDECODED_STREAM = re.compile(r"Could not find codec parameters for stream (\d+)")


class MediaError(Exception):
    """A file that cannot be read as media; the message names the file and the decoder's reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def refused_frame_size(logs: list[tuple[int, str, str]]) -> tuple[int, int] | None:
    """The (width, height) FFmpeg refused to allocate (see ``MAX_FRAME_PIXELS``), if it did."""
    for _level, _name, message in logs:
        match = _REFUSED_SIZE.search(message)
        if match:
            return int(match[1]), int(match[2])
    return None


def ffmpeg_messages(logs: list[tuple[int, str, str]], min_level: int = av.logging.WARNING) -> list[str]:
    """Distinct FFmpeg log messages at or above ``min_level`` (lower number = more severe)."""
    seen: list[str] = []
    for level, _name, message in logs:
        text = message.strip()
        if level <= min_level and text and text not in seen:
            seen.append(text)
    return seen


@contextlib.contextmanager
def capture_ffmpeg_log() -> Iterator[list[tuple[int, str, str]]]:
    av.logging.set_level(_FFMPEG_LOG_LEVEL)
    # PyAV drops a message identical to the previous one process-wide; the second component that
    # reads a damaged file would then never hear why.
    av.logging.set_skip_repeated(False)
    with av.logging.Capture() as logs:
        yield logs


def _about_undecoded_stream(message: str, decoded: set[int]) -> bool:
    match = _UNDECODED_STREAM.search(message)
    return match is not None and int(match[1]) not in decoded


@contextlib.contextmanager
def open_media(path: Path | str) -> Iterator[tuple[av.container.InputContainer, list[tuple[int, str, str]]]]:
    """Open ``path`` for decoding, or raise :class:`MediaError` with the decoder's reason.

    Yields the container and the FFmpeg log captured while it is open (see ``ffmpeg_messages``),
    which is where damage such as "File ended prematurely" is reported. Every video decoder
    opened on it refuses pictures over ``MAX_FRAME_PIXELS``.
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "no such file")
    if not path.is_file():
        raise MediaError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    limit = {"max_pixels": str(MAX_FRAME_PIXELS)}
    with capture_ffmpeg_log() as logs:
        try:
            # The options reach the decoders that avformat_find_stream_info opens while probing.
            container = av.open(str(path), mode="r", options=limit)
        except av.error.FFmpegError as exc:
            reason = exc.strerror or type(exc).__name__
            details = ffmpeg_messages(logs, av.logging.ERROR)
            if details:
                reason = f"{reason} ({'; '.join(details)})"
            raise MediaError(path, reason) from None
        try:
            if not container.streams.video and not container.streams.audio:
                raise MediaError(path, f"no audio or video stream in {container.format.name} container")
            for stream in container.streams.video:
                stream.codec_context.options = {**stream.codec_context.options, **limit}
            decoded = {stream.index for stream in (*container.streams.video, *container.streams.audio)}
            logs[:] = [entry for entry in logs if not _about_undecoded_stream(entry[2], decoded)]
            yield container, logs
        finally:
            container.close()
