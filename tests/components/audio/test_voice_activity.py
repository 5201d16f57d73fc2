"""``voice_activity`` on real speech, real music, real digital silence and damaged samples."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pydantic
import pytest
import torch

from dp_assets.components.audio import voice_activity
from dp_resources.models import silero
from dp_assets.contract import ComponentResult, Modality, Status
from dp_assets.media.audio import read_waveform

from ..harness import make_context, run_upto


def _vad(path, tmp_path, **config):
    results, _ = run_upto(path, tmp_path, "voice_activity", configs={"voice_activity": config})
    assert results["audio_waveform"].status == Status.OK
    return results["voice_activity"], results["audio_waveform"]


def _segments(result):
    return list(zip(result.table.column("start_s").to_pylist(), result.table.column("end_s").to_pylist()))


def test_spec():
    spec = voice_activity.SPEC
    assert (spec.name, spec.modality, spec.upstream) == ("voice_activity", Modality.AUDIO, ("audio_waveform",))
    (ref,) = spec.models
    # The ONNX model shipped inside the silero-vad wheel, always on the CPU (see SILERO_VAD).
    assert (ref.engine, ref.cpu_only, ref.package) == ("onnxruntime", True, "silero-vad")
    (weights,) = ref.weight_files()
    assert weights.name == "silero_vad.onnx" and weights.parent.parent.name == "silero_vad"
    assert spec.uses_gpu is False


def test_config_is_validated():
    with pytest.raises(pydantic.ValidationError):
        voice_activity.VoiceActivityConfig(threshold=1.0)
    with pytest.raises(pydantic.ValidationError):
        voice_activity.VoiceActivityConfig(min_speech_s=-1)
    with pytest.raises(pydantic.ValidationError):
        voice_activity.VoiceActivityConfig(pad=0.1)


def test_jfk_speech(media, tmp_path):
    result, _ = _vad(media("jfk_inaugural_speech.flac"), tmp_path)
    assert result.status == Status.OK
    assert result.table.schema == voice_activity.OUTPUT_SCHEMA
    s = result.summary
    # JFK speaks through the whole 11 s clip but in four phrases with deliberate oratorical pauses
    # ("And so, my fellow Americans | ask not | what your country can do for you | ..."), so about
    # 72 % of it is speech (measured 7.89 s in 4 segments). Crowd noise in the pauses stays below
    # Silero's threshold.
    assert s["segment_count"] == 4
    assert s["speech_ratio"] == pytest.approx(0.717, abs=0.02)
    assert s["speech_seconds"] == pytest.approx(7.89, abs=0.1)
    assert s["max_speech_prob"] > 0.99
    segments = _segments(result)
    # He starts talking after a third of a second and ends before the applause tail at 11 s.
    assert segments[0][0] == pytest.approx(0.32, abs=0.05)
    assert segments[-1][1] == pytest.approx(10.62, abs=0.05)
    assert all(0 <= a < b <= 11.0 for a, b in segments)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(segments, segments[1:]))


def test_matches_silero_reference_pipeline(media, tmp_path):
    """Our streamed probabilities + ``get_speech_timestamps_from_probs`` must give what Silero's
    own ``get_speech_timestamps`` gives on the same samples with its TorchScript model (another
    runtime of the same network): same segments, to one 32 ms window."""
    result, waveform = _vad(media("jfk_inaugural_speech.flac"), tmp_path)
    utils = silero.silero_utils()
    import silero_vad

    threads = torch.get_num_threads()
    jit = silero_vad.load_silero_vad()
    torch.set_num_threads(threads)
    samples = torch.from_numpy(np.array(read_waveform(waveform)))
    reference = utils.get_speech_timestamps(samples, jit, sampling_rate=16000)
    expected = [(r["start"] / 16000, r["end"] / 16000) for r in reference]
    ours = _segments(result)
    assert len(ours) == len(expected) == 4
    np.testing.assert_allclose(np.array(ours), np.array(expected), atol=512 / 16000)


def test_obama_statement(media, tmp_path):
    result, _ = _vad(media("obama_statement_face_speech.mp4"), tmp_path)
    assert result.status == Status.OK
    s = result.summary
    # The clip opens on about a second of room tone before "Today, ..." and then speaks in
    # phrases to the cut at 8.75 s: 6.1 s of speech in 5 segments (measured).
    assert s["segment_count"] == 5
    assert s["speech_ratio"] == pytest.approx(0.70, abs=0.03)
    segments = _segments(result)
    assert segments[0][0] == pytest.approx(1.03, abs=0.1)
    # The last phrase runs into the end of the clip (he is cut mid-sentence).
    assert segments[-1][1] == pytest.approx(s["duration_s"], abs=0.05)


def test_big_buck_bunny_music_has_no_speech(media, tmp_path):
    result, _ = _vad(media("bbb_intro_vp8_vorbis.webm"), tmp_path)
    # 30 s of orchestral score, birdsong and forest ambience without a word: Silero never gets
    # near its 0.5 threshold (highest window 0.056, measured), so the verdict is not borderline.
    assert result.status == Status.EMPTY and result.empty_reason == "no_speech"
    assert result.summary["max_speech_prob"] < 0.15
    assert result.summary["speech_ratio"] == 0.0 and result.summary["segment_count"] == 0
    assert "no speech in 30.02 s of audio" in result.summary["empty_detail"]
    assert result.table is None


def test_digitally_silent_track_has_no_speech(media, tmp_path):
    result, waveform = _vad(media("dark_vp9_opus_noduration.webm"), tmp_path)
    # The Opus track decodes to exact zeros (see test_loudness): nothing to hear, nothing found.
    samples = read_waveform(waveform)
    assert samples.size > 0 and not np.any(samples)
    assert result.status == Status.EMPTY and result.empty_reason == "no_speech"
    assert result.summary["max_speech_prob"] < 0.05


def test_threshold_is_applied(media, tmp_path):
    # Requiring near-certainty keeps fewer, shorter segments than the default 0.5 on the same
    # speech; the thresholds are really passed to Silero's segmenter.
    strict, _ = _vad(media("jfk_inaugural_speech.flac"), tmp_path, threshold=0.99)
    default, _ = _vad(media("jfk_inaugural_speech.flac"), tmp_path / "default")
    assert strict.status == Status.OK
    assert strict.summary["speech_seconds"] < default.summary["speech_seconds"] - 0.5


def test_non_finite_samples_are_read_as_zero(media, tmp_path):
    _, waveform = _vad(media("jfk_inaugural_speech.flac"), tmp_path)
    samples = np.array(read_waveform(waveform))
    # Garbage in the silence before JFK's first word (the first 0.3 s): the speech is unchanged.
    samples[1000:1100] = np.nan
    samples[2000] = np.inf
    path = tmp_path / "damaged.f32"
    samples.astype("<f4").tofile(path)
    damaged = ComponentResult.ok(None, summary={"sample_rate": 16000, "n_samples": samples.size}, files={"waveform": str(path)})
    ctx = make_context(path, tmp_path, "vad_damaged")
    result = voice_activity.compute(ctx, voice_activity.VoiceActivityConfig(), {"audio_waveform": damaged})
    assert result.status == Status.OK
    assert result.warnings == ["101 non-finite samples (inf/NaN) in the waveform were read as 0"]
    assert result.summary["segment_count"] == 4
    assert result.summary["speech_ratio"] == pytest.approx(0.717, abs=0.02)


def test_importing_silero_keeps_torch_threads(tmp_path):
    """``import silero_vad`` calls ``torch.set_num_threads(1)`` for the whole process; loading
    the VAD must leave torch's thread pool as it was (checked in a fresh interpreter, where
    silero_vad is not imported yet)."""
    code = (
        "import torch; torch.set_num_threads(3)\n"
        "from dp_assets.components.audio import voice_activity as va\n"
        "from dp_assets.contract import CPU\n"
        "va._load(CPU)\n"
        "import sys; assert 'silero_vad' in sys.modules\n"
        "print(torch.get_num_threads())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "3"
