"""``video_probe`` + ``frames`` on real media: rotation, VFR, lying headers, damage, privacy."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pyarrow as pa
import pytest

from dp_assets.components.core import video_probe
from dp_assets.contract import EmptyReason, FrameRequest, Status
from dp_assets.media.container import MediaError
from dp_assets.media.frames_store import read_frames

from ..harness import make_context, run_frames

SMALL = FrameRequest(fps=1.0, max_side=320)


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _first_raw_frame(path) -> np.ndarray:
    """The first decoded frame as coded, without the display rotation."""
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def _mean_abs_diff(stored: np.ndarray, raw: np.ndarray) -> float:
    h, w = stored.shape[:2]
    assert raw.shape[0] * w == pytest.approx(raw.shape[1] * h, rel=0.02), "orientation mismatch"
    resized = cv2.resize(np.ascontiguousarray(raw), (w, h), interpolation=cv2.INTER_AREA)
    return float(np.abs(resized.astype(np.float64) - stored).mean())


def test_rotated_iphone_clip_is_portrait_and_upright(media, tmp_path):
    path = media("iphone_hevc10_hlg_rot90_0p09s.mov")
    _, probe, result = run_frames(path, tmp_path, SMALL)
    summary = probe.summary
    assert (summary["coded_width"], summary["coded_height"]) == (1920, 1080)
    assert summary["rotation"] == -90
    assert (summary["width"], summary["height"]) == (1080, 1920)
    assert result.status is Status.OK
    frames = read_frames(result, SMALL)
    assert frames.images.shape == (1, 320, 180, 3)
    image = frames.images[0].astype(np.float64)
    # Viewed as PNG: a seaside promenade, blue sky with white clouds in the top third, the beach
    # and sea across the middle, a man and a woman walking on grey paving at the bottom, all
    # upright. So the top quarter is blue and bright, the bottom quarter grey and darker.
    top, bottom = image[:80], image[-80:]
    assert top[..., 2].mean() - top[..., 0].mean() > 30  # blue sky (measured B-R 53)
    assert _luma(top).mean() > _luma(bottom).mean() + 30  # measured 187 vs 135
    # The same picture as the coded frame turned 90 degrees clockwise (display matrix -90),
    # not counter-clockwise: measured 0.5 vs 79 mean absolute difference.
    raw = _first_raw_frame(path)
    assert _mean_abs_diff(image, np.rot90(raw, k=-1)) < 3
    assert _mean_abs_diff(image, np.rot90(raw, k=1)) > 40


def test_iphone_gps_location_is_not_copied(media, tmp_path):
    path = media("iphone_hevc10_hlg_rot90_0p09s.mov")
    # The file does carry the uploader's position, so the check below is not vacuous.
    with av.open(str(path)) as container:
        assert container.metadata["com.apple.quicktime.location.ISO6709"].startswith("+38.3446-000.4792")
    ctx = make_context(path, tmp_path, "video_probe")
    probe = video_probe.compute(ctx, video_probe.VideoProbeConfig(), {})
    outputs = [repr(v) for v in probe.summary.values()] + probe.warnings
    outputs += [repr(v) for v in probe.table.to_pylist()[0].values()]
    assert not [o for o in outputs if "38.3446" in o or "0.4792" in o]


def test_phone_rot180_vfr(media, tmp_path):
    path = media("phone_rot180_vfr.mp4")
    _, probe, result = run_frames(path, tmp_path, SMALL)
    summary = probe.summary
    assert summary["fps_variable"] is True
    assert abs(summary["rotation"]) == 180
    # A half turn keeps the display size.
    assert (summary["width"], summary["height"]) == (1280, 720)
    assert summary["frame_count"] == 25
    frames = read_frames(result, SMALL)
    assert frames.images.shape[1:] == (180, 320, 3)
    image = frames.images[0].astype(np.float64)
    # Viewed as PNG: a living room with a wood stove, a white wall above it and a blue-grey carpet
    # at the bottom, upright; the coded picture is upside down, so the stored frame must be it
    # turned by 180 degrees (measured 0.9 vs 112 mean absolute difference).
    assert _luma(image[:45]).mean() > _luma(image[-45:]).mean() + 50  # measured 160 vs 71
    raw = _first_raw_frame(path)
    assert _mean_abs_diff(image, np.rot90(raw, k=2)) < 3
    assert _mean_abs_diff(image, raw) > 40


def test_avi_frame_count_comes_from_packets_not_header(media, tmp_path):
    path = media("tree_cinepak_noaudio.avi")
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 444  # what the AVI header claims
    _, probe, result = run_frames(path, tmp_path, FrameRequest(fps=None, max_side=64))
    assert probe.summary["frame_count"] == 68
    assert probe.summary["has_audio"] is False
    # Every stored frame is a real decoded one: fps=None asks for all of them.
    assert result.summary["decoded_frames"] == 68
    assert len(read_frames(result, FrameRequest(fps=None, max_side=64))) == 68


def test_truncated_webm_decodes_up_to_the_damage(media, tmp_path):
    _, probe, result = run_frames(media("bbb_intro_vp8_vorbis_TRUNCATED.webm"), tmp_path, SMALL)
    assert probe.summary["truncated"] is True
    assert probe.summary["duration_s"] == pytest.approx(30.0, abs=0.01)  # the header's claim
    assert probe.summary["data_end_s"] == pytest.approx(14.46, abs=0.05)
    assert result.status is Status.OK
    assert result.summary["damaged"] is True
    assert result.summary["decoded_until_s"] == pytest.approx(14.42, abs=0.05)
    assert any("truncated" in w and "14.42" in w for w in result.warnings)
    frames = read_frames(result, SMALL)
    # 1 fps up to 14.4 s: 0.003, 1.003, ..., 14.003.
    assert len(frames) == 15
    assert frames.pts_s[-1] == pytest.approx(14.003, abs=0.01)


def test_truncated_mp4_raises_a_readable_media_error(media, tmp_path):
    path = media("bbb_h264_aac51_TRUNCATED.mp4")
    ctx = make_context(path, tmp_path, "video_probe")
    with pytest.raises(MediaError) as info:
        video_probe.compute(ctx, video_probe.VideoProbeConfig(), {})
    message = str(info.value)
    assert "bbb_h264_aac51_TRUNCATED.mp4" in message
    assert "moov atom not found" in message
    assert info.value.path == str(path)


def test_audio_only_file_has_no_frames(media, tmp_path):
    _, probe, result = run_frames(media("jfk_inaugural_speech.flac"), tmp_path, SMALL)
    assert probe.summary["has_video"] is False
    assert probe.summary["has_audio"] is True
    assert result.status is Status.EMPTY
    assert result.empty_reason == EmptyReason.NO_VIDEO_TRACK.value
    assert "flac" in result.summary["empty_detail"]


def test_requests_share_a_tier_and_max_frames_spans_the_video(media, tmp_path):
    # Three requests on one 64 px tier: 1 fps, 8 fps, and 8 fps capped at 10 frames. The cap
    # lowers the rate to 10 / 30 s so the 10 frames reach the end of the video.
    one_fps = FrameRequest(fps=1.0, max_side=64)
    dense = FrameRequest(fps=8.0, max_side=64)
    capped = FrameRequest(fps=8.0, max_side=64, max_frames=10)
    _, _, result = run_frames(media("bbb_intro_vp8_vorbis.webm"), tmp_path, one_fps, dense, capped)
    assert result.summary["tiers"] == {"64": 240}  # the union, each frame stored once
    assert isinstance(result.table, pa.Table)
    a, b, c = (read_frames(result, r) for r in (one_fps, dense, capped))
    assert (len(a), len(b), len(c)) == (30, 240, 10)
    np.testing.assert_allclose(np.diff(a.pts_s), 1.0, atol=0.05)
    np.testing.assert_allclose(np.diff(b.pts_s), 0.125, atol=0.01)
    np.testing.assert_allclose(np.diff(c.pts_s), 3.0, atol=0.05)
    assert c.pts_s[-1] > 26.9
    # A 1 fps frame is the very same stored frame as the 8 fps one at that time.
    np.testing.assert_array_equal(a.images[3], b.images[np.searchsorted(b.pts_s, a.pts_s[3])])
