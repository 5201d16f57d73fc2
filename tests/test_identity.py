"""A video is (platform_id, video_id) everywhere, and a repost of the same bytes reuses every result.

Through the real graph on a throwaway instance, and through ``dp`` in a subprocess where the
user-facing message is what is tested.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dp_assets.cache import check_artifact
from dp_assets.partitions import VIDEO_PARTITIONS_NAME
from dp_resources.ids import InvalidIdError, VideoKey, check_id
from tests.pipeline_helpers import Pipeline

PROJECT = Path(__file__).resolve().parent.parent
SKELETON = {"video_probe", "frames", "shot_boundaries", "image_stats", "audio_waveform", "loudness", "features"}


@pytest.fixture
def pipeline(tmp_path, database_url) -> Pipeline:
    return Pipeline(tmp_path, database_url)


def dp(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DP_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run([sys.executable, "-m", "dp_assets.cli", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def test_one_video_id_on_two_platforms_keeps_both_videos(pipeline, media):
    a = pipeline.process(media("obama_statement_face_speech.mp4"), "x", platform_id="a")
    b = pipeline.process(media("carphone_qcif_face_noaudio.mp4"), "x", platform_id="b")
    assert a.ok and b.ok and not b.served_from_cache
    assert pipeline.video("x", "a").uri.endswith("obama_statement_face_speech.mp4")
    assert pipeline.video("x", "b").uri.endswith("carphone_qcif_face_noaudio.mp4")
    assert pipeline.features(a)["has_audio"] is True and pipeline.features(b)["has_audio"] is False
    assert set(pipeline.instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME)) == {"a/x", "b/x"}
    assert {r.tags["dagster/partition"] for r in pipeline.instance.get_runs()} == {"a/x", "b/x"}
    # each keeps its own cached result
    again = pipeline.process(media("obama_statement_face_speech.mp4"), "x", platform_id="a")
    assert again.served_from_cache and again.run_id == a.run_id


def test_a_repost_reuses_every_artifact_of_the_original(pipeline, media, tmp_path):
    original = pipeline.process(media("obama_statement_face_speech.mp4"), "orig", platform_id="yt")
    copy = tmp_path / "reupload.mp4"
    shutil.copyfile(media("obama_statement_face_speech.mp4"), copy)
    repost = pipeline.process(copy, "repost", platform_id="tt")
    assert repost.ok and not repost.served_from_cache
    reused = [e for e in repost.manifest.components if e.reused_from is not None]
    assert len(reused) == len(SKELETON), [(e.component, e.reused_from) for e in repost.manifest.components]
    assert all((e.reused_from.platform_id, e.reused_from.video_id, e.reused_from.run_id) == ("yt", "orig", original.run_id) for e in reused)
    assert all(e.wall_seconds is None for e in reused), "nothing was computed"
    assert pipeline.features(repost) == pipeline.features(original)
    # the repost's artifacts live in its own folders
    assert all(Path(e.artifact_dir).is_relative_to(pipeline.store.video_dir("tt", "repost")) for e in repost.manifest.components)


def test_evicting_the_original_keeps_the_repost_readable(pipeline, media, tmp_path):
    pipeline.process(media("park_0p55s.mp4"), "orig", platform_id="yt")
    copy = tmp_path / "same.mp4"
    shutil.copyfile(media("park_0p55s.mp4"), copy)
    repost = pipeline.process(copy, "repost", platform_id="tt")
    pipeline.index.evict(pipeline.store, VideoKey("yt", "orig"))
    assert not pipeline.store.video_dir("yt", "orig").exists()
    assert not pipeline.store.frames_video_dir("yt", "orig").exists()
    video = pipeline.video("repost", "tt")
    for entry in repost.manifest.components:
        verdict = check_artifact(pipeline.store, video, entry.component, entry.artifact_version, thorough=True)
        assert verdict.valid, (entry.component, verdict.reason)
    assert pipeline.process(copy, "repost", platform_id="tt").served_from_cache


def test_ids_that_cannot_be_folder_names_or_partition_keys_are_refused():
    for bad in ("a/b", "..", "a..b", "x\x00y", "has space", "x" * 129, ".hidden", ""):
        with pytest.raises(InvalidIdError):
            check_id("video_id", bad)
    assert check_id("video_id", "x" * 128) and check_id("video_id", "a.b-c_d")


@pytest.mark.parametrize("flag,value", [("--video-id", "a/b"), ("--platform-id", ".."), ("--video-id", "two words"), ("--video-id", "v" * 129)])
def test_bad_ids_are_one_line_errors_before_anything_runs(tmp_path, media, flag, value):
    result = dp(tmp_path / "home", "process", str(media("park_0p55s.mp4")), flag, value, "--profile", "skeleton")
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "invalid" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "home" / "dagster").exists(), "nothing ran"


def test_dp_status_asks_for_the_platform_when_an_id_is_on_two(tmp_path, media):
    home = tmp_path / "home"
    assert dp(home, "process", str(media("park_0p55s.mp4")), "--video-id", "x", "--platform-id", "a", "--profile", "skeleton").returncode == 0
    assert dp(home, "process", str(media("carphone_qcif_face_noaudio.mp4")), "--video-id", "x", "--platform-id", "b", "--profile", "skeleton").returncode == 0
    ambiguous = dp(home, "status", "x", "--profile", "skeleton")
    assert ambiguous.returncode == 2 and "exists on 2 platforms (a, b): add --platform-id" in ambiguous.stderr
    b = dp(home, "status", "x", "--platform-id", "b", "--profile", "skeleton")
    assert b.returncode == 0 and "carphone_qcif_face_noaudio.mp4" in b.stdout and "would serve from cache" in b.stdout
    listing = dp(home, "status", "--limit", "1")
    assert listing.returncode == 0
    assert "b         x" in listing.stdout and "a         x" not in listing.stdout and "1 of 2 videos, newest first" in listing.stdout


V1_VIDEOS = """CREATE TABLE dp_videos (
    video_id VARCHAR(128) NOT NULL PRIMARY KEY, platform_id VARCHAR(128) NOT NULL, uri TEXT NOT NULL,
    registered_at {ts} NOT NULL, size_bytes BIGINT, mtime_ns BIGINT, content_sha256 VARCHAR(64))"""


def test_a_database_keyed_by_video_id_alone_is_migrated_on_first_use(database_url, media):
    """A DP_HOME made by the previous version: its videos keep their files and platforms, and
    every one of them gets its (platform, video) partition."""
    import dagster as dg
    import sqlalchemy as sa

    from dp_assets.partitions import sync_video_partitions
    from dp_resources.database import PARTITIONS_NEED_SYNC, engine_for, get_meta
    from dp_resources.video_catalog import VideoCatalog

    raw = sa.create_engine(database_url)
    ts = "TIMESTAMP WITH TIME ZONE" if raw.dialect.name == "postgresql" else "DATETIME"
    with raw.begin() as conn:
        conn.exec_driver_sql(V1_VIDEOS.format(ts=ts))
        conn.execute(
            sa.text("INSERT INTO dp_videos (video_id, platform_id, uri, registered_at) VALUES (:v, :p, :u, CURRENT_TIMESTAMP)"),
            [{"v": "park", "p": "yt", "u": str(media("park_0p55s.mp4"))}, {"v": "car", "p": "local", "u": str(media("carphone_qcif_face_noaudio.mp4"))}],
        )
    raw.dispose()

    catalog = VideoCatalog(database_url=database_url)
    assert catalog.get(VideoKey("yt", "park")).uri == str(media("park_0p55s.mp4"))
    assert catalog.platforms_of("car") == ["local"]
    # the table is keyed by the pair now: the same id on another platform is another video
    catalog.register(VideoKey("tt", "park"), str(media("phone_rot180_vfr.mp4")))
    assert catalog.platforms_of("park") == ["tt", "yt"]
    with engine_for(database_url).connect() as conn:
        assert get_meta(conn, PARTITIONS_NEED_SYNC) == "1"
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("dp_component_artifacts")}
    assert "ix_dp_component_artifacts_version" in indexes

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("video_id", ["park", "car"])  # the old partition set stays
        assert sync_video_partitions(instance, catalog) == 3
        assert set(instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME)) == {"yt/park", "local/car", "tt/park"}
        assert set(instance.get_dynamic_partitions("video_id")) == {"park", "car"}
        assert sync_video_partitions(instance, catalog) == 0, "once"
