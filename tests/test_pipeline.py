"""One real video at a time through the whole baseline graph, as a real Dagster run."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dp_assets.components.core.features import OUTPUT_SCHEMA as FEATURES_SCHEMA
from tests.pipeline_helpers import Pipeline


@pytest.fixture
def pipeline(tmp_path) -> Pipeline:
    return Pipeline(tmp_path)


def test_big_buck_bunny_end_to_end(pipeline, media):
    outcome = pipeline.process(media("bbb_intro_vp8_vorbis.webm"), "bbb")
    assert outcome.ok, outcome.manifest.run_error
    statuses = {e.component: e.status for e in outcome.manifest.components}
    assert set(statuses.values()) == {"ok"}, statuses
    row = pipeline.features(outcome)
    # The README of ../shared/media lists scene changes near 11.8, 15.7 and 23.0 s in this clip.
    assert row["cut_count"] >= 3
    cuts = pipeline.entry(outcome, "shot_boundaries")
    table = pq.read_table(Path(cuts.artifact_dir) / "data.parquet").to_pylist()
    found = [r["time_s"] for r in table]
    for expected in (11.8, 15.7, 23.0):
        assert min(abs(t - expected) for t in found) < 0.5, (expected, found)
    assert row["duration_s"] == pytest.approx(30.0, abs=0.1)
    assert (row["width"], row["height"]) == (1280, 720)
    assert row["integrated_lufs"] is not None and -40 < row["integrated_lufs"] < -5
    # The features file has exactly the declared training schema.
    features_file = Path(pipeline.entry(outcome, "features").artifact_dir) / "data.parquet"
    assert pq.read_schema(features_file).remove_metadata().equals(FEATURES_SCHEMA)
    # The manifest lists every component with versions and timings.
    manifest = outcome.manifest_path.read_text()
    assert '"run_status": "ok"' in manifest
    assert all(e.wall_seconds is not None and e.code_version for e in outcome.manifest.components)


def test_truncated_mp4_fails_with_the_decoders_reason(pipeline, media):
    outcome = pipeline.process(media("bbb_h264_aac51_TRUNCATED.mp4"))
    assert not outcome.ok
    probe = pipeline.entry(outcome, "video_probe")
    assert probe.status == "error"
    assert "bbb_h264_aac51_TRUNCATED.mp4" in probe.error and "moov atom not found" in probe.error
    assert outcome.manifest.failed_components == ["video_probe"]
    # Fail-fast: nothing downstream of the failed required component ran.
    assert {e.status for e in outcome.manifest.components if e.component != "video_probe"} == {"not_executed"}
    assert "moov atom not found" in outcome.manifest.run_error


def test_truncated_webm_uses_frames_up_to_the_damage(pipeline, media):
    outcome = pipeline.process(media("bbb_intro_vp8_vorbis_TRUNCATED.webm"))
    assert outcome.ok, outcome.manifest.run_error
    frames = pipeline.entry(outcome, "frames")
    assert frames.status == "ok"
    assert any("truncated" in w for w in frames.warnings), frames.warnings
    assert pipeline.features(outcome)["cut_count"] >= 1  # the 11.8 s cut lies before the damage (~14.4 s)


def test_audio_only_flac_gives_empty_visual_components(pipeline, media):
    outcome = pipeline.process(media("jfk_inaugural_speech.flac"))
    assert outcome.ok, outcome.manifest.run_error
    for name in ("frames", "shot_boundaries", "image_stats"):
        entry = pipeline.entry(outcome, name)
        assert (entry.status, entry.empty_reason) == ("empty", "no_video_track"), name
    assert pipeline.entry(outcome, "loudness").status == "ok"
    row = pipeline.features(outcome)
    assert row["has_video"] is False and row["brightness_mean"] is None
    assert row["image_stats_empty_reason"] == "no_video_track"


@pytest.mark.parametrize("clip", ["carphone_qcif_face_noaudio.mp4", "tree_cinepak_noaudio.avi", "pigs_in_a_polka_314x273.gif"])
def test_files_without_audio_give_no_audio_track(pipeline, media, clip):
    outcome = pipeline.process(media(clip))
    assert outcome.ok, outcome.manifest.run_error
    for name in ("audio_waveform", "loudness"):
        entry = pipeline.entry(outcome, name)
        assert (entry.status, entry.empty_reason) == ("empty", "no_audio_track"), name
    assert pipeline.entry(outcome, "image_stats").status == "ok"


@pytest.mark.parametrize(
    "clip",
    [
        "iphone_hevc10_hlg_rot90_0p09s.mov",
        "phone_rot180_vfr.mp4",
        "screenrec_vfr_3026x1386.mp4",
        "dark_vp9_opus_noduration.webm",
        "screenrec_h264_noduration.mkv",
        "park_0p55s.mp4",
        "obama_statement_face_speech.mp4",
    ],
)
def test_odd_but_valid_files_go_through(pipeline, media, clip):
    outcome = pipeline.process(media(clip))
    assert outcome.ok, outcome.manifest.run_error
    assert pipeline.entry(outcome, "features").status == "ok"


def test_rotated_mov_is_portrait_and_leaks_no_location(pipeline, media):
    outcome = pipeline.process(media("iphone_hevc10_hlg_rot90_0p09s.mov"))
    row = pipeline.features(outcome)
    assert (row["width"], row["height"]) == (1080, 1920)
    # The file's QuickTime tags hold the uploader's GPS position (+38.3446-000.4792).
    for path in Path(pipeline.store.root).rglob("*"):
        if path.is_file() and path.suffix in (".json", ".parquet"):
            assert b"38.3446" not in path.read_bytes(), path


def test_dark_clip_has_low_brightness(pipeline, media):
    dark = pipeline.features(pipeline.process(media("dark_vp9_opus_noduration.webm")))
    # Near-black picture (see ../shared/media/README.md).
    assert dark["brightness_mean"] < 30
    assert dark["duration_s"] == pytest.approx(4.94, abs=0.1)  # no header duration: from packets
