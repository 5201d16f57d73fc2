"""Synthetic audio for the audio tests: encoded with PyAV, and decoded natively for comparisons."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_wav(path: Path, channels: np.ndarray, rate: int, codec: str = "pcm_s16le") -> Path:
    """Encode ``channels`` (shape (n_channels, n), floats in [-1, 1]) with PyAV into ``path``.

    ``pcm_s16le`` rounds to 16 bits; ``pcm_f32le`` keeps float32 samples exactly.
    """
    channels = np.atleast_2d(np.asarray(channels, dtype=np.float64))
    layout = {1: "mono", 2: "stereo"}[channels.shape[0]]
    sample_format = {"pcm_s16le": "s16", "pcm_f32le": "flt"}[codec]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        # Write the header even when no frame follows (the zero-sample case).
        container.start_encoding()
        pts = 0
        for start in range(0, channels.shape[1], 4096):
            block = channels[:, start : start + 4096]
            if sample_format == "s16":
                block = np.round(block * 32767).astype(np.int16)
            else:
                block = block.astype(np.float32)
            # Packed formats are interleaved: PyAV wants shape (1, n * channels).
            packed = np.ascontiguousarray(block.T.reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(packed, format=sample_format, layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
            pts += block.shape[1]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def sine(freq: float, amplitude: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def decode_native(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream at its own rate and channels (fltp, shape (channels, n)), for comparisons."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp")
        chunks = []
        for frame in container.decode(stream):
            chunks += [f.to_ndarray() for f in resampler.resample(frame) if f is not None]
        chunks += [f.to_ndarray() for f in resampler.resample(None) if f is not None]
        return np.concatenate(chunks, axis=1), stream.codec_context.sample_rate
