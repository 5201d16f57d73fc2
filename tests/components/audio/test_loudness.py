"""``loudness`` on real speech, real and synthesized silence, sines of known level, and too-short audio."""

from __future__ import annotations

import json
import math

import numpy as np
import pydantic
import pyloudnorm
import pytest

from dp_assets.components.audio import loudness
from dp_assets.contract import ComponentResult, Status
from dp_assets.media.audio import read_waveform

from ..harness import run_upto
from .signals import decode_native, sine, write_wav


def _loudness(path, tmp_path, **config) -> ComponentResult:
    results, _ = run_upto(path, tmp_path, "loudness", configs={"loudness": config})
    assert results["audio_waveform"].status == Status.OK
    return results["loudness"]


def _assert_clean(result: ComponentResult) -> None:
    """Summary scalars are plain Python values with no inf/NaN; the table matches the schema."""
    json.dumps(result.summary, allow_nan=False)
    for value in result.summary.values():
        assert value is None or type(value) in (int, float, str, bool)
    assert result.table.schema == loudness.OUTPUT_SCHEMA
    assert result.table.num_rows == result.summary["n_windows"]
    rms = result.table.column("rms_dbfs").to_numpy(zero_copy_only=False)
    assert np.isfinite(rms[~np.isnan(rms)]).all()  # nulls come back as NaN here; no inf anywhere


def test_config_is_validated():
    with pytest.raises(pydantic.ValidationError):
        loudness.LoudnessConfig(window_s=0)
    with pytest.raises(pydantic.ValidationError):
        loudness.LoudnessConfig(silence_threshold_dbfs=3)
    with pytest.raises(pydantic.ValidationError):
        loudness.LoudnessConfig(window=0.1)


def test_jfk_speech(media, tmp_path):
    path = media("jfk_inaugural_speech.flac")
    result = _loudness(path, tmp_path)
    assert result.status == Status.OK
    _assert_clean(result)
    s = result.summary
    # Measured -12.50 LUFS: a loud, close-miked (and mastered) speech recording, well inside the
    # -25..-10 LUFS range of broadcast and podcast speech.
    assert s["integrated_lufs"] == pytest.approx(-12.50, abs=0.05)
    # Why the downmix gives the right answer here: the two channels are the same signal, so
    # (L + R) / sqrt(2) has twice the power of one channel, exactly the BS.1770 stereo sum
    # L + R. pyloudnorm on the original 44.1 kHz stereo agrees to 0.05 dB.
    native, rate = decode_native(path)
    stereo_lufs = pyloudnorm.Meter(rate).integrated_loudness(native.T.astype(np.float64))
    assert s["integrated_lufs"] == pytest.approx(stereo_lufs, abs=0.05)
    assert s["below_absolute_gate"] is False and s["digital_silence"] is False
    assert s["rms_dbfs"] == pytest.approx(-13.94, abs=0.05)
    # The downmix peak is above full scale (+0.88 dBFS): channel peak 0.784 times sqrt(2).
    assert s["peak_dbfs"] == pytest.approx(0.88, abs=0.05)
    # Continuous speech over crowd/room noise: no 100 ms window is below -50 dBFS (the quietest
    # pause measures -46.5 dBFS), so the silence ratio is 0.
    assert s["silence_ratio"] == 0.0
    # 11 s in 100 ms windows = 110 rows starting 0.0, 0.1, ...
    assert s["n_windows"] == 110 and s["window_s"] == pytest.approx(0.1)
    starts = result.table.column("start_s").to_numpy()
    np.testing.assert_allclose(starts[:3], [0.0, 0.1, 0.2])


def test_real_clip_with_digitally_silent_audio(media, tmp_path):
    """dark_vp9_opus_noduration.webm's Opus track decodes to all zeros."""
    result = _loudness(media("dark_vp9_opus_noduration.webm"), tmp_path)
    assert result.status == Status.OK
    _assert_clean(result)
    s = result.summary
    assert s["integrated_lufs"] is None and s["below_absolute_gate"] is True and s["digital_silence"] is True
    assert s["rms_dbfs"] is None and s["peak_dbfs"] is None
    assert s["silence_ratio"] == 1.0


