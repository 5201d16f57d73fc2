"""Decode a file's first audio stream once to 16 kHz mono float32, and read that waveform back.

``audio_waveform`` is the only caller of :func:`decode_audio`; every other audio component reads
its output with :func:`read_waveform`, so a video's audio is decoded and resampled exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import av
import numpy as np

from dp_assets.contract import ComponentResult, Status
from dp_assets.media.container import ffmpeg_messages, open_media

# 16 kHz mono is what speech models (VAD, ASR, speaker embeddings) take, and it keeps a 2-hour
# video's waveform at ~460 MB; loudness is measured on the same samples (see ``loudness``).
TARGET_SAMPLE_RATE = 16000
TARGET_LAYOUT = "mono"
# Packed 32-bit float: one plane, so ``to_ndarray()`` gives shape (1, n) and the bytes can be
# written as they come. The file on disk is always little-endian, whatever the host.
TARGET_FORMAT = "flt"
WAVEFORM_DTYPE = np.dtype("<f4")


@dataclass
class DecodedAudio:
    """What one decode of the first audio stream produced (the samples went to the sink).

    ``start_s`` is the presentation time of the first decoded frame (AAC/Opus priming is already
    dropped by the decoder), ``decoded_until_s`` the end of the last decoded frame. Samples are
    concatenated as decoded: gaps in the source timestamps are not filled with silence.
    """

    n_samples: int
    sample_rate: int
    source_codec: str | None
    source_sample_rate: int | None
    source_channels: int | None
    start_s: float | None
    decoded_until_s: float | None
    warnings: list[str] = field(default_factory=list)
    # The decoder raised (corrupt or truncated data); what came before it was kept.
    decode_error: str | None = None

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate


class _MonoResampler:
    """``av.AudioResampler`` to 16 kHz mono flt that survives mid-stream format changes.

    PyAV's resampler is built from the first frame and raises ``ValueError`` for a frame with a
    different format, layout or rate (broadcast recordings switch between stereo and 5.1); we then
    flush the old one, so its buffered tail is not lost, and start a new one.
    """

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None
        self._setup: tuple | None = None

    @staticmethod
    def _new() -> av.AudioResampler:
        return av.AudioResampler(format=TARGET_FORMAT, layout=TARGET_LAYOUT, rate=TARGET_SAMPLE_RATE)

    def push(self, frame: av.AudioFrame) -> list[np.ndarray]:
        setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        chunks: list[np.ndarray] = []
        if self._resampler is None or setup != self._setup:
            chunks += self.flush()
            self._resampler, self._setup = self._new(), setup
        chunks += _planes(self._resampler.resample(frame))
        return chunks

    def flush(self) -> list[np.ndarray]:
        """Drain the resampler's delay line (without this the last few ms are lost)."""
        if self._resampler is None:
            return []
        resampler, self._resampler, self._setup = self._resampler, None, None
        return _planes(resampler.resample(None))


def _planes(frames: list) -> list[np.ndarray]:
    # A passthrough resampler (input already 16 kHz mono flt) answers a flush with [None].
    return [frame.to_ndarray()[0] for frame in frames if frame is not None and frame.samples]


