"""Nothing is computed twice (docs/design.md §3 and §5), on SQLite and on PostgreSQL.

Each test changes exactly one field of the idempotency key (or the clock, or the file) and
asserts exactly which components recompute.
"""

import dataclasses
import datetime as dt
import shutil
import subprocess
import sys
import os
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dp_assets import registry
from dp_assets.contract import Runtime
from dp_resources.models import MODELS
from dp_assets.profiles import load_profile
from dp_resources.artifact_index import IndexKey
from dp_resources.database import artifact_runs, component_artifacts, engine_for
from dp_resources.ids import VideoKey
from tests.pipeline_helpers import Pipeline

PROJECT = Path(__file__).resolve().parent.parent
BASELINE = PROJECT / "profiles" / "skeleton.yaml"
ALL = {"video_probe", "frames", "shot_boundaries", "image_stats", "audio_waveform", "loudness", "features"}
T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def pipeline(tmp_path, database_url) -> Pipeline:
    return Pipeline(tmp_path, database_url)


def write_profile(tmp_path: Path, mutate, name="changed.yaml") -> Path:
    data = yaml.safe_load(BASELINE.read_text())
    mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def clip(media, tmp_path) -> Path:
    # A private copy so tests may rewrite the bytes.
    target = tmp_path / "clip.mp4"
    shutil.copyfile(media("obama_statement_face_speech.mp4"), target)
    return target


def test_second_request_is_served_from_cache_without_a_run(pipeline, clip):
    first = pipeline.process(clip, "v1", now=T0)
    assert first.ok and pipeline.computed(first) == ALL
    runs = pipeline.run_count()
    second = pipeline.process(clip, "v1", now=T0 + dt.timedelta(hours=1))
    assert second.served_from_cache and second.ok
    assert pipeline.run_count() == runs, "a cached request must not start a Dagster run"
    assert all(e.cache_hit for e in second.manifest.components)
    assert second.run_id == first.run_id


def test_config_change_recomputes_that_component_and_dependants(pipeline, clip, tmp_path):
    pipeline.process(clip, "v1", now=T0)
    changed = write_profile(tmp_path, lambda d: d["components"].__setitem__("loudness", {"config": {"silence_threshold_dbfs": -40.0}}))
    outcome = pipeline.process(clip, "v1", profile=str(changed), now=T0)
    assert outcome.ok and not outcome.served_from_cache
    assert pipeline.computed(outcome) == {"loudness", "features"}


def test_sampling_policy_change_recomputes_frame_based_components(pipeline, clip, tmp_path):
    pipeline.process(clip, "v1", now=T0)

    def resample(d):
        d["sampling"].update(version="2", fps=2.0)

    outcome = pipeline.process(clip, "v1", profile=str(write_profile(tmp_path, resample)), now=T0)
    assert pipeline.computed(outcome) == {"frames", "shot_boundaries", "image_stats", "features"}


@pytest.mark.parametrize("field,value", [("producer_version", "9.9.9"), ("schema_version", 99)])
def test_version_bump_recomputes_that_component_and_dependants(pipeline, clip, monkeypatch, field, value):
    pipeline.process(clip, "v1", now=T0)
    from dp_assets.components.visual import image_stats

    monkeypatch.setattr(image_stats, "SPEC", dataclasses.replace(image_stats.SPEC, **{field: value}))
    registry.builtin_specs.cache_clear()
    try:
        outcome = pipeline.process(clip, "v1", profile=load_profile("skeleton"), now=T0)
    finally:
        monkeypatch.undo()
        registry.builtin_specs.cache_clear()
    assert pipeline.computed(outcome) == {"image_stats", "features"}


def test_replaced_video_bytes_recompute_everything(pipeline, clip, media):
    pipeline.process(clip, "v1", now=T0)
    shutil.copyfile(media("carphone_qcif_face_noaudio.mp4"), clip)
    outcome = pipeline.process(clip, "v1", now=T0)
    assert not outcome.served_from_cache and pipeline.computed(outcome) == ALL
    assert pipeline.features(outcome)["has_audio"] is False  # really the new file
    # Dagster saw the new data version of the raw video.
    record = pipeline.instance.get_latest_data_version_record(dg.AssetKey("raw_video"), is_source=True, partition_key="test/v1")
    assert record.asset_observation.data_version == pipeline.catalog.content_hash(pipeline.video("v1"))


