"""``shot_boundaries`` on real clips: Big Buck Bunny's cuts, single-shot clips, too-short clips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from dp_assets.components.core.features import COLUMNS as FEATURE_COLUMNS
from dp_assets.components.visual import shot_boundaries
from dp_assets.components.visual.shot_boundaries import SPEC, ShotBoundariesConfig
from dp_assets.contract import EmptyReason, FrameRequest, Status
from dp_assets.contract import CPU
from dp_assets.media.frames_store import read_frames
from dp_assets.versioning import config_hash
from dp_resources.models import model_signature
from dp_resources.models.transnetv2 import TRANSNETV2

from ..harness import TEST_SAMPLING, run_chain

BBB = "bbb_intro_vp8_vorbis.webm"
# ffmpeg's scene score > 0.3 on this clip (media README).
BBB_REFERENCE_CUTS_S = (11.8, 15.7, 23.0)


@pytest.fixture(scope="module")
def bbb(media_dir, tmp_path_factory):
    return run_chain(media_dir / BBB, tmp_path_factory.mktemp("bbb"), SPEC)


def test_bbb_finds_exactly_the_three_reference_cuts(bbb):
    result = bbb.result
    assert result.status is Status.OK
    times = result.table.column("time_s").to_pylist()
    # Exactly three, verified by dumping the 64x36 frames on either side of each cut as PNG:
    #   11.753 -> 11.878 s: wide meadow under a pink sky with trees -> close-up of grass and a path;
    #   15.628 -> 15.753 s: that grass close-up -> a bird on a branch against a lavender sky;
    #   22.878 -> 23.003 s: the bird with the title text -> the bunny's burrow under a big tree.
    # The rest is one shot each; the 0-2 s fade-in from black is a transition, not a cut.
    assert len(times) == 3
    for found, expected in zip(times, BBB_REFERENCE_CUTS_S):
        assert abs(found - expected) <= 0.5
    # The time is the first sampled frame of the new shot, so it equals to_pts_s, and the real
    # cut lies within one 8 fps sample interval before it.
    rows = result.table.to_pylist()
    assert [r["to_pts_s"] for r in rows] == times
    for row in rows:
        assert row["to_pts_s"] - row["from_pts_s"] == pytest.approx(0.125, abs=0.01)
        assert row["score"] >= shot_boundaries.DEFAULT_MIN_SCORE
    # Observed: 11.878, 15.753, 23.003 (webm millisecond timestamps with a 3 ms start offset).
    assert times == pytest.approx([11.878, 15.753, 23.003], abs=0.002)


def test_bbb_summary(bbb):
    summary = bbb.result.summary
    assert summary["cut_count"] == 3
    assert summary["shot_count"] == 4
    assert summary["cut_times_s"] == bbb.result.table.column("time_s").to_pylist()
    # 240 frames at 8 fps from 0.003 s to 29.878 s, plus the last frame's 0.125 s.
    assert summary["analysed_frames"] == 240
    assert summary["sample_interval_s"] == pytest.approx(0.125, abs=1e-3)
    assert summary["covered_s"] == pytest.approx(30.0, abs=0.01)
    assert summary["mean_shot_length_s"] == pytest.approx(summary["covered_s"] / 4)
    # Plain Python values only: the summary becomes Dagster metadata and feature columns.
    json.dumps(summary)
    assert {k for s, k, _ in FEATURE_COLUMNS.values() if s == "shot_boundaries"} <= set(summary)
    assert all(type(v) in (int, float, list) for k, v in summary.items() if k != "detector")
    assert summary["detector"] == "histogram"
    # The three are hard cuts: nothing gradual in the clip (its fade-in from black starts it).
    assert (summary["hard_cut_count"], summary["gradual_count"]) == (3, 0)
    assert bbb.result.table.column("kind").to_pylist() == ["cut"] * 3
    assert all(type(t) is float for t in summary["cut_times_s"])


def test_bbb_fade_in_is_rejected_by_the_adaptive_test(bbb):
    # Same frames, detection only: with the adaptive test off (ratio 1) the fade-in's large
    # frame-to-frame changes (pairs up to ~0.45) pass the fixed threshold and yield a false cut
    # in the first 2 s; with the default ratio every pair there is about as different as its
    # neighbours and none is reported.
    no_adaptive = SPEC.compute(bbb.ctx, ShotBoundariesConfig(adaptive_ratio=1.0), {"frames": bbb.frames})
    fade_cuts = [t for t in no_adaptive.summary["cut_times_s"] if t < 2.1]
    assert fade_cuts, "the fade-in should exceed the fixed threshold on its own"
    assert not [t for t in bbb.result.summary["cut_times_s"] if t < 2.1]


def test_min_shot_length_keeps_the_stronger_of_two_close_cuts(bbb):
    # 11.878 and 15.753 are 3.9 s apart; with 5 s minimum shots only the stronger one (the
    # 15.753 cut, score ~0.40 vs ~0.28) survives, and 23.003 is 7.25 s after it.
    config = ShotBoundariesConfig(min_shot_s=5.0)
    result = SPEC.compute(bbb.ctx, config, {"frames": bbb.frames})
    assert result.summary["cut_times_s"] == pytest.approx([15.753, 23.003], abs=0.002)


def test_truncated_bbb_is_analysed_up_to_the_damage(media, tmp_path):
    # The first half of the same file: decodable to ~14.4 s, so only the 11.878 s cut is in it.
    chain = run_chain(media("bbb_intro_vp8_vorbis_TRUNCATED.webm"), tmp_path, SPEC)
    assert chain.frames.summary["damaged"] is True
    assert chain.result.status is Status.OK
    assert chain.result.summary["cut_times_s"] == pytest.approx([11.878], abs=0.002)
    assert chain.result.summary["covered_s"] == pytest.approx(14.5, abs=0.1)


@pytest.mark.parametrize(
    "name, duration_s",
    [
        # One continuous shot of Obama and Biden at lecterns (checked on a 1 fps contact sheet);
        # the strongest change is the lower-third caption sliding in at ~2.4 s.
        ("obama_statement_face_speech.mp4", 8.7),
        # One continuous shot of a man talking in a car; the view through the window changes.
        ("carphone_qcif_face_noaudio.mp4", 4.0),
    ],
)
def test_single_shot_clips_have_no_cuts(media, tmp_path, name, duration_s):
    chain = run_chain(media(name), tmp_path, SPEC)
    summary = chain.result.summary
    assert chain.result.status is Status.OK
    assert summary["cut_count"] == 0
    assert summary["shot_count"] == 1
    assert chain.result.table.num_rows == 0
    assert summary["covered_s"] == pytest.approx(duration_s, abs=0.2)
    assert summary["mean_shot_length_s"] == summary["covered_s"]


def test_obama_caption_stays_below_the_cut_threshold(media, tmp_path):
    # The margin behind "no cut" above: the largest frame-to-frame change in the clip is the
    # caption appearing (~2.4 s), scored about half of the threshold.
    chain = run_chain(media("obama_statement_face_speech.mp4"), tmp_path, SPEC)
    config = ShotBoundariesConfig()
    frames = read_frames(chain.frames, SPEC.frame_request(config, TEST_SAMPLING))
    scores = shot_boundaries.pair_distances(shot_boundaries.hsv_histograms(np.asarray(frames.images)))
    peak = int(np.argmax(scores))
    assert 2.2 <= frames.pts_s[peak + 1] <= 2.6
    assert 0.05 < scores[peak] < config.min_score * 0.75


@pytest.mark.parametrize(
    "name, frames_sampled",
    [
        # 0.55 s: 5 frames at 8 fps over 0.50 s, less than the 0.6 s cuts are counted over.
        ("park_0p55s.mp4", 5),
        # 0.09 s: a single frame, nothing to compare.
        ("iphone_hevc10_hlg_rot90_0p09s.mov", 1),
    ],
)
def test_too_short_clips_are_empty_not_zero_cuts(media, tmp_path, name, frames_sampled):
    # A count of cuts in half a second says nothing about pacing, so these clips report
    # too_short and carry no cut count into the features.
    chain = run_chain(media(name), tmp_path, SPEC)
    assert chain.frames.status is Status.OK
    assert chain.result.status is Status.EMPTY
    assert chain.result.empty_reason == EmptyReason.TOO_SHORT.value
    detail = chain.result.summary["empty_detail"]
    assert detail.startswith(f"{frames_sampled} frame(s) sampled")
    assert detail.endswith(f"cuts are counted over at least {shot_boundaries.MIN_ANALYSED_S:g} s")
    assert shot_boundaries.MIN_ANALYSED_S == 0.6


def test_audio_only_file_is_empty_with_the_frames_reason(media, tmp_path):
    chain = run_chain(media("jfk_inaugural_speech.flac"), tmp_path, SPEC)
    assert chain.frames.empty_reason == EmptyReason.NO_VIDEO_TRACK.value
    assert chain.result.status is Status.EMPTY
    assert chain.result.empty_reason == EmptyReason.NO_VIDEO_TRACK.value


def test_pair_distances_range():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(36, 64, 3), dtype=np.uint8)
    red = np.zeros((36, 64, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((36, 64, 3), np.uint8)
    blue[..., 2] = 255
    hists = shot_boundaries.hsv_histograms(np.stack([frame, frame, red, blue]))
    np.testing.assert_allclose(hists.sum(axis=2), 1.0)
    scores = shot_boundaries.pair_distances(hists)
    assert scores[0] == pytest.approx(0.0, abs=1e-6)  # identical frames
    # Pure red vs pure blue: disjoint hue, same saturation and value -> 1/3 of the maximum.
    assert scores[2] == pytest.approx(1 / 3, abs=1e-6)
    assert np.all((scores >= 0) & (scores <= 1))


def test_config_and_request():
    with pytest.raises(ValidationError):
        ShotBoundariesConfig(analysis_fps=0)
    with pytest.raises(ValidationError):
        ShotBoundariesConfig(threshold=0.3)  # unknown key
    with pytest.raises(ValidationError):
        ShotBoundariesConfig(detector="pyscenedetect")
    request = SPEC.frame_request(ShotBoundariesConfig(), TEST_SAMPLING)
    assert request == FrameRequest(fps=8.0, max_side=64, max_frames=shot_boundaries.DEFAULT_MAX_FRAMES)
    assert SPEC.upstream == ("frames",)
    # TransNetV2 reads (nearly) every frame, and its weights sign the output (and run on the GPU)
    # only when it is the detector; the histogram detector uses no model.
    transnet = ShotBoundariesConfig(detector="transnetv2")
    assert SPEC.frame_request(transnet, TEST_SAMPLING) == FrameRequest(fps=25.0, max_side=64, max_frames=22_500)
    assert SPEC.models_for(ShotBoundariesConfig()) == () and SPEC.models_for(transnet) == (TRANSNETV2,)
    assert (SPEC.uses_gpu_for(ShotBoundariesConfig()), SPEC.uses_gpu_for(transnet)) == (False, True)
    assert model_signature(SPEC.models_for(transnet), CPU) != model_signature(SPEC.models_for(ShotBoundariesConfig()), CPU)
