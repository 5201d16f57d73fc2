"""The cache verdict: one answer, with its reason, for dp process, the stage runner and dp status."""

import datetime as dt
import shutil
from pathlib import Path

import pytest

from dp_assets.cache import Verdict, check_artifact, request_verdict
from dp_assets.profiles import load_profile
from dp_resources.ids import VideoKey
from tests.pipeline_helpers import Pipeline

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def processed(tmp_path, media):
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(media("park_0p55s.mp4"), clip)
    pipeline = Pipeline(tmp_path / "home")
    outcome = pipeline.process(clip, "park", now=T0)
    assert outcome.ok
    return pipeline, clip


def verdict(pipeline: Pipeline, now=T0 + dt.timedelta(hours=1)):
    profile = load_profile("skeleton")
    video = pipeline.video("park")
    return request_verdict(pipeline.store, pipeline.index, profile, video, pipeline.catalog.inputs(video), now)


def artifact_file(pipeline: Pipeline, component: str) -> Path:
    profile = load_profile("skeleton")
    video = pipeline.video("park")
    version = profile.artifact_versions(pipeline.catalog.inputs(video))[component]
    return pipeline.store.artifact_dir("test", "park", component, version) / "data.parquet"


def test_a_fresh_intact_run_is_valid_and_says_how_long(processed):
    pipeline, _ = processed
    result = verdict(pipeline)
    assert result.verdict is Verdict.VALID and result.servable
    assert result.reason == "fresh for 71.0 more hours"  # TTL 3 days, one hour old
    assert set(result.artifacts) == set(load_profile("skeleton").components)
    assert all(a.valid for a in result.artifacts.values())


def test_an_unknown_request_is_missing(tmp_path, media):
    pipeline = Pipeline(tmp_path)
    video = pipeline.catalog.register(VideoKey("test", "never"), str(media("park_0p55s.mp4")))
    result = request_verdict(pipeline.store, pipeline.index, load_profile("skeleton"), video, pipeline.catalog.inputs(video), T0)
    assert result.verdict is Verdict.MISSING and "no successful run with profile skeleton" in result.reason


def test_an_old_run_is_expired(processed):
    pipeline, _ = processed
    result = verdict(pipeline, now=T0 + dt.timedelta(days=3, minutes=1))
    assert result.verdict is Verdict.EXPIRED and result.reason == "older than cache_ttl_days=3"


def test_a_changed_file_is_stale(processed):
    pipeline, clip = processed
    with open(clip, "ab") as handle:
        handle.write(b"\0")
    result = verdict(pipeline)
    assert result.verdict is Verdict.STALE and "video file" in result.reason


def test_a_truncated_artifact_is_corrupt_and_names_the_component(processed):
    pipeline, _ = processed
    target = artifact_file(pipeline, "loudness")
    target.write_bytes(target.read_bytes()[:-10])
    result = verdict(pipeline)
    assert result.verdict is Verdict.CORRUPT and result.reason.startswith("loudness: ")
    assert not result.artifacts["loudness"].valid and result.artifacts["features"].valid


def test_same_size_damage_passes_the_quick_check_but_not_the_thorough_one(processed):
    pipeline, _ = processed
    target = artifact_file(pipeline, "loudness")
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    video = pipeline.video("park")
    version = target.parent.name
    assert check_artifact(pipeline.store, video, "loudness", version, thorough=False).valid
    thorough = check_artifact(pipeline.store, video, "loudness", version, thorough=True)
    assert thorough.verdict is Verdict.CORRUPT and "checksum mismatch" in thorough.reason


def test_a_deleted_artifact_is_missing(processed):
    pipeline, _ = processed
    shutil.rmtree(artifact_file(pipeline, "image_stats").parent)
    result = verdict(pipeline)
    assert result.verdict is Verdict.MISSING and result.reason.startswith("image_stats: no artifact at ")