def test_synthesized_digital_silence(tmp_path):
    path = write_wav(tmp_path / "silence.wav", np.zeros((1, 2 * 16000)), 16000)
    result = _loudness(path, tmp_path / "out")
    assert result.status == Status.OK
    _assert_clean(result)
    s = result.summary
    # Every 400 ms block is -inf LUFS, below the -70 LUFS absolute gate: BS.1770 loudness is
    # undefined (pyloudnorm says -inf), reported as None with the flag.
    assert s["integrated_lufs"] is None and s["below_absolute_gate"] is True and s["digital_silence"] is True
    assert s["rms_dbfs"] is None and s["peak_dbfs"] is None
    # 2 s = 20 windows, all silent; their RMS level is null (not -inf).
    assert s["silence_ratio"] == 1.0 and s["n_windows"] == 20
    assert result.table.column("rms_dbfs").null_count == 20
    assert result.table.column("silent").to_pylist() == [True] * 20


def test_sine_1khz_matches_the_analytic_levels(tmp_path):
    # 44.1 kHz source so the resampler is exercised; 1 kHz is far below the 8 kHz Nyquist limit,
    # so resampling keeps the level. A sine of amplitude A has RMS A / sqrt(2):
    # 20 * log10(0.5 / sqrt(2)) = -9.031 dBFS; its peak is 20 * log10(0.5) = -6.021 dBFS.
    amplitude = 0.5
    path = write_wav(tmp_path / "sine.wav", sine(1000, amplitude, 2.0, 44100)[None], 44100)
    result = _loudness(path, tmp_path / "out")
    assert result.status == Status.OK
    _assert_clean(result)
    s = result.summary
    assert s["rms_dbfs"] == pytest.approx(20 * math.log10(amplitude / math.sqrt(2)), abs=0.1)
    # Resampling may overshoot by a few hundredths of a dB at sample level (measured +0.04).
    assert s["peak_dbfs"] == pytest.approx(20 * math.log10(amplitude), abs=0.1)
    # BS.1770 is scaled so a 1 kHz sine in one channel reads its RMS level in LUFS (-9.03).
    # pyloudnorm derives the K-filter for 16 kHz itself and reads 0.07 dB low at 1 kHz
    # (measured -9.098), so the tolerance here is 0.15 dB.
    assert s["integrated_lufs"] == pytest.approx(20 * math.log10(amplitude / math.sqrt(2)), abs=0.15)
    assert s["silence_ratio"] == 0.0 and s["digital_silence"] is False


def test_identical_stereo_channels_downmix_3db_hotter(tmp_path):
    # FFmpeg's stereo -> mono is (L + R) / sqrt(2): with L = R = a sine of amplitude A the mono
    # sine has amplitude sqrt(2) * A, so its RMS is exactly A: 20 * log10(0.25) = -12.04 dBFS,
    # 3.01 dB above either channel's -15.05 dBFS.
    amplitude = 0.25
    channel = sine(1000, amplitude, 2.0, 48000)
    path = write_wav(tmp_path / "stereo.wav", np.vstack([channel, channel]), 48000)
    result = _loudness(path, tmp_path / "out")
    assert result.summary["rms_dbfs"] == pytest.approx(20 * math.log10(amplitude), abs=0.1)


def test_quiet_but_not_silent_is_below_the_gate(tmp_path):
    # A 1 kHz sine at amplitude 1e-4 measures -83 dBFS RMS and about -83 LUFS: every block is
    # under the -70 LUFS absolute gate, so no integrated loudness, but it is not digital silence.
    path = write_wav(tmp_path / "quiet.wav", sine(1000, 1e-4, 1.0, 16000)[None], 16000, codec="pcm_f32le")
    result = _loudness(path, tmp_path / "out")
    _assert_clean(result)
    s = result.summary
    assert s["integrated_lufs"] is None and s["below_absolute_gate"] is True
    assert s["digital_silence"] is False
    assert s["rms_dbfs"] == pytest.approx(-80 - 20 * math.log10(math.sqrt(2)), abs=0.1)
    assert s["silence_ratio"] == 1.0