def decode_audio(path: Path | str, sink: Callable[[np.ndarray], None]) -> DecodedAudio:
    """Decode the first audio stream of ``path`` once, handing 16 kHz mono float32 chunks to ``sink``.

    Damage mid-stream does not raise: when the decoder gives up (``av.error.FFmpegError``) the
    samples decoded so far are kept and a warning says when and why it stopped; FFmpeg's own
    complaints (e.g. "File ended prematurely", which comes without an exception) are added as
    ``decoder: ...`` warnings. A file that cannot be opened raises ``MediaError``; a file without
    an audio stream raises ``ValueError`` (callers check ``video_probe``'s ``has_audio`` first).
    """
    with open_media(path) as (container, logs):
        if not container.streams.audio:
            raise ValueError(f"{path}: no audio stream in {container.format.name} container")
        stream = container.streams.audio[0]
        cc = stream.codec_context
        info = DecodedAudio(
            n_samples=0,
            sample_rate=TARGET_SAMPLE_RATE,
            source_codec=cc.name,
            source_sample_rate=cc.sample_rate or None,
            source_channels=cc.channels or None,
            start_s=None,
            decoded_until_s=None,
        )
        resampler = _MonoResampler()
        # Running source-sample clock, used when a frame has no timestamp (raw streams).
        clock_s = 0.0

        def emit(chunks: list[np.ndarray]) -> None:
            for chunk in chunks:
                sink(chunk)
                info.n_samples += int(chunk.shape[0])

        try:
            for frame in container.decode(stream):
                if not frame.samples:
                    continue
                start = float(frame.time) if frame.time is not None else clock_s
                clock_s = start + frame.samples / frame.sample_rate
                if info.start_s is None:
                    info.start_s = start
                info.decoded_until_s = clock_s
                emit(resampler.push(frame))
        except av.error.FFmpegError as exc:
            reason = exc.strerror or type(exc).__name__
            info.decode_error = reason
            info.warnings.append(f"audio decoding stopped at {info.decoded_until_s or 0.0:.2f} s: {reason}")
        emit(resampler.flush())
        info.warnings += [f"decoder: {m}" for m in ffmpeg_messages(logs)]
    return info


def _waveform_file(result: ComponentResult) -> tuple[Path, int]:
    """The waveform file of an ``ok`` ``audio_waveform`` result and its number of samples, checked
    against what the component reported."""
    if result.status != Status.OK or "waveform" not in result.files:
        raise ValueError(f"not an ok audio_waveform result (status {result.status.value}, files {sorted(result.files)})")
    path = Path(result.files["waveform"])
    size = path.stat().st_size
    if size % WAVEFORM_DTYPE.itemsize:
        raise ValueError(f"{path}: {size} bytes is not a whole number of float32 samples")
    expected = result.summary.get("n_samples")
    if expected is not None and size // WAVEFORM_DTYPE.itemsize != expected:
        raise ValueError(f"{path}: holds {size // WAVEFORM_DTYPE.itemsize} samples, audio_waveform reported {expected}")
    return path, size // WAVEFORM_DTYPE.itemsize


def waveform_length(result: ComponentResult) -> int:
    """Samples in the waveform an ``ok`` ``audio_waveform`` result wrote."""
    return _waveform_file(result)[1]


def read_waveform(result: ComponentResult) -> np.ndarray:
    """The 16 kHz mono float32 samples an ``ok`` ``audio_waveform`` result wrote (memory-mapped).

    Read-only: callers that need to modify the samples copy them first. Pages a reader touches
    stay in its resident memory; a component that goes through the whole audio reads it with
    :func:`waveform_blocks` instead.
    """
    path, n = _waveform_file(result)
    if n == 0:
        return np.zeros(0, dtype=WAVEFORM_DTYPE)
    # memmap rather than fromfile: a 2-hour video is ~460 MB and most readers touch it once.
    return np.memmap(path, dtype=WAVEFORM_DTYPE, mode="r")


def waveform_blocks(result: ComponentResult, block_samples: int) -> Iterator[np.ndarray]:
    """The samples of an ``ok`` ``audio_waveform`` result in consecutive float32 blocks of
    ``block_samples`` (the last one shorter), read from the file one block at a time, so a
    reader holds one block however long the audio (a memory-mapped pass over an hour keeps
    230 MB resident)."""
    if block_samples < 1:
        raise ValueError(f"block_samples must be positive, not {block_samples}")
    path, n = _waveform_file(result)
    with open(path, "rb") as handle:
        for offset in range(0, n, block_samples):
            count = min(block_samples, n - offset)
            block = np.fromfile(handle, dtype=WAVEFORM_DTYPE, count=count)
            if block.shape[0] != count:
                raise ValueError(f"{path}: ended after {offset + block.shape[0]} of {n} samples")
            yield block
