"""Open a media file with PyAV and turn FFmpeg's failures into one readable sentence."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import av
import av.logging

# FFmpeg only reports *why* a file is bad (e.g. "moov atom not found") through its log, and PyAV
# drops the log unless a level is set; WARNING keeps the damage reports without per-frame noise.
_FFMPEG_LOG_LEVEL = av.logging.WARNING


class MediaError(Exception):
    """A file that cannot be read as media; the message names the file and the decoder's reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


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


@contextlib.contextmanager
def open_media(path: Path | str) -> Iterator[tuple[av.container.InputContainer, list[tuple[int, str, str]]]]:
    """Open ``path`` for decoding, or raise :class:`MediaError` with the decoder's reason.

    Yields the container and the FFmpeg log captured while it is open (see ``ffmpeg_messages``),
    which is where damage such as "File ended prematurely" is reported.
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "no such file")
    if not path.is_file():
        raise MediaError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    with capture_ffmpeg_log() as logs:
        try:
            container = av.open(str(path), mode="r")
        except av.error.FFmpegError as exc:
            reason = exc.strerror or type(exc).__name__
            details = ffmpeg_messages(logs, av.logging.ERROR)
            if details:
                reason = f"{reason} ({'; '.join(details)})"
            raise MediaError(path, reason) from None
        try:
            if not container.streams.video and not container.streams.audio:
                raise MediaError(path, f"no audio or video stream in {container.format.name} container")
            yield container, logs
        finally:
            container.close()