def test_model_weights_and_device_are_in_the_key(pipeline, clip, tmp_path, monkeypatch):
    weights = tmp_path / "tiny.bin"
    weights.write_bytes(b"\x01\x02\x03")
    monkeypatch.setenv("DP_TEST_WEIGHTS", str(weights))
    MODELS._models.clear()

    def add_model_user(d):
        d["component_modules"] = ["tests.fixtures.model_user"]
        d["components"]["model_user"] = {}

    profile_path = write_profile(tmp_path, add_model_user)
    pipeline.process(clip, "v1", profile=str(profile_path), now=T0)

    weights.write_bytes(b"\x01\x02\x04")  # new weights, same name
    MODELS._models.clear()
    outcome = pipeline.process(clip, "v1", profile=str(profile_path), now=T0)
    assert pipeline.computed(outcome) == {"model_user"}
    assert Path(pipeline.entry(outcome, "model_user").artifact_dir, "data.parquet").is_file()

    # Device and precision change the GPU component's version only (pure: no GPU needed here).
    cpu = load_profile(profile_path, runtime=Runtime("cpu", "fp32"))
    cuda = load_profile(profile_path, runtime=Runtime("cuda:0", "fp16"))
    cuda32 = load_profile(profile_path, runtime=Runtime("cuda:0", "fp32"))
    differs = {n for n in cpu.components if cpu[n].code_version != cuda[n].code_version}
    assert differs == {"model_user"}
    assert cuda["model_user"].code_version != cuda32["model_user"].code_version


def test_expired_ttl_recomputes_and_fresh_serves(pipeline, clip):
    pipeline.process(clip, "v1", now=T0)
    fresh = pipeline.process(clip, "v1", now=T0 + dt.timedelta(days=2, hours=23))
    assert fresh.served_from_cache
    expired = pipeline.process(clip, "v1", now=T0 + dt.timedelta(days=3, hours=1))
    assert not expired.served_from_cache and pipeline.computed(expired) == ALL
    again = pipeline.process(clip, "v1", now=T0 + dt.timedelta(days=3, hours=2))
    assert again.served_from_cache and again.run_id == expired.run_id


def test_lru_evicts_the_least_recently_used_video(tmp_path, database_url, media):
    pipeline = Pipeline(tmp_path, database_url, max_videos=3)
    clips = ["park_0p55s.mp4", "carphone_qcif_face_noaudio.mp4", "pigs_in_a_polka_314x273.gif", "obama_statement_face_speech.mp4"]
    outcomes = {}
    for i, name in enumerate(clips[:3]):
        outcomes[name] = pipeline.process(media(name), f"v{i}", now=T0 + dt.timedelta(minutes=i))
    pipeline.process(media(clips[0]), "v0", now=T0 + dt.timedelta(minutes=10))  # v0 used again: v1 is now the oldest
    fourth = pipeline.process(media(clips[3]), "v3", now=T0 + dt.timedelta(minutes=11))
    assert fourth.evicted == (VideoKey("test", "v1"),)
    assert not pipeline.store.video_dir("test", "v1").exists()
    assert not (Path(pipeline.store.frames_root) / "test" / "v1").exists()
    with engine_for(pipeline.index.database_url).connect() as conn:
        for table in (artifact_runs, component_artifacts):
            assert conn.execute(table.select().where(table.c.video_id == "v1")).first() is None
    assert pipeline.index.video_count() == 3
    assert pipeline.store.video_dir("test", "v0").exists()
    # Dagster's history of the evicted video stays readable.
    records = pipeline.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("features"), asset_partitions=["test/v1"]), limit=1
    ).records
    assert records and records[0].run_id == outcomes[clips[1]].run_id


