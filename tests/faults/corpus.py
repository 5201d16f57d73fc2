"""The bad-input corpus: files a video pipeline meets in the wild, synthesized with PyAV and NumPy.

Each builder writes one file into a folder and returns its path, so tests and ``bench/`` make
exactly the inputs they describe instead of shipping binary fixtures. Picture and sound carry
known values (a grey level per frame, a tone amplitude per audio stream) so a test can check
that what came out was computed from the input, not merely that something ran.
"""

from __future__ import annotations

import fractions
import math
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

# The sample rate of the synthesized audio tracks. 8 kHz PCM keeps an hour of audio at 58 MB and
# its "encoding" free, while the pipeline still has to resample it to its 16 kHz.
AUDIO_RATE = 8000
# Samples per PCM packet: 0.1 s at 8 kHz, so an hour is 36 000 packets, not millions.
AUDIO_PACKET = 800
TONE_HZ = 440.0


def grey_level(k: int) -> int:
    """The grey level (0-255) of frame ``k`` of a synthesized video: it walks the range in steps
    of 37 (coprime with 224), so neighbouring frames and neighbouring samples differ."""
    return 16 + (k * 37) % 224


def zero_bytes(folder: Path, name: str = "zero_bytes.mp4") -> Path:
    path = folder / name
    path.write_bytes(b"")
    return path


def random_bytes(folder: Path, size: int = 256 * 1024, seed: int = 7, name: str = "random_bytes.mp4") -> Path:
    path = folder / name
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def text_file(folder: Path, name: str = "notes_text.mp4") -> Path:
    path = folder / name
    path.write_text("This is a plain text file that was uploaded with a video extension.\n" * 40)
    return path


def png_image(folder: Path, name: str = "picture_png.mp4", size: tuple[int, int] = (96, 64), level: int = 200) -> Path:
    """A real PNG (one flat grey ``level`` picture, ``size`` = (width, height)) named ``.mp4``."""
    width, height = size
    ok, encoded = cv2.imencode(".png", np.full((height, width, 3), level, np.uint8))
    assert ok
    path = folder / name
    path.write_bytes(encoded.tobytes())
    return path


def claimed_size(folder: Path, width: int = 100_000, height: int = 100_000, name: str = "huge_header.mkv") -> Path:
    """A Matroska file whose video track header states ``width`` x ``height``; its packets are a
    few bytes each, so only the header is large. Made with a mux-only stream (no encoder), which
    writes the stated size into the header verbatim."""
    path = folder / name
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_mux_stream("mjpeg", width=width, height=height)
        stream.time_base = fractions.Fraction(1, 25)
        for i in range(5):
            packet = av.Packet(bytes(64))
            packet.stream, packet.pts, packet.dts, packet.duration = stream, i, i, 1
            packet.time_base = stream.time_base
            out.mux(packet)
    return path


def _grey_frame(k: int, width: int, height: int, texture: np.ndarray | None) -> av.VideoFrame:
    image = np.full((height, width, 3), grey_level(k), np.uint8)
    if texture is not None:
        # The texture slides 8 px per frame: motion for the flow and cut detectors, detail for the
        # encoder, and the frame's mean level still close to grey_level(k).
        image = cv2.add(image, np.roll(texture, 8 * k, axis=1)[:height, :width])
    return av.VideoFrame.from_ndarray(image, format="rgb24")


class _Tone:
    """``amplitude`` x sin(440 Hz) written in packets of AUDIO_PACKET samples, up to a given time,
    so a writer can interleave it with the video as real muxers expect."""

    def __init__(self, stream, amplitude: float, out, rate: int = AUDIO_RATE):
        self.stream, self.amplitude, self.out, self.rate = stream, amplitude, out, rate
        self.written = 0

    def until(self, t_s: float) -> None:
        total = int(round(t_s * self.rate))
        period = np.arange(AUDIO_PACKET, dtype=np.float64)
        while self.written < total:
            n = min(AUDIO_PACKET, total - self.written)
            phase = 2 * np.pi * TONE_HZ * (self.written + period[:n]) / self.rate
            frame = av.AudioFrame.from_ndarray((self.amplitude * np.sin(phase)).astype(np.float32)[None, :], format="flt", layout="mono")
            frame.sample_rate, frame.pts = self.rate, self.written
            self._mux(self.stream.encode(frame))
            self.written += n

    def close(self, t_s: float) -> None:
        self.until(t_s)
        self._mux(self.stream.encode())

    def _mux(self, packets) -> None:
        for packet in packets:
            self.out.mux(packet)


def _write(out, video, count: int, fps: float, width: int, height: int, tones: list[_Tone], duration_s: float, texture=None) -> None:
    """Frames 0..count-1 of grey_level, with the tones interleaved in time order."""
    for k in range(count):
        for tone in tones:
            tone.until(k / fps)
        frame = _grey_frame(k, width, height, texture)
        frame.pts = k
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    for tone in tones:
        tone.close(duration_s)