def test_silence_ratio_counts_windows_below_the_threshold(tmp_path):
    # 1 s of -9 dBFS sine, then 1 s of zeros, then 1 s of sine at amplitude 10**(-60/20) (RMS
    # -63 dBFS): the last two seconds are below -50 dBFS, 20 of 30 windows. Window edges fall on
    # whole 100 ms at 16 kHz, so no window straddles two parts.
    rate = 16000
    loud, quiet = sine(1000, 0.5, 1.0, rate), sine(1000, 10 ** (-60 / 20), 1.0, rate)
    signal = np.concatenate([loud, np.zeros(rate), quiet])
    path = write_wav(tmp_path / "mix.wav", signal[None], rate, codec="pcm_f32le")
    result = _loudness(path, tmp_path / "out")
    assert result.summary["silence_ratio"] == pytest.approx(20 / 30)
    silent = result.table.column("silent").to_pylist()
    assert silent == [False] * 10 + [True] * 20
    # With the threshold at -70 dBFS the quiet sine (-63 dBFS) no longer counts as silence.
    result = _loudness(path, tmp_path / "out70", silence_threshold_dbfs=-70.0)
    assert result.summary["silence_ratio"] == pytest.approx(10 / 30)


def test_short_phone_clip_is_too_short(media, tmp_path):
    # The iPhone clip's AAC track decodes to 0.105 s (1685 samples at 16 kHz), under the 400 ms
    # BS.1770 gating block that pyloudnorm needs.
    result = _loudness(media("iphone_hevc10_hlg_rot90_0p09s.mov"), tmp_path)
    assert result.status == Status.EMPTY and result.empty_reason == "too_short"
    assert "0.105 s of audio is shorter than the 400 ms" in result.summary["empty_detail"]


@pytest.mark.parametrize("n_samples, status", [(6399, Status.EMPTY), (6400, Status.OK)])
def test_too_short_boundary_is_one_gating_block(tmp_path, n_samples, status):
    # 400 ms at 16 kHz is 6400 samples: pyloudnorm measures exactly one block, and refuses less.
    path = write_wav(tmp_path / "edge.wav", sine(1000, 0.5, n_samples / 16000, 16000)[None], 16000)
    result = _loudness(path, tmp_path / "out")
    assert result.status == status
    if status == Status.OK:
        assert result.summary["integrated_lufs"] is not None and result.summary["n_windows"] == 4


def test_non_finite_samples_are_measured_as_zero(tmp_path):
    # A float decoder fed garbage can emit NaN/inf; the output must stay finite and say so.
    samples = sine(1000, 0.5, 1.0, 16000).astype("<f4")
    samples[100:200] = np.nan
    samples[300] = np.inf
    path = tmp_path / "waveform.f32"
    samples.tofile(path)
    waveform = ComponentResult.ok(None, summary={"sample_rate": 16000, "n_samples": 16000}, files={"waveform": str(path)})
    result = loudness.compute(None, loudness.LoudnessConfig(), {"audio_waveform": waveform})
    assert result.status == Status.OK
    _assert_clean(result)
    assert result.warnings == ["101 non-finite samples (inf/NaN) in the waveform were measured as 0"]
    assert result.summary["integrated_lufs"] is not None


def test_chunked_measurement_equals_pyloudnorm_on_the_whole_waveform(tmp_path):
    # 250 s (three chunks of 1024 windows, the last one partial) of noise whose level steps
    # between loud, quiet and nearly silent parts, so both BS.1770 gates drop blocks, and a length
    # that is not a whole number of 100 ms hops. The K-weighting state and the hop energies are
    # carried across chunk edges: the result must be pyloudnorm's on the whole waveform.
    rate = 16000
    rng = np.random.default_rng(5)
    levels = np.repeat(rng.choice([0.3, 0.03, 1e-5], size=125), 2 * rate)
    signal = np.concatenate([levels * rng.standard_normal(levels.size), 0.2 * rng.standard_normal(777)])
    path = write_wav(tmp_path / "steps.wav", signal[None], rate, codec="pcm_f32le")
    results, _ = run_upto(path, tmp_path / "out", "loudness")
    whole = np.array(read_waveform(results["audio_waveform"]))
    assert whole.size > 2 * loudness._WINDOWS_PER_CHUNK * round(0.1 * rate)
    expected = pyloudnorm.Meter(rate).integrated_loudness(whole)
    s = results["loudness"].summary
    # float64 filtering here, float32 in pyloudnorm: 1e-6 dB apart (measured 1e-7).
    assert s["integrated_lufs"] == pytest.approx(expected, abs=1e-5)
    assert s["rms_dbfs"] == pytest.approx(10 * math.log10(float(np.mean(whole.astype(np.float64) ** 2))), abs=1e-9)
    assert s["peak_dbfs"] == pytest.approx(20 * math.log10(float(np.abs(whole).max())), abs=1e-9)
