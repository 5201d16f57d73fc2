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


# First box types of ISO-BMFF files (MP4/MOV/3GP); old QuickTime files may start with mdat/wide/free.
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_TS_PACKET = 188


# Audio-only files FFmpeg reads (a .flac or .mp3 is media, without a video track).
_AUDIO_SIGNATURES = (b"fLaC", b"ID3", b"#!AMR", b"caff", b"MAC ", b"wvpk")
SNIFF_BYTES = 512


def sniff_container(head: bytes) -> str | None:
    """The container family announced by a file's first bytes, or None for anything else."""
    if len(head) >= 8 and head[4:8] in _ISO_BOXES:
        return "iso-bmff"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "mpeg-ps"
    if len(head) > _TS_PACKET and head[0] == 0x47 and head[_TS_PACKET] == 0x47:
        return "mpeg-ts"
    if head[:3] == b"FLV":
        return "flv"
    if head[:16] == _ASF_GUID:
        return "asf"
    if head[:4] == b"OggS":
        return "ogg"
    return None


def is_audio_file(head: bytes) -> bool:
    """An audio-only container announced by a file's first bytes (FLAC, MP3, WAV, AAC, ...)."""
    if head.startswith(_AUDIO_SIGNATURES):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return True
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0  # MPEG audio / ADTS frame sync


def _not_media(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    return sniff_container(head) is None and not is_audio_file(head)


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


def _park_decoder_threads(container: av.container.InputContainer) -> None:
    """Let a frame-threaded decoder's threads finish before PyAV may free the decoder.

    PyAV frees a codec context (``avcodec_free_context``, which joins the decoder's threads) while
    holding the GIL, and its log callback takes the GIL on whichever thread logs. A decoder thread
    that logs while a stream is freed mid-decode (a component stopped early, an error raised out
    of the loop) therefore deadlocks the process for good, SIGTERM included (PyAV issues 751, 909).
    Flushing runs without the GIL and parks every decoder thread, so the later free waits on none.
    """
    for stream in container.streams.video:
        stream.codec_context.flush_buffers()


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
            if _not_media(path):
                # FFmpeg guesses the format from the name (".mp4") and reports what that format
                # lacks ("moov atom not found"); the bytes say it is no media file at all.
                reason = f"not a media file: its first bytes match no audio or video container (decoder: {reason})"
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
            _park_decoder_threads(container)
            container.close()
