"""``motion`` on real clips: handheld phone footage, a car ride, a talking head, a tree on a tripod, a black video."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from dp_assets.components.visual import motion
from dp_assets.components.visual.motion import SPEC, MotionConfig
from dp_assets.contract import EmptyReason, FrameRequest, Status
from dp_assets.media.frames_store import read_frames

from ..harness import TEST_SAMPLING, run_chain

STATIC = motion.DEFAULT_STATIC_THRESHOLD

CLIPS = {
    # Handheld phone footage swinging across a living room (blurred frames on a 3-frame sheet).
    "phone": "phone_rot180_vfr.mp4",
    # A man talking in a moving car: head movements plus the landscape passing the window.
    "carphone": "carphone_qcif_face_noaudio.mp4",
    # Two men at lecterns; the camera tilts and closes in during the first ~2.7 s, then holds.
    "obama": "obama_statement_face_speech.mp4",
    # A tree filmed from a fixed camera; a hand enters the picture from ~24 s.
    "tree": "tree_cinepak_noaudio.avi",
    # Near-black throughout.
    "dark": "dark_vp9_opus_noduration.webm",
}


@pytest.fixture(scope="module")
def chains(media_dir, tmp_path_factory):
    return {key: run_chain(media_dir / name, tmp_path_factory.mktemp(key), SPEC) for key, name in CLIPS.items()}


def _rows(chain):
    return chain.result.table.to_pylist()


def test_motion_ranks_the_clips_as_seen(chains):
    means = {key: chain.result.summary["motion_mean"] for key, chain in chains.items()}
    # Measured (frame diagonals per second): phone 0.156, carphone 0.040, obama 0.010,
    # tree 0.0038, dark 0.00003.
    assert means["phone"] > means["carphone"] > means["obama"] > means["tree"] > means["dark"]
    assert means["phone"] > 3 * means["carphone"]
    assert means["phone"] > 0.1
    for chain in chains.values():
        summary = chain.result.summary
        assert summary["static_ratio"] + summary["dynamic_ratio"] <= 1
        assert summary["motion_p95"] >= summary["motion_median"]
        json.dumps(summary)


def test_handheld_phone_is_mostly_dynamic(chains):
    summary = chains["phone"].result.summary
    # 2.4 s at 8 fps of a ~10.5 fps VFR file -> 19 frames, 18 pairs; 15 of them exceed a
    # twentieth of the diagonal per second (measured 0.05-0.38), the last ones slow down.
    assert summary["pair_count"] == 18
    assert summary["dynamic_ratio"] >= 0.75
    assert summary["static_ratio"] == 0.0


def test_dark_video_is_static(chains):
    summary = chains["dark"].result.summary
    # Nothing visible moves: measured at most 0.00006 diagonals per second.
    assert summary["static_ratio"] == 1.0
    assert summary["dynamic_ratio"] == 0.0
    assert summary["motion_p95"] < 0.001


def test_obama_camera_move_then_still_shot(chains):
    rows = _rows(chains["obama"])
    # Frames dumped at 4 fps: until ~2.7 s the lectern slides down out of the frame (the camera
    # tilts up and closes in), after that the shot is locked off and only the speakers move.
    moving = [r["mean"] for r in rows if r["to_pts_s"] <= 2.7]
    still = [r["mean"] for r in rows if r["from_pts_s"] >= 3.2]
    assert min(moving) > 2 * STATIC  # measured >= 0.0145
    assert np.median(still) < STATIC  # measured median 0.0035
    assert max(still) < 0.02  # a hand gesture peaks at 0.012
    assert np.mean(moving) > 4 * np.mean(still)


def test_tree_is_static_until_a_hand_enters(chains):
    rows = _rows(chains["tree"])
    # The AVI holds 68 frames over 29.6 s (~2.3 fps of real frames), so 8 fps sampling gets
    # every frame and pairs are ~0.4 s apart. Leaves sway on a fixed camera: every pair before
    # 23 s measures 0.0005-0.0034, below the static threshold. From 24 s a hand reaches into
    # the picture from the right.
    before = [r["mean"] for r in rows if r["to_pts_s"] < 23.2]
    after = [r["mean"] for r in rows if r["from_pts_s"] > 23.9]
    assert chains["tree"].result.summary["pair_count"] == 67
    assert len(before) == 53 and max(before) < STATIC
    assert min(after) > STATIC
    assert np.mean(after) > 5 * np.mean(before)
    summary = chains["tree"].result.summary
    assert summary["sample_interval_s"] == pytest.approx(0.4, abs=0.05)
    assert summary["static_ratio"] == pytest.approx(sum(r["mean"] < STATIC for r in rows) / len(rows))


def test_values_are_per_second_of_video(chains):
    chain = chains["obama"]
    rows = _rows(chain)
    # The clip is ~12 fps with jitter: 8 fps ticks pick frames alternately 1/6 s and 1/12 s apart.
    intervals = [round(r["to_pts_s"] - r["from_pts_s"], 3) for r in rows[:6]]
    assert intervals == [0.167, 0.083, 0.167, 0.083, 0.167, 0.083]
    # A row's values are the pixel flow between its two frames over the diagonal and the
    # interval: recompute one pair from the stored frames.
    frames = read_frames(chain.frames, SPEC.frame_request(MotionConfig(), TEST_SAMPLING))
    gray = [cv2.cvtColor(np.asarray(frames.images[k]), cv2.COLOR_RGB2GRAY) for k in (2, 3)]
    speed = motion.flow_magnitude(*gray) / (frames.pts_s[3] - frames.pts_s[2])
    assert rows[2]["from_pts_s"] == frames.pts_s[2]
    assert rows[2]["mean"] == pytest.approx(float(speed.mean()))
    assert rows[2]["p95"] == pytest.approx(float(np.percentile(speed, 95)))


def test_flow_magnitude_of_a_known_shift(media, tmp_path):
    # A real textured frame (Big Buck Bunny's meadow at 11 s, 160x90) against itself shifted
    # 3 px right: the flow should be 3 px everywhere, i.e. 3 / 183.6 of the diagonal.
    chain = run_chain(media("bbb_intro_vp8_vorbis.webm"), tmp_path, SPEC)
    frames = read_frames(chain.frames, SPEC.frame_request(MotionConfig(), TEST_SAMPLING))
    index = int(np.argmin(np.abs(frames.pts_s - 11.0)))
    gray = cv2.cvtColor(np.asarray(frames.images[index]), cv2.COLOR_RGB2GRAY)
    shifted = cv2.warpAffine(gray, np.float32([[1, 0, 3], [0, 1, 0]]), (gray.shape[1], gray.shape[0]), borderMode=cv2.BORDER_REFLECT)
    magnitude = motion.flow_magnitude(gray, shifted)
    diagonal = float(np.hypot(*gray.shape))
    assert gray.shape == (90, 160)
    # Median over the interior (the reflected border column has no true shift).
    assert float(np.median(magnitude[10:-10, 10:-10])) * diagonal == pytest.approx(3.0, rel=0.1)
    assert float(np.median(motion.flow_magnitude(gray, gray))) < 1e-3


def test_too_short_clip_is_empty(media, tmp_path):
    # 0.09 s: a single frame at 8 fps, no pair to compare.
    chain = run_chain(media("iphone_hevc10_hlg_rot90_0p09s.mov"), tmp_path, SPEC)
    assert chain.result.status is Status.EMPTY
    assert chain.result.empty_reason == EmptyReason.TOO_SHORT.value
    assert chain.result.summary["empty_detail"] == "1 frame(s) sampled at 8 fps; motion needs two"


def test_short_clip_still_has_pairs(media, tmp_path):
    # 0.55 s: 5 frames at 8 fps -> 4 pairs, enough for motion (unlike cuts).
    chain = run_chain(media("park_0p55s.mp4"), tmp_path, SPEC)
    assert chain.result.status is Status.OK
    assert chain.result.summary["pair_count"] == 4


def test_config_and_request():
    with pytest.raises(ValidationError):
        MotionConfig(analysis_fps=0)
    with pytest.raises(ValidationError):
        MotionConfig(winsize=21)  # unknown key
    assert SPEC.frame_request(MotionConfig(), TEST_SAMPLING) == FrameRequest(fps=8.0, max_side=160, max_frames=2400)
    assert SPEC.upstream == ("frames",) and not SPEC.models
