"""``audio_waveform`` on the real clips in ``shared/media`` and on synthesized WAV/FLAC edge cases."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from dp_assets.components.audio import audio_waveform
from dp_assets.contract import ComponentContext, ComponentResult, SamplingPolicy, Status
from dp_assets.media.audio import TARGET_SAMPLE_RATE, _MonoResampler, read_waveform

from ..harness import run_upto
from .signals import decode_native, sine, write_wav


def _waveform(path, tmp_path) -> ComponentResult:
    return run_upto(path, tmp_path, "audio_waveform")[0]["audio_waveform"]


def _assert_consistent(result: ComponentResult) -> np.ndarray:
    """The file, the table row and the summary must all describe the same samples."""
    assert result.status == Status.OK, (result.error, result.summary)
    assert result.table.schema == audio_waveform.OUTPUT_SCHEMA and result.table.num_rows == 1
    row = result.table.to_pylist()[0]
    assert {k: result.summary[k] for k in row} == row
    samples = read_waveform(result)
    assert samples.dtype == np.dtype("<f4") and samples.ndim == 1
    assert samples.shape[0] == row["n_samples"] > 0
    assert row["sample_rate"] == TARGET_SAMPLE_RATE
    assert row["duration_s"] == pytest.approx(row["n_samples"] / TARGET_SAMPLE_RATE)
    # Written under a temporary name and renamed: nothing else is left in the work folder.
    assert [p.name for p in Path(result.files["waveform"]).parent.iterdir()] == ["waveform.f32"]
    for value in result.summary.values():
        assert value is None or type(value) in (int, float, str, bool)
    return samples


def test_jfk_flac_stereo_44k1_to_16k_mono(media, tmp_path):
    path = media("jfk_inaugural_speech.flac")
    result = _waveform(path, tmp_path)
    samples = _assert_consistent(result)
    # The FLAC header (STREAMINFO) counts 485100 samples per channel at 44.1 kHz = 11.000 s, and
    # 485100 * 16000 / 44100 is exactly 176000: with the resampler flushed, nothing of the tail
    # is lost and nothing is padded.
    assert result.summary["n_samples"] == 176000
    assert result.summary["duration_s"] == 11.0
    assert (result.summary["source_codec"], result.summary["source_sample_rate"], result.summary["source_channels"]) == (
        "flac",
        44100,
        2,
    )
    assert result.summary["start_s"] == 0.0 and result.summary["decoded_until_s"] == pytest.approx(11.0)
    assert result.summary["damaged"] is False and result.warnings == []
    # FFmpeg downmixes stereo to mono as (L + R) / sqrt(2) and does not normalise float output.
    # JFK's two channels are the same signal (correlation 0.9996), so the mono peak is sqrt(2)
    # times the channel peak (0.784 -> 1.108, above full scale); 1 % absorbs the resampling.
    native, rate = decode_native(path)
    assert rate == 44100 and native.shape == (2, 485100)
    channel_peak = float(np.abs(native).max())
    assert float(np.abs(samples).max()) == pytest.approx(math.sqrt(2) * channel_peak, rel=0.01)
    assert float(np.abs(samples).max()) > 1.0


def test_aac_51_decodes_to_mono(media, tmp_path):
    result = _waveform(media("bbb_h264_aac51.mp4"), tmp_path)
    samples = _assert_consistent(result)
    assert (result.summary["source_codec"], result.summary["source_sample_rate"], result.summary["source_channels"]) == (
        "aac",
        48000,
        6,
    )
    # 249 AAC frames of 1024 samples = 254976 samples at 48 kHz (5.312 s, the container duration);
    # 48 kHz -> 16 kHz divides by exactly 3.
    assert result.summary["n_samples"] == 254976 // 3 == 84992
    assert result.summary["duration_s"] == pytest.approx(5.312)
    assert samples.ndim == 1 and float(np.abs(samples).max()) > 0.1


@pytest.mark.parametrize(
    "name, container",
    [("carphone_qcif_face_noaudio.mp4", "mov,mp4,m4a,3gp,3g2,mj2"), ("tree_cinepak_noaudio.avi", "avi")],
)
def test_no_audio_track(media, tmp_path, name, container):
    result = _waveform(media(name), tmp_path)
    assert result.status == Status.EMPTY and result.empty_reason == "no_audio_track"
    assert container in result.summary["empty_detail"]
    assert result.files == {} and list((tmp_path / "audio_waveform").iterdir()) == []


def test_opus_without_header_duration(media, tmp_path):
    result = _waveform(media("dark_vp9_opus_noduration.webm"), tmp_path)
    samples = _assert_consistent(result)
    assert (result.summary["source_codec"], result.summary["source_sample_rate"], result.summary["source_channels"]) == (
        "opus",
        48000,
        2,
    )
    # 81 Opus packets of 60 ms (2880 samples) = 233280 samples at 48 kHz -> /3 = 77760 (4.86 s). The header has
    # no duration (video_probe takes 4.938 s from the last video packet); the decode does not need it.
    assert result.summary["n_samples"] == 77760
    # This clip's audio track is digital silence (every decoded sample is 0.0).
    assert not samples.any()


def test_truncated_webm_keeps_the_first_14_s(media, tmp_path):
    results, _ = run_upto(media("bbb_intro_vp8_vorbis_TRUNCATED.webm"), tmp_path, "audio_waveform")
    probe, result = results["video_probe"], results["audio_waveform"]
    samples = _assert_consistent(result)
    # The file is the first half of the bytes of a 30 s clip: the Vorbis packets stop at 14.46 s
    # (video_probe's data_end_s). The demuxer hits EOF ("File ended prematurely") without the
    # decoder raising, so all 14.45 s decoded are kept: 231248 samples = 14.453 s.
    assert result.summary["n_samples"] == 231248
    assert result.summary["decoded_until_s"] == pytest.approx(probe.summary["data_end_s"], abs=0.01)
    assert result.summary["damaged"] is True
    assert any("of the 30.00 s the container announces" in w for w in result.warnings)
    # FFmpeg's own reason: PyAV drops a log line identical to the previous one (skip_repeated), so
    # after video_probe logged it in this process it may appear only in video_probe's warnings.
    assert any("File ended prematurely" in w for w in probe.warnings + result.warnings)
    assert float(np.abs(samples[-16000:]).max()) > 0  # real audio up to the cut, not padding


def test_flac_cut_mid_frame_keeps_what_was_decoded(media, tmp_path):
    """A FLAC cut in half ends in a partial frame: the decoder raises, and the samples before it stay."""
    source = media("jfk_inaugural_speech.flac")
    data = source.read_bytes()
    cut = tmp_path / "jfk_half.flac"
    cut.write_bytes(data[: len(data) // 2])
    result = _waveform(cut, tmp_path / "out")
    samples = _assert_consistent(result)
    assert result.summary["damaged"] is True
    # Measured: 239616 samples (52 whole FLAC frames of 4608) decode before the partial frame
    # raises InvalidDataError, i.e. 5.433 s; 239616 * 16000 / 44100 = 86935.6 -> 86936.
    assert result.summary["n_samples"] == 86936
    assert result.summary["decoded_until_s"] == pytest.approx(239616 / 44100)
    assert "audio decoding stopped at 5.43 s: Invalid data found when processing input" in result.warnings
    assert any(w.startswith("decoder: ") for w in result.warnings)
    # What was kept is the same audio as the intact file's, up to the resampler's last few
    # samples (its delay line is flushed at the cut instead of continuing).
    full = read_waveform(_waveform(source, tmp_path / "full"))
    np.testing.assert_allclose(samples[:86900], full[:86900], atol=1e-6)


def test_flac_cut_inside_its_first_frame_is_an_error(media, tmp_path):
    """Nothing decodable at all is damage, not an absence of audio: ``failed``, not ``empty``.

    The first FLAC frame of jfk_inaugural_speech.flac spans bytes 8363-17747; cut at 12000 it is
    partial and the decoder raises on it. video_probe itself raises on this file (its
    ``container.seek(0)`` fails with EPERM), so the probe's answer is given by hand.
    """
    cut = tmp_path / "jfk_12000_bytes.flac"
    cut.write_bytes(media("jfk_inaugural_speech.flac").read_bytes()[:12000])
    work_dir = tmp_path / "audio_waveform"
    work_dir.mkdir()
    ctx = ComponentContext(cut, "test", "test", work_dir, tmp_path / "frames", SamplingPolicy("test", 1.0, 300, 1280))
    probe = ComponentResult.ok(summary={"has_audio": True, "container": "flac"})
    result = audio_waveform.compute(ctx, audio_waveform.AudioWaveformConfig(), {"video_probe": probe})
    assert result.status == Status.ERROR
    assert "no audio sample could be decoded: audio decoding stopped at 0.00 s: Invalid data found" in result.error
    assert list(work_dir.iterdir()) == []


def test_passthrough_input_is_kept_bit_exact(tmp_path):
    """16 kHz mono float32 input needs no conversion: PyAV's resampler passes frames through and
    answers the flush with ``[None]``, which must not break the decode or lose samples."""
    signal = sine(440, 0.3, 1.0, 16000) * np.linspace(0, 1, 16000)
    path = write_wav(tmp_path / "mono16k.wav", signal[None], 16000, codec="pcm_f32le")
    result = _waveform(path, tmp_path / "out")
    samples = _assert_consistent(result)
    assert result.summary["n_samples"] == 16000
    np.testing.assert_array_equal(samples, signal.astype(np.float32))


def test_zero_samples_is_empty_no_audio_samples(tmp_path):
    path = write_wav(tmp_path / "zero.wav", np.zeros((1, 0)), 16000)
    result = _waveform(path, tmp_path / "out")
    assert result.status == Status.EMPTY and result.empty_reason == "no_audio_samples"
    assert "pcm_s16le audio stream decoded to zero samples" in result.summary["empty_detail"]
    assert list((tmp_path / "out" / "audio_waveform").iterdir()) == []


def test_resampler_survives_a_mid_stream_rate_and_layout_change():
    """PyAV's resampler raises ValueError on a frame unlike the first; ours restarts and loses nothing."""
    resampler = _MonoResampler()
    out = []
    for rate, layout, channels in [(44100, "stereo", 2), (48000, "mono", 1)]:
        signal = np.zeros((1, rate * channels), dtype=np.float32)  # one second, packed
        frame = av.AudioFrame.from_ndarray(signal, format="flt", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        out += resampler.push(frame)
    out += resampler.flush()
    # One second at each rate -> 16000 samples each (both divide exactly after the flushes).
    assert sum(chunk.shape[0] for chunk in out) == 2 * 16000


def test_read_waveform_checks_its_input(tmp_path):
    with pytest.raises(ValueError):
        read_waveform(ComponentResult.empty("no_audio_track"))
    path = tmp_path / "waveform.f32"
    np.zeros(10, dtype="<f4").tofile(path)
    bad = ComponentResult.ok(None, summary={"n_samples": 11}, files={"waveform": str(path)})
    with pytest.raises(ValueError, match="holds 10 samples"):
        read_waveform(bad)