def _add_video(out, codec: str, rate, width: int, height: int):
    stream = out.add_stream(codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    if codec == "libx264":
        stream.codec_context.options = {"preset": "ultrafast"}
    else:
        # A bit rate no flat frame needs: mpeg4 then keeps every grey level within 1 (the
        # RGB -> YUV -> RGB rounding) instead of 3, so tests can check levels tightly.
        stream.codec_context.bit_rate = 20_000_000
    # A keyframe every 12 frames, as real encoders place them now and then.
    stream.codec_context.gop_size = 12
    return stream


def _add_pcm(out, rate: int = AUDIO_RATE):
    stream = out.add_stream("pcm_s16le", rate=rate)
    stream.layout = "mono"
    return stream


@dataclass(frozen=True)
class ManyStreams:
    path: Path
    video_index: int  # container index of the one video stream
    amplitudes: tuple[float, ...]  # tone amplitude of each audio stream, in container order
    frame_count: int
    size: tuple[int, int]  # (width, height)


SUBTITLES = "1\n00:00:00,500 --> 00:00:01,500\nfirst line\n\n2\n00:00:02,000 --> 00:00:03,000\nsecond line\n"


def many_streams(folder: Path, n_audio: int = 8, duration_s: float = 4.0, name: str = "many_streams.mkv") -> ManyStreams:
    """One video, ``n_audio`` audio streams, a subtitle stream and an attachment, in an order that
    puts audio and subtitles before the video (so "stream 0" is not the video). Audio stream k
    carries a 440 Hz tone of amplitude 0.05 * (k + 1): whichever stream a component decodes shows
    in its peak level."""
    fps, width, height = 10, 64, 48
    srt = folder / f"{name}.srt"
    srt.write_text(SUBTITLES)
    path = folder / name
    amplitudes = tuple(round(0.05 * (k + 1), 2) for k in range(n_audio))
    with av.open(str(srt)) as subtitles, av.open(str(path), "w", format="matroska") as out:
        first, second = n_audio // 2, n_audio - n_audio // 2
        audio = [_add_pcm(out) for _ in range(first)]
        subtitle = out.add_stream_from_template(subtitles.streams.subtitles[0])
        video = _add_video(out, "mpeg4", fps, width, height)
        audio += [_add_pcm(out) for _ in range(second)]
        out.add_attachment("notes.txt", "text/plain", b"an attachment is a stream too")
        video_index = video.index
        for packet in subtitles.demux(subtitles.streams.subtitles[0]):
            if packet.size:
                packet.stream = subtitle
                out.mux(packet)
        frame_count = int(duration_s * fps)
        tones = [_Tone(stream, amplitude, out) for stream, amplitude in zip(audio, amplitudes)]
        _write(out, video, frame_count, fps, width, height, tones, duration_s)
    srt.unlink()
    return ManyStreams(path, video_index, amplitudes, frame_count, (width, height))


@dataclass(frozen=True)
class LongVideo:
    path: Path
    duration_s: float
    fps: float
    frame_count: int
    size: tuple[int, int]
    amplitude: float | None  # tone amplitude of the audio track, None without audio


def long_video(
    folder: Path,
    duration_s: float = 3600.0,
    fps: float = 0.25,
    size: tuple[int, int] = (64, 36),
    amplitude: float | None = 0.25,
    codec: str = "mpeg4",
    textured: bool = False,
    name: str | None = None,
) -> LongVideo:
    """A video of ``duration_s`` at ``fps`` whose frame k is flat grey ``grey_level(k)``, with (unless
    ``amplitude`` is None) an 8 kHz PCM tone of that amplitude for the whole duration.

    Flat frames and PCM keep synthesis to seconds even for an hour; what the pipeline does with
    the duration (sampling caps, audio length) does not depend on the picture's complexity.
    ``textured`` adds a sliding noise texture for benchmarks that want the decoder to work.
    """
    width, height = size
    path = folder / (name or f"long_{int(duration_s)}s_{width}x{height}.mkv")
    rate = fractions.Fraction(fps).limit_denominator(1000)
    count = int(math.floor(duration_s * fps + 1e-9))
    with av.open(str(path), "w", format="matroska") as out:
        video = _add_video(out, codec, rate, width, height)
        tones = [_Tone(_add_pcm(out), amplitude, out)] if amplitude is not None else []
        texture = None
        if textured:
            noise = np.random.default_rng(3).integers(0, 48, (height, width, 3), dtype=np.uint8)
            texture = cv2.GaussianBlur(noise, (0, 0), 2)
        _write(out, video, count, float(fps), width, height, tones, duration_s, texture)
    return LongVideo(path, duration_s, fps, count, size, amplitude)
