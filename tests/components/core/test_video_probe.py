"""``video_probe`` on real files: sizes after rotation, rates and counts from the packets, damage."""

from pathlib import Path

import pytest

from dp_assets.components.core import video_probe
from dp_assets.contract import ComponentContext, SamplingPolicy, Status
from dp_assets.execution import run_component

from ...faults.corpus import claimed_size


def probe(path: Path, tmp_path: Path):
    ctx = ComponentContext(
        video_path=path, video_id="t", platform_id="t", work_dir=tmp_path, frames_dir=tmp_path / "frames", sampling=SamplingPolicy("t", 1.0, 10, 64)
    )
    result, _ = run_component(video_probe.SPEC, ctx, video_probe.VideoProbeConfig(), {})
    return result


def test_qcif_clip_without_audio(media, tmp_path):
    result = probe(media("carphone_qcif_face_noaudio.mp4"), tmp_path)
    s = result.summary
    assert result.status is Status.OK
    assert (s["width"], s["height"], s["frame_count"], s["video_codec"]) == (176, 144, 120, "h264")
    assert s["fps_avg"] == pytest.approx(30000 / 1001) and s["fps_variable"] is False
    assert s["duration_s"] == pytest.approx(4.004) and s["has_audio"] is False and s["audio_codec"] is None


def test_speech_clip_has_its_audio_track(media, tmp_path):
    s = probe(media("obama_statement_face_speech.mp4"), tmp_path).summary
    assert (s["width"], s["height"], s["frame_count"]) == (320, 240, 105)
    assert (s["has_audio"], s["audio_codec"], s["audio_sample_rate"]) == (True, "aac", 24000)
    assert s["duration_s"] == pytest.approx(8.713, abs=0.01)


def test_rotated_phone_clips_report_the_display_size(media, tmp_path):
    portrait = probe(media("iphone_hevc10_hlg_rot90_0p09s.mov"), tmp_path).summary
    assert (portrait["coded_width"], portrait["coded_height"]) == (1920, 1080)
    assert (portrait["width"], portrait["height"], portrait["rotation"]) == (1080, 1920, -90)
    assert portrait["video_codec"] == "hevc"
    upside_down = probe(media("phone_rot180_vfr.mp4"), tmp_path).summary
    assert (upside_down["width"], upside_down["height"], upside_down["rotation"]) == (1280, 720, -180)
    assert upside_down["fps_variable"] is True and upside_down["frame_count"] == 25


def test_audio_only_file_has_no_video(media, tmp_path):
    s = probe(media("jfk_inaugural_speech.flac"), tmp_path).summary
    assert (s["has_video"], s["has_audio"], s["audio_codec"], s["duration_s"]) == (False, True, "flac", 11.0)


def test_truncated_mp4_is_an_error_with_the_decoders_reason(media, tmp_path):
    result = probe(media("bbb_h264_aac51_TRUNCATED.mp4"), tmp_path)
    assert result.status is Status.ERROR
    assert result.error.startswith("cannot decode ") and result.error.endswith("(moov atom not found)")


@pytest.mark.parametrize("width, height, over", [(8192, 8192, False), (8193, 8192, True), (100_000, 100_000, True)])
def test_frame_size_limit_is_checked_before_decoding(tmp_path, width, height, over):
    # A Matroska header that states the size over packets of zeros (tests/faults/corpus.py).
    path = claimed_size(tmp_path, width, height)
    result = probe(path, tmp_path / "work")
    assert result.status is Status.ERROR
    if over:
        assert result.error == (
            f"{path}: the video stream states a frame size of {width}x{height} ({width * height / 1e6:,.0f} Mpx), "
            "over the limit of 67.1 Mpx (MAX_FRAME_PIXELS, 8192x8192); not decoded"
        )
    else:
        # At the limit the size is accepted and the decoder gets to say what is wrong: no JPEG data.
        assert result.error == f"cannot decode {path}: Invalid data found when processing input while probing"
