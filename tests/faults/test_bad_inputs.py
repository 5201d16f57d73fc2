"""Crash safety on bad inputs: every file of the corpus ends ``ok``, ``empty`` or ``error`` with a
reason, in bounded time and memory, never with a traceback.

Each input goes through the skeleton profile's chain and through the model components of the
baseline (``visual_embedding``, ``visual_pacing``, ``voice_activity``, ``transcript``,
``text_features``) with the harness (``run_upto``: real components through
``execution.run_component``, as in a real run), and a few go end to end through ``dp process``.
The synthesized files come from ``tests/faults/corpus.py``; the damaged real files from the
shared media. docs/reliability.md ("Bad inputs") lists what each case does and what it costs.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from dp_assets.contract import ComponentResult, Status
from dp_assets.media.container import MAX_FRAME_PIXELS
from dp_assets.profiles import load_profile, parse_profile, profile_path

from ..components.harness import run_upto
from . import corpus

PROJECT = Path(__file__).resolve().parents[2]
SKELETON = load_profile("skeleton")
BASELINE = load_profile("baseline")
# The model components (and visual_pacing) of the baseline; text_features pulls in ocr_text,
# voice_activity and transcript, visual_pacing pulls in shot_boundaries and motion.
MODEL_TARGETS = ("visual_embedding", "visual_pacing", "text_features")
# Hang guards, far above what a case costs (docs/reliability.md has the measured seconds): they
# stop a hang, they do not time anything.
HANG_GUARD_S = 180
CLI_HANG_GUARD_S = 300


def _configs(profile) -> dict[str, dict]:
    # The resolved configs, so ``frames`` decodes the union of the profile's frame requests.
    return {name: component.config.model_dump() for name, component in profile.components.items()}


@contextlib.contextmanager
def hang_guard(seconds: int):
    def _stop(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, _stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def with_sampling(name: str, **sampling):
    """Profile ``name`` with another sampling policy, resolved as a profile file would be (the
    ``frames`` requests follow the policy)."""
    raw = yaml.safe_load(profile_path(name).read_text())
    return parse_profile({**raw, "sampling": {**raw["sampling"], **sampling}}, f"{name} with {sampling}")


def skeleton(path: Path, root: Path):
    """Every component of the skeleton profile (``features`` depends on all of them)."""
    with hang_guard(HANG_GUARD_S):
        results, metrics = run_upto(path, root / "skeleton", "features", configs=_configs(SKELETON), sampling=SKELETON.sampling)
    assert set(results) == set(SKELETON.components)
    return results, metrics


def models(path: Path, root: Path, targets=MODEL_TARGETS, profile=BASELINE):
    results: dict[str, ComponentResult] = {}
    with hang_guard(HANG_GUARD_S):
        for target in targets:
            chain, _ = run_upto(path, root / target, target, configs=_configs(profile), sampling=profile.sampling)
            results.update(chain)
    return results


def assert_everything_fails_with(results: dict[str, ComponentResult], reason: str) -> None:
    """The probe failed with ``reason``; every other component failed because of it, and
    ``features`` (which tolerates failed inputs) records the failures in its row."""
    assert results["video_probe"].status is Status.ERROR
    assert reason in results["video_probe"].error, results["video_probe"].error
    for name, result in results.items():
        if name == "features":
            assert result.status is Status.OK
            row = result.table.to_pylist()[0]
            assert {row[f"{s}_status"] for s in ("video_probe", "image_stats", "shot_boundaries", "loudness")} == {"error"}
            assert row["duration_s"] is None and row["brightness_mean"] is None
        elif name == "text_features":
            # It tolerates failed sources: none gave text.
            assert result.status is Status.EMPTY and result.empty_reason == "no_text"
            assert result.summary["ocr_status"] == "error" and result.summary["transcript_status"] == "error"
        elif name != "video_probe":
            assert result.status is Status.ERROR, name
            assert "upstream" in result.error and reason in result.error, (name, result.error)


def assert_no_audio(results: dict[str, ComponentResult], container: str) -> None:
    assert results["audio_waveform"].status is Status.EMPTY and results["audio_waveform"].empty_reason == "no_audio_track"
    assert results["audio_waveform"].summary["empty_detail"] == f"{container} file has no audio stream"
    for name in ("loudness", "voice_activity", "transcript"):
        if name in results:
            assert results[name].status is Status.EMPTY and results[name].empty_reason == "no_audio_track", name


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpus")


# -- files that are not media ------------------------------------------------------------------

NOT_MEDIA = (
    "not a media file: its first bytes match no audio or video container "
    "(decoder: Invalid data found when processing input (moov atom not found))"
)


@pytest.mark.parametrize(
    "make, reason",
    [
        (corpus.zero_bytes, "file is empty (0 bytes)"),
        # No demuxer recognises the bytes, so FFmpeg falls back on the .mp4 extension's and
        # reports what an mp4 lacks; the first bytes say it is no media file at all.
        (corpus.random_bytes, NOT_MEDIA),
        (corpus.text_file, NOT_MEDIA),
    ],
    ids=["zero_bytes", "random_bytes", "text_file"],
)
def test_not_media_fails_at_the_probe_with_the_reason(make, reason, built, tmp_path):
    path = make(built)
    results, _ = skeleton(path, tmp_path)
    assert results["video_probe"].error == f"cannot decode {path}: {reason}"
    assert_everything_fails_with(results, reason)
    assert_everything_fails_with(models(path, tmp_path), reason)


def test_png_named_mp4_is_read_as_the_picture_it_is(built, tmp_path):
    # FFmpeg recognises PNG by content, whatever the extension: a one-frame video without audio.
    path = corpus.png_image(built, size=(96, 64), level=200)
    results, _ = skeleton(path, tmp_path)
    probe = results["video_probe"].summary
    assert (probe["container"], probe["video_codec"], probe["width"], probe["height"], probe["frame_count"]) == ("png_pipe", "png", 96, 64, 1)
    assert results["frames"].summary["stored_frames"] == 2  # one per tier: the policy's and shot_boundaries' 64 px
    stats = results["image_stats"].summary
    # A flat grey 200 picture, stored losslessly: luma 200 exactly, no contrast, no colour.
    assert stats["frame_count"] == 1 and stats["brightness_mean"] == pytest.approx(200.0, abs=1e-3)
    assert stats["contrast_mean"] == pytest.approx(0.0, abs=1e-3) and stats["colorfulness_mean"] == pytest.approx(0.0, abs=1e-3)
    assert results["shot_boundaries"].status is Status.EMPTY and results["shot_boundaries"].empty_reason == "too_short"
    assert_no_audio(results, "png_pipe")
    assert results["features"].table.to_pylist()[0]["brightness_mean"] == pytest.approx(200.0, abs=1e-3)

    more = models(path, tmp_path)
    assert more["visual_embedding"].status is Status.OK and more["visual_embedding"].summary["frame_count"] == 1
    assert more["motion"].status is Status.EMPTY and more["motion"].empty_reason == "too_short"
    assert more["visual_pacing"].status is Status.EMPTY and more["visual_pacing"].empty_reason == "too_short"
    assert more["ocr_text"].status is Status.EMPTY and more["ocr_text"].empty_reason == "no_text"
    assert_no_audio(more, "png_pipe")
    assert more["text_features"].status is Status.EMPTY and more["text_features"].empty_reason == "no_text"


# -- headers that lie ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "width, height",
    [(100_000, 100_000), (20_000, 12_000)],  # beyond FFmpeg's own limit; within it, beyond ours
    ids=["100000x100000", "20000x12000"],
)
def test_a_stated_frame_size_over_the_limit_fails_the_probe_before_decoding(width, height, built, tmp_path):
    path = corpus.claimed_size(built, width, height, name=f"claims_{width}x{height}.mkv")
    results, metrics = skeleton(path, tmp_path)
    reason = f"the video stream states a frame size of {width}x{height} ({width * height / 1e6:,.0f} Mpx), over the limit of 67.1 Mpx"
    assert results["video_probe"].error.startswith(f"{path}: {reason}")
    assert width * height > MAX_FRAME_PIXELS
    assert_everything_fails_with(results, reason)
    # Nothing tried to allocate the picture (a single 20000x12000 RGB frame is 720 MB).
    assert metrics["video_probe"].peak_rss_delta_mb < 100
    assert_everything_fails_with(models(path, tmp_path), reason)


def test_many_streams_use_the_first_video_and_the_first_audio_stream(built, tmp_path):
    made = corpus.many_streams(built, n_audio=8)
    results, _ = skeleton(made.path, tmp_path)
    probe = results["video_probe"]
    assert probe.status is Status.OK
    s = probe.summary
    assert (s["width"], s["height"], s["frame_count"]) == (*made.size, made.frame_count)
    assert (s["audio_codec"], s["audio_sample_rate"], s["audio_channels"]) == ("pcm_s16le", corpus.AUDIO_RATE, 1)
    # FFmpeg's note that it found no codec for the attachment is not damage of the video.
    assert probe.warnings == [] and results["frames"].summary["damaged"] is False
    # The frames are the video stream's: frame k is grey_level(k) (within 1 level, see
    # corpus._add_video), sampled at 1 fps from 10 fps.
    rows = results["image_stats"].table.to_pylist()
    assert [round(r["pts_s"], 3) for r in rows] == [0.0, 1.0, 2.0, 3.0]
    for row in rows:
        assert row["brightness"] == pytest.approx(corpus.grey_level(round(row["pts_s"] * 10)), abs=1.01)
    # The audio is the first audio stream in container order (index 0, amplitude 0.05), not the
    # loudest or the last: its peak is 20 * log10(0.05) = -26.0 dBFS (16-bit PCM, resampled).
    assert made.video_index == 5 and made.amplitudes[0] == 0.05
    assert results["loudness"].summary["peak_dbfs"] == pytest.approx(20 * math.log10(0.05), abs=0.1)
    assert results["loudness"].summary["duration_s"] == pytest.approx(4.0, abs=0.01)

    more = models(made.path, tmp_path)
    assert more["visual_embedding"].status is Status.OK and more["visual_embedding"].summary["frame_count"] == 4
    # A steady tone is not speech.
    assert more["voice_activity"].status is Status.EMPTY and more["voice_activity"].empty_reason == "no_speech"
    assert more["transcript"].empty_reason == "no_speech" and more["text_features"].empty_reason == "no_text"
    # 4 s at 8 fps for motion: every pair is a change of grey level, no cut at 64 px on flat frames.
    assert more["visual_pacing"].status is Status.OK


# -- long input ----------------------------------------------------------------------------------------


def test_one_hour_video_keeps_the_frame_cap_and_bounded_memory(built, tmp_path):
    # One frame every 4 s at 640x360 for an hour (900 frames), with an hour of 8 kHz tone. The
    # skeleton's policy samples 1 fps capped at 300 frames: 300 frames of 640x360 are 207 MB,
    # which image_stats used to hold twice over (a copy and the mapped pages), and loudness used
    # to filter the whole hour in memory (1.46 GB). docs/reliability.md has the realistic sizes.
    made = corpus.long_video(built, duration_s=3600.0, fps=0.25, size=(640, 360), amplitude=0.25)
    results, metrics = skeleton(made.path, tmp_path)
    probe = results["video_probe"].summary
    assert probe["duration_s"] == pytest.approx(3600.0, abs=0.5) and probe["frame_count"] == made.frame_count == 900
    cap = SKELETON.sampling.max_frames
    assert cap == 300
    stats = results["image_stats"]
    assert stats.status is Status.OK and stats.summary["frame_count"] == cap
    pts = stats.table.column("pts_s").to_numpy()
    # Spread over the whole hour (a tick every 12 s), not the first 300 frames.
    assert pts[0] == 0.0 and pts[-1] >= 3600.0 - 12.0 and np.all(np.diff(pts) > 0)
    for row in stats.table.to_pylist()[::37]:
        assert row["brightness"] == pytest.approx(corpus.grey_level(round(row["pts_s"] * made.fps)), abs=1.01)
    loud = results["loudness"].summary
    assert loud["duration_s"] == pytest.approx(3600.0, abs=0.01) and loud["n_windows"] == 36000
    assert loud["peak_dbfs"] == pytest.approx(20 * math.log10(0.25), abs=0.1)
    assert loud["integrated_lufs"] == pytest.approx(20 * math.log10(0.25 / math.sqrt(2)) - 0.6, abs=0.6)
    # Memory: what each component grew the process by (run_component's figure). Holding the
    # frames would be >= 207 MB and pyloudnorm's copies 1.4 GB; the bounds leave room for
    # allocator noise and scipy's import (~70 MB) in loudness.
    assert metrics["image_stats"].peak_rss_delta_mb < 100
    assert metrics["loudness"].peak_rss_delta_mb < 300

    # The model components on the same hour, with a 12-frame cap: the visual ones are capped
    # like the rest (EfficientNet on 300 frames would add ~25 s of CPU). The audio models are
    # left out here: Silero over an hour is ~27 s of CPU (blocks of 1M samples, ~20 MB); the
    # benchmark in docs/reliability.md runs them.
    capped = with_sampling("baseline", version="test-1h", max_frames=12, max_side=320)
    more = models(made.path, tmp_path, targets=("visual_embedding", "visual_pacing"), profile=capped)
    embedding = more["visual_embedding"]
    assert embedding.status is Status.OK and embedding.summary["frame_count"] == 12
    assert embedding.table.column("pts_s").to_pylist()[-1] >= 3000.0
    assert more["motion"].status is Status.OK and more["visual_pacing"].status is Status.OK


# -- damaged real files, missing tracks -----------------------------------------------------------


def test_truncated_mp4_without_its_moov_atom(media, tmp_path):
    path = media("bbb_h264_aac51_TRUNCATED.mp4")
    results, _ = skeleton(path, tmp_path)
    assert results["video_probe"].error == f"cannot decode {path}: Invalid data found when processing input (moov atom not found)"
    assert_everything_fails_with(results, "moov atom not found")
    assert_everything_fails_with(models(path, tmp_path), "moov atom not found")


def test_truncated_webm_is_used_as_far_as_it_decodes(media, tmp_path):
    path = media("bbb_intro_vp8_vorbis_TRUNCATED.webm")
    results, _ = skeleton(path, tmp_path)
    probe = results["video_probe"]
    assert probe.summary["truncated"] is True and probe.summary["duration_s"] == pytest.approx(30.0, abs=0.01)
    assert probe.summary["data_end_s"] == pytest.approx(14.46, abs=0.05)
    assert "media data ends at 14.46 s but the container announces 30.00 s (file truncated or damaged)" in probe.warnings
    frames = results["frames"]
    assert frames.status is Status.OK and frames.summary["damaged"] is True
    assert frames.summary["decoded_until_s"] == pytest.approx(14.42, abs=0.05)
    assert "decoder: File ended prematurely" in frames.warnings
    # 1 fps over the 14.4 s that decode: frames at 0..14 s.
    assert results["image_stats"].summary["frame_count"] == 15
    audio = results["audio_waveform"]
    assert audio.status is Status.OK and audio.summary["damaged"] is True
    assert audio.summary["decoded_until_s"] == pytest.approx(14.46, abs=0.05)
    assert results["loudness"].summary["duration_s"] == pytest.approx(14.46, abs=0.1)
    # The first cut of the clip (near 11.8 s) is in the part that survived; none after 14.4 s.
    cuts = results["shot_boundaries"].table.column("to_pts_s").to_pylist()
    assert cuts and all(t < 14.5 for t in cuts) and any(abs(t - 11.8) < 0.5 for t in cuts)
    row = results["features"].table.to_pylist()[0]
    assert row["image_stats_status"] == "ok" and row["loudness_status"] == "ok"

    more = models(path, tmp_path)
    assert more["visual_embedding"].status is Status.OK and more["visual_embedding"].summary["frame_count"] == 15
    assert more["visual_pacing"].status is Status.OK
    assert more["visual_pacing"].summary["analysed_s"] == pytest.approx(14.5, abs=0.2)
    # Big Buck Bunny's intro is music, no speech, and no legible text in what survived.
    assert more["voice_activity"].empty_reason == "no_speech" and more["transcript"].empty_reason == "no_speech"
    assert more["text_features"].summary["empty_detail"] == "no text from any source (metadata: no_metadata; ocr: no_text; transcript: no_speech)"


def test_audio_only_flac_is_empty_on_the_visual_side(media, tmp_path):
    path = media("jfk_inaugural_speech.flac")
    results, _ = skeleton(path, tmp_path)
    assert results["video_probe"].summary["has_video"] is False
    for name in ("frames", "shot_boundaries", "image_stats"):
        assert results[name].status is Status.EMPTY and results[name].empty_reason == "no_video_track", name
    assert "flac file has no video stream" in results["image_stats"].summary["empty_detail"]
    assert results["loudness"].summary["integrated_lufs"] == pytest.approx(-12.50, abs=0.05)
    row = results["features"].table.to_pylist()[0]
    assert row["image_stats_empty_reason"] == "no_video_track" and row["integrated_lufs"] == pytest.approx(-12.50, abs=0.05)

    more = models(path, tmp_path)
    for name in ("visual_embedding", "motion", "visual_pacing", "ocr_text"):
        assert more[name].status is Status.EMPTY and more[name].empty_reason == "no_video_track", name
    assert more["voice_activity"].status is Status.OK
    assert "ask not what your country can do for you" in more["transcript"].summary["text"].lower().replace(",", "")
    assert more["text_features"].status is Status.OK and more["text_features"].summary["transcript_status"] == "ok"


def test_video_without_audio_is_empty_on_the_audio_side(media, tmp_path):
    path = media("carphone_qcif_face_noaudio.mp4")
    results, _ = skeleton(path, tmp_path)
    assert results["image_stats"].summary["frame_count"] == 4  # 1 fps; the last frame starts at 3.97 s
    assert_no_audio(results, "mov,mp4,m4a,3gp,3g2,mj2")
    assert results["features"].table.to_pylist()[0]["loudness_empty_reason"] == "no_audio_track"

    more = models(path, tmp_path)
    assert_no_audio(more, "mov,mp4,m4a,3gp,3g2,mj2")
    assert more["visual_embedding"].status is Status.OK and more["visual_embedding"].summary["frame_count"] == 4
    assert more["visual_pacing"].status is Status.OK
    # The missing audio track is named as such where text_features lists its sources.
    assert more["text_features"].summary["empty_detail"] == "no text from any source (metadata: no_metadata; ocr: no_text; transcript: no_audio_track)"


# -- end to end through the CLI --------------------------------------------------------------------


def test_cli_rejects_or_fails_each_bad_file_with_one_line_and_no_traceback(built, media, tmp_path):
    cases = {
        # path, exit code (1: the video failed, with a manifest that says why), the reason on stderr
        "empty": (corpus.zero_bytes(built, "cli_empty.mp4"), 1, "file is empty (0 bytes)"),
        "text": (corpus.text_file(built, "cli_text.mp4"), 1, "not a media file"),
        "huge": (corpus.claimed_size(built, name="cli_huge.mkv"), 1, "states a frame size of 100000x100000"),
        "truncated": (media("bbb_h264_aac51_TRUNCATED.mp4"), 1, "moov atom not found"),
    }
    running = {}
    for name, (path, _, _) in cases.items():
        home = tmp_path / name
        env = {**os.environ, "DP_HOME": str(home), "PYTHONWARNINGS": "ignore"}
        env.pop("DAGSTER_HOME", None)
        cmd = [sys.executable, "-m", "dp_assets.cli", "process", str(path), "--video-id", f"bad_{name}", "--profile", "skeleton"]
        running[name] = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, proc in running.items():
        out, err = proc.communicate(timeout=CLI_HANG_GUARD_S)
        _, code, reason = cases[name]
        assert proc.returncode == code, (name, out, err)
        assert "Traceback" not in out + err, (name, out, err)
        errors = [line for line in err.splitlines() if line.startswith("dp: error:")]
        assert len(errors) == 1 and reason in errors[0], (name, err)
        if code == 1:
            assert "required component video_probe failed for video local/bad_" in errors[0]