def test_corrupt_artifact_is_detected_and_recomputed(pipeline, clip):
    first = pipeline.process(clip, "v1", now=T0)
    data = Path(pipeline.entry(first, "image_stats").artifact_dir) / "data.parquet"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # truncated
    outcome = pipeline.process(clip, "v1", now=T0)
    assert not outcome.served_from_cache
    assert pipeline.computed(outcome) == {"image_stats"}  # same bytes again: features stays valid
    entry = pipeline.entry(outcome, "image_stats")
    assert any("cached artifact was invalid" in w and "checksum" in w for w in entry.warnings), entry.warnings


def test_index_row_pointing_to_missing_artifact_is_a_miss(pipeline, clip):
    first = pipeline.process(clip, "v1", now=T0)
    shutil.rmtree(pipeline.entry(first, "loudness").artifact_dir)
    outcome = pipeline.process(clip, "v1", now=T0)
    assert not outcome.served_from_cache and pipeline.computed(outcome) == {"loudness"}


def test_deleted_frames_dir_recomputes_frames(pipeline, clip):
    first = pipeline.process(clip, "v1", now=T0)
    shutil.rmtree(pipeline.entry(first, "frames").files["frames_dir"])
    outcome = pipeline.process(clip, "v1", now=T0)
    assert outcome.ok and pipeline.computed(outcome) == {"frames"}


def test_index_row_has_the_spec_key(pipeline, clip):
    outcome = pipeline.process(clip, "v1", now=T0)
    profile = load_profile("skeleton")
    key = IndexKey("test", "v1", profile.config_hash, profile.sampling.version, "0.1.0")
    entry = pipeline.index.lookup(key)
    assert entry.latest_success_run_id == outcome.run_id and set(entry.artifacts) == ALL


def test_two_concurrent_requests_compute_once(tmp_path, database_url, media):
    env = {**os.environ, "DP_HOME": str(tmp_path / "home"), "DP_DATABASE_URL": database_url}
    env.pop("DAGSTER_HOME", None)
    command = [sys.executable, "-m", "dp_assets.cli", "process", str(media("obama_statement_face_speech.mp4")), "--video-id", "same", "--profile", "skeleton"]
    procs = [subprocess.Popen(command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(err[-3000:] for _, err in outputs)
    served = [out for out, _ in outputs if "served from cache" in out.splitlines()[0]]
    assert len(served) == 1, [o[0].splitlines()[0] for o in outputs]
    with engine_for(database_url).connect() as conn:
        rows = conn.execute(component_artifacts.select().where(component_artifacts.c.video_id == "same")).all()
    assert len(rows) == len(ALL)
    staging = [p for p in (tmp_path / "home" / "artifacts").rglob("*.staging")]
    assert staging == []


def test_changed_sidecar_recomputes_only_what_reads_it(pipeline, clip, tmp_path):
    def add_reader(d):
        d["component_modules"] = ["tests.fixtures.sidecar_reader"]
        d["components"]["sidecar_reader"] = {}

    profile = write_profile(tmp_path, add_reader, "with_sidecar.yaml")
    clip.with_suffix(".json").write_text('{"title": "The first title"}')
    pipeline.process(clip, "v1", profile=str(profile), now=T0)
    clip.with_suffix(".json").write_text('{"title": "A new title"}')
    outcome = pipeline.process(clip, "v1", profile=str(profile), now=T0)
    assert not outcome.served_from_cache and outcome.ok
    assert pipeline.computed(outcome) == {"sidecar_reader"}
    assert pipeline.entry(outcome, "sidecar_reader").artifact_version != pipeline.entry(outcome, "video_probe").artifact_version
    reader = pipeline.store.read(Path(pipeline.entry(outcome, "sidecar_reader").artifact_dir))
    assert reader.summary["title_chars"] == len("A new title")


def test_a_sidecar_changes_only_the_text_side_of_the_baseline():
    """The baseline graph: another title changes text_features, nothing else (the features row
    holds no text features)."""
    from dp_resources.video_catalog import VideoInputs

    baseline = load_profile("baseline")
    first = baseline.artifact_versions(VideoInputs("a" * 64, "b" * 64))
    second = baseline.artifact_versions(VideoInputs("a" * 64, "c" * 64))
    none = baseline.artifact_versions(VideoInputs("a" * 64, None))
    assert {name for name in first if first[name] != second[name]} == {"text_features"}
    assert {name for name in first if first[name] != none[name]} == {"text_features"}
