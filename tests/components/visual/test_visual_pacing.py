"""``visual_pacing`` on real clips: Big Buck Bunny's four shots, a single-shot clip, clips too short for cuts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dp_assets.components.visual import motion, shot_boundaries, visual_pacing
from dp_assets.components.visual.visual_pacing import SPEC, VisualPacingConfig
from dp_assets.contract import ComponentResult, EmptyReason, Status
from dp_assets.execution import run_component

from ..harness import TEST_SAMPLING, make_context, run_frames


@dataclass
class Pacing:
    shots: ComponentResult
    motion: ComponentResult
    probe: ComponentResult
    result: ComponentResult


def run_pacing(video: Path, root: Path) -> Pacing:
    """probe -> frames (both requests) -> shot_boundaries and motion -> visual_pacing, as in a run."""
    shots_config, motion_config = shot_boundaries.ShotBoundariesConfig(), motion.MotionConfig()
    _, probe, frames = run_frames(
        video,
        root,
        shot_boundaries.SPEC.frame_request(shots_config, TEST_SAMPLING),
        motion.SPEC.frame_request(motion_config, TEST_SAMPLING),
    )
    shots, _ = run_component(shot_boundaries.SPEC, make_context(video, root, "shot_boundaries"), shots_config, {"frames": frames})
    moves, _ = run_component(motion.SPEC, make_context(video, root, "motion"), motion_config, {"frames": frames})
    inputs = {"shot_boundaries": shots, "motion": moves, "video_probe": probe}
    result, _ = run_component(SPEC, make_context(video, root, SPEC.name), VisualPacingConfig(), inputs)
    assert result.error is None, result.error
    return Pacing(shots=shots, motion=moves, probe=probe, result=result)


@pytest.fixture(scope="module")
def bbb(media_dir, tmp_path_factory):
    return run_pacing(media_dir / "bbb_intro_vp8_vorbis.webm", tmp_path_factory.mktemp("bbb"))


def test_bbb_shots_and_cut_rate(bbb):
    result = bbb.result
    assert result.status is Status.OK
    rows = result.table.to_pylist()
    # shot_boundaries finds the three cuts of the clip (11.878, 15.753, 23.003 s; see its tests)
    # over the 30.0 s it analysed: four shots, 3 cuts / 0.5 min = 6 per minute.
    assert [r["start_s"] for r in rows] == pytest.approx([0.0, 11.878, 15.753, 23.003], abs=0.002)
    assert [r["end_s"] for r in rows[:-1]] == [r["start_s"] for r in rows[1:]]
    assert rows[-1]["end_s"] == pytest.approx(30.0, abs=0.01)
    summary = result.summary
    assert summary["shot_count"] == 4 and summary["cut_count"] == 3
    assert summary["cuts_per_minute"] == pytest.approx(6.0, abs=0.01)
    assert summary["mean_shot_length_s"] == pytest.approx(7.5, abs=0.01)
    # Shot lengths 11.88, 3.88, 7.25, 7.00 s -> median (7.00 + 7.25) / 2.
    assert summary["median_shot_length_s"] == pytest.approx(7.12, abs=0.01)
    assert summary["mean_shot_length_s"] == pytest.approx(bbb.shots.summary["mean_shot_length_s"])
    json.dumps(summary)


def test_bbb_motion_per_shot(bbb):
    rows = bbb.result.table.to_pylist()
    pairs = bbb.motion.table.to_pylist()
    # Both components sample at 8 fps on the same timestamps, so each cut's (from, to] interval
    # is exactly one motion pair, and exactly those three pairs are left out.
    assert len(pairs) == 239
    assert sum(r["motion_pairs"] for r in rows) == 239 - 3
    # Shot 0 holds the frames 0.003-11.753 s (95 frames, 94 pairs), shot 1 11.878-15.628 s
    # (31 frames, 30 pairs), and so on.
    assert [r["motion_pairs"] for r in rows] == [94, 30, 57, 55]
    spans = visual_pacing.shot_spans(bbb.shots.table.to_pylist(), bbb.shots.summary["covered_s"])
    inside = [[p for p in pairs if first - 1e-6 <= p["from_pts_s"] and p["to_pts_s"] <= last + 1e-6] for _, _, first, last in spans]
    left_out = [(p["from_pts_s"], p["to_pts_s"]) for p in pairs if not any(p in shot for shot in inside)]
    assert left_out == [(c["from_pts_s"], c["to_pts_s"]) for c in bbb.shots.table.to_pylist()]
    # Each shot's motion is the mean of the pairs inside it.
    for row, shot_pairs in zip(rows, inside):
        assert row["motion_pairs"] == len(shot_pairs)
        assert row["motion_mean"] == pytest.approx(float(np.mean([p["mean"] for p in shot_pairs])))
    # On the frames: the grass close-up (shot 1) is a still camera with a little breeze, the
    # stillest shot (measured 0.004 diagonals/s); the opening shot cranes down from the sky to
    # the meadow and the bird shot has the bird hopping and flapping (both ~0.020).
    motions = [r["motion_mean"] for r in rows]
    assert int(np.argmin(motions)) == 1
    assert motions[0] > 3 * motions[1] and motions[2] > 3 * motions[1]
    summary = bbb.result.summary
    assert summary["shot_motion_mean"] == pytest.approx(float(np.mean(motions)))
    assert summary["shot_motion_max"] == pytest.approx(max(motions))


def test_single_shot_clip_has_zero_cuts_measured(media, tmp_path):
    # Obama's statement is one locked-off shot (shot_boundaries measures 0 cuts, status ok), so
    # a cut rate of 0 is an observation here, and the only shot carries all motion pairs.
    pacing = run_pacing(media("obama_statement_face_speech.mp4"), tmp_path)
    summary = pacing.result.summary
    assert summary["shot_count"] == 1 and summary["cut_count"] == 0
    assert summary["cuts_per_minute"] == 0.0
    (row,) = pacing.result.table.to_pylist()
    assert row["motion_pairs"] == pacing.motion.summary["pair_count"] == 69
    assert row["motion_mean"] == pytest.approx(pacing.motion.summary["motion_mean"])
    assert summary["shot_motion_std"] == 0.0


def test_clip_too_short_for_cuts_is_one_shot_without_a_cut_rate(media, tmp_path):
    # 0.55 s: shot_boundaries is empty too_short (a cut would need a 0.6 s first shot), motion
    # has 4 pairs. Pacing treats the clip as one shot and reports its motion, but no cut rate.
    pacing = run_pacing(media("park_0p55s.mp4"), tmp_path)
    assert pacing.shots.empty_reason == EmptyReason.TOO_SHORT.value
    result = pacing.result
    assert result.status is Status.OK
    assert result.summary["cut_count"] is None and result.summary["cuts_per_minute"] is None
    assert result.summary["shot_count"] == 1
    # The probe's duration (0.553 s, from the container) is the shot's length.
    assert result.summary["mean_shot_length_s"] == pytest.approx(pacing.probe.summary["duration_s"])
    (row,) = result.table.to_pylist()
    assert row["motion_pairs"] == 4
    assert row["motion_mean"] == pytest.approx(pacing.motion.summary["motion_mean"])
    assert any("treated as one shot" in w for w in result.warnings)


def test_clip_too_short_for_both_is_too_short(media, tmp_path):
    # 0.09 s: one frame at 8 fps; neither cuts nor motion exist to pace.
    pacing = run_pacing(media("iphone_hevc10_hlg_rot90_0p09s.mov"), tmp_path)
    assert pacing.result.status is Status.EMPTY
    assert pacing.result.empty_reason == EmptyReason.TOO_SHORT.value


def test_truncated_file_rate_is_over_the_analysed_span(media, tmp_path):
    # The first half of Big Buck Bunny decodes to ~14.4 s: one cut (11.878 s) in 14.5 analysed
    # seconds, not in the 30 s the header announces.
    pacing = run_pacing(media("bbb_intro_vp8_vorbis_TRUNCATED.webm"), tmp_path)
    summary = pacing.result.summary
    assert summary["cut_count"] == 1
    assert summary["analysed_s"] == pytest.approx(14.5, abs=0.1)
    assert summary["cuts_per_minute"] == pytest.approx(60 / summary["analysed_s"])


def test_audio_only_file_passes_the_reason_on(media, tmp_path):
    pacing = run_pacing(media("jfk_inaugural_speech.flac"), tmp_path)
    assert pacing.result.status is Status.EMPTY
    assert pacing.result.empty_reason == EmptyReason.NO_VIDEO_TRACK.value


def test_failed_input_fails(bbb, tmp_path):
    ctx = make_context(Path("x.mp4"), tmp_path, SPEC.name)
    inputs = {"shot_boundaries": bbb.shots, "motion": ComponentResult.failed("flow exploded"), "video_probe": bbb.probe}
    result, _ = run_component(SPEC, ctx, VisualPacingConfig(), inputs)
    assert result.status is Status.ERROR
    assert result.error == "upstream motion failed: flow exploded"


def test_spec():
    assert SPEC.upstream == ("shot_boundaries", "motion", "video_probe")
    assert SPEC.accepts_empty_inputs and not SPEC.tolerates_failed_inputs
    assert SPEC.frame_request is None and not SPEC.models
    assert visual_pacing.shot_spans([], 10.0) == [(0.0, 10.0, 0.0, 10.0)]
