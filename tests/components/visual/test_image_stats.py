"""``image_stats`` on real clips: a near-black video, Big Buck Bunny, a greyscale GIF, a portrait phone clip."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from dp_assets.components.core.features import COLUMNS as FEATURE_COLUMNS
from dp_assets.components.visual import image_stats
from dp_assets.components.visual.image_stats import SPEC, ImageStatsConfig
from dp_assets.contract import Status
from dp_assets.media.frames_store import read_frames

from ..harness import TEST_SAMPLING, run_chain


@pytest.fixture(scope="module")
def bbb(media_dir, tmp_path_factory):
    return run_chain(media_dir / "bbb_intro_vp8_vorbis.webm", tmp_path_factory.mktemp("bbb"), SPEC)


@pytest.fixture(scope="module")
def dark(media_dir, tmp_path_factory):
    return run_chain(media_dir / "dark_vp9_opus_noduration.webm", tmp_path_factory.mktemp("dark"), SPEC)


def test_dark_video_is_dark(dark):
    summary = dark.result.summary
    assert dark.result.status is Status.OK
    # 4.9 s at 1 fps -> 5 frames. The picture is near-black throughout: measured mean luma
    # 2.7-3.5 of 255 on every sampled frame, with almost no contrast or detail.
    assert summary["frame_count"] == 5
    assert summary["brightness_max"] < 10
    assert summary["brightness_mean"] == pytest.approx(3.3, abs=1.0)
    assert summary["contrast_max"] < 5
    assert summary["sharpness_max"] < 5


def test_bbb_is_much_brighter_and_starts_black(bbb, dark):
    summary = bbb.result.summary
    # 30 frames at 1 fps; measured mean luma 139.2. The first frame (0.003 s) is the black start
    # of the fade-in, so the minimum is 0 while the mean stays high.
    assert summary["frame_count"] == 30
    assert summary["brightness_mean"] > 100
    assert summary["brightness_mean"] > 20 * dark.result.summary["brightness_mean"]
    rows = bbb.result.table.to_pylist()
    assert rows[0]["pts_s"] < 0.01
    assert rows[0]["brightness"] < 1
    assert summary["brightness_min"] == rows[0]["brightness"]
    assert summary["brightness_max"] > 200  # the bright pink-sky shots
    # A colourful cartoon: Hasler & Suesstrunk call ~45 "averagely" and ~59 "quite" colourful.
    assert 40 < summary["colorfulness_mean"] < 65


def test_brightness_is_bt601_luma(bbb):
    # Cross-check against OpenCV's own BT.601 conversion of the stored frames.
    frames = read_frames(bbb.frames, SPEC.frame_request(ImageStatsConfig(), TEST_SAMPLING))
    expected = [float(cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY).mean()) for im in frames.images]
    got = bbb.result.table.column("brightness").to_pylist()
    np.testing.assert_allclose(got, expected, atol=0.6)  # cv2 rounds luma to integers
    assert bbb.result.table.column("pts_s").to_pylist() == pytest.approx(frames.pts_s.tolist())
    # BT.709 weighs green more and red and blue less: the green burrow shot after 23 s comes out
    # brighter (measured +3.4), the pink-sky shots slightly darker.
    bt709 = SPEC.compute(bbb.ctx, ImageStatsConfig(luma="bt709"), {"frames": bbb.frames})
    assert bt709.summary["luma"] == "bt709"
    gain = np.array(bt709.table.column("brightness").to_pylist()) - np.array(got)
    assert gain.max() > 3
    assert gain.min() < -1


def test_summary_holds_plain_aggregates(bbb):
    summary = bbb.result.summary
    json.dumps(summary)
    # Every image_stats column the features row reads is there.
    assert {k for s, k, _ in FEATURE_COLUMNS.values() if s == "image_stats"} <= set(summary)
    for metric in image_stats.METRICS:
        values = np.array(bbb.result.table.column(metric).to_pylist())
        assert summary[f"{metric}_mean"] == pytest.approx(values.mean())
        assert summary[f"{metric}_std"] == pytest.approx(values.std())
        assert summary[f"{metric}_min"] == values.min()
        assert summary[f"{metric}_max"] == values.max()
        for stat in ("mean", "std", "min", "max"):
            assert type(summary[f"{metric}_{stat}"]) is float


def test_greyscale_gif(media, tmp_path):
    chain = run_chain(media("pigs_in_a_polka_314x273.gif"), tmp_path, SPEC)
    result = chain.result
    assert result.status is Status.OK
    # 3 s at 1 fps, stored at full 314x273 (under the 320 px cap, never upscaled).
    assert result.summary["frame_count"] == 3
    index = chain.frames.table.to_pylist()
    assert {(r["width"], r["height"]) for r in index} == {(314, 273)}
    # This GIF excerpt is black and white (its palette decodes to R = G = B on every pixel), so
    # colourfulness is exactly 0, while its white background makes it bright and sharp-edged.
    assert result.summary["colorfulness_max"] == 0.0
    assert result.summary["brightness_mean"] > 180
    assert result.summary["sharpness_mean"] > 500


def test_portrait_phone_clip(media, tmp_path):
    chain = run_chain(media("iphone_hevc10_hlg_rot90_0p09s.mov"), tmp_path, SPEC)
    result = chain.result
    assert result.status is Status.OK
    # 0.09 s -> a single frame at 1 fps, stored upright as portrait (1080x1920 -> 180x320).
    assert result.summary["frame_count"] == 1
    assert [(r["width"], r["height"]) for r in chain.frames.table.to_pylist()] == [(180, 320)]
    assert result.summary["brightness_std"] == 0.0  # one frame: no spread
    # A sunny promenade under a blue sky: mid-bright, moderately colourful (measured 158 / 26).
    assert 120 < result.summary["brightness_mean"] < 200
    assert 15 < result.summary["colorfulness_mean"] < 40


def test_colourfulness_matches_hasler_suesstrunk_by_hand():
    grey = np.full((8, 8, 3), 128, np.uint8)
    assert image_stats.frame_stats(grey, image_stats.LUMA_WEIGHTS["bt601"], 1)["colorfulness"] == 0.0
    # Half pure red, half pure blue: rg = 255 | 0, yb = 127.5 | -255.
    # sigma = sqrt(127.5^2 + 191.25^2) = 229.85, mu = sqrt(127.5^2 + 63.75^2) = 142.55,
    # M = sigma + 0.3 mu = 272.62.
    image = np.zeros((8, 8, 3), np.uint8)
    image[:4, :, 0] = 255
    image[4:, :, 2] = 255
    stats = image_stats.frame_stats(image, image_stats.LUMA_WEIGHTS["bt601"], 1)
    assert stats["colorfulness"] == pytest.approx(272.62, abs=0.01)
    assert stats["brightness"] == pytest.approx((0.299 * 255 + 0.114 * 255) / 2)


def test_sharpness_drops_when_blurred(bbb):
    frames = read_frames(bbb.frames, SPEC.frame_request(ImageStatsConfig(), TEST_SAMPLING))
    image = np.ascontiguousarray(frames.images[10])
    weights = image_stats.LUMA_WEIGHTS["bt601"]
    sharp = image_stats.frame_stats(image, weights, 1)["sharpness"]
    blurred = image_stats.frame_stats(cv2.GaussianBlur(image, (0, 0), 2.0), weights, 1)["sharpness"]
    assert blurred < sharp / 5


def test_config_and_request():
    with pytest.raises(ValidationError):
        ImageStatsConfig(laplacian_ksize=2)
    with pytest.raises(ValidationError):
        ImageStatsConfig(luma="srgb")
    assert SPEC.frame_request(ImageStatsConfig(), TEST_SAMPLING) == TEST_SAMPLING.default_request
    assert SPEC.upstream == ("frames",)
