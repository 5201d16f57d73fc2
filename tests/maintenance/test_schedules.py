"""The maintenance schedules with an injected clock: frames past retention are deleted (and a later
run recomputes them), running videos keep theirs, and the LRU bound evicts the oldest video."""

import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg
import pytest

from dp_assets.assembly import PROCESS_VIDEO_JOB, build_definitions
from dp_assets.maintenance.jobs import CACHE_MAINTENANCE_JOB, FRAMES_CLEANUP_JOB, FRAMES_CLEANUP_OP
from dp_assets.maintenance.retention import RetentionPolicy
from dp_assets.profiles import load_profile
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.gpu import Gpu
from tests.pipeline_helpers import Pipeline

PARK = "park_0p55s.mp4"
CARPHONE = "carphone_qcif_face_noaudio.mp4"
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def pipeline(tmp_path) -> Pipeline:
    return Pipeline(tmp_path)


def definitions(pipeline: Pipeline, **retention) -> dg.Definitions:
    policy = RetentionPolicy(report_dir=str(pipeline.home / "reports"), **retention)
    return build_definitions(
        load_profile("skeleton"),
        store=pipeline.store,
        catalog=pipeline.catalog,
        gpu=Gpu(device="cpu", precision="fp32"),
        index=pipeline.index,
        retention=policy,
    )


def run_schedule(defs: dg.Definitions, name: str, at: dt.datetime, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Evaluate the schedule at ``at`` (the injected clock) and execute the run it requests."""
    schedule = defs.get_schedule_def(name)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=at) as context:
        data = schedule.evaluate_tick(context)
    (request,) = data.run_requests
    job = defs.resolve_job_def(schedule.job_name)
    return job.execute_in_process(run_config=request.run_config, instance=instance, tags=request.tags)


def frames_dirs(pipeline: Pipeline, video_id: str) -> list[Path]:
    return sorted(p for p in (Path(pipeline.store.frames_root) / "test" / video_id).iterdir() if p.is_dir())


def age(folder: Path, days: float) -> None:
    stamp = (NOW - dt.timedelta(days=days)).timestamp()
    for path in [*folder.iterdir(), folder]:
        os.utime(path, (stamp, stamp))


def test_the_schedule_passes_its_tick_time_as_the_clock(pipeline):
    defs = definitions(pipeline)
    at = dt.datetime(2027, 3, 1, 3, 0, tzinfo=dt.timezone.utc)
    with dg.build_schedule_context(scheduled_execution_time=at) as context:
        (request,) = defs.get_schedule_def(f"{FRAMES_CLEANUP_JOB}_daily").evaluate_tick(context).run_requests
    assert request.run_config == {"ops": {FRAMES_CLEANUP_OP: {"config": {"now": at.isoformat()}}}}
    assert request.run_key == f"{FRAMES_CLEANUP_JOB}:{at.isoformat()}"


def test_frames_past_retention_are_deleted_and_a_later_run_recomputes_them(pipeline, media):
    old = pipeline.process(media(PARK), "old_clip")
    recent = pipeline.process(media(CARPHONE), "recent_clip")
    assert old.ok and recent.ok
    (old_frames,) = frames_dirs(pipeline, "old_clip")
    (recent_frames,) = frames_dirs(pipeline, "recent_clip")
    age(old_frames, 8)
    age(recent_frames, 6)
    defs = definitions(pipeline)

    result = run_schedule(defs, f"{FRAMES_CLEANUP_JOB}_daily", NOW, pipeline.instance)
    assert result.success
    assert not old_frames.exists() and recent_frames.is_dir()
    (report_path,) = (pipeline.home / "reports" / FRAMES_CLEANUP_JOB).glob("*.json")
    report = json.loads(report_path.read_text())
    assert [r["path"] for r in report["removed"]] == [str(old_frames)] and report["retention_days"] == 7
    assert report["removed"][0]["age_days"] > 7 and report["removed"][0]["bytes"] > 0
    assert not list(old_frames.parent.glob(".expired-*")), "the renamed folder is deleted too"

    # The run the daemon would launch for this partition: frames is recomputed, not served.
    rerun = defs.resolve_job_def(PROCESS_VIDEO_JOB).execute_in_process(partition_key="test/old_clip", instance=pipeline.instance, raise_on_error=False)
    assert rerun.success
    frames = pipeline.instance.get_latest_materialization_event(dg.AssetKey("frames"))
    assert frames.dagster_event.partition == "test/old_clip" and frames.run_id == rerun.run_id
    metadata = frames.asset_materialization.metadata
    assert metadata["cache_hit"].value is False and "cached artifact was invalid" in metadata["warnings"].value
    assert old_frames.is_dir() and any(old_frames.iterdir())
    image_stats = pipeline.instance.get_latest_materialization_event(dg.AssetKey("image_stats"))
    assert image_stats.asset_materialization.metadata["component_status"].value == "ok"

    # dp process after the cleanup: not served from the index (frames no longer verifies).
    age(old_frames, 8)
    run_schedule(defs, f"{FRAMES_CLEANUP_JOB}_daily", NOW + dt.timedelta(days=1), pipeline.instance)
    assert not old_frames.exists()
    again = pipeline.process(media(PARK), "old_clip")
    assert again.ok and not again.served_from_cache and "frames" in pipeline.computed(again)
    assert old_frames.is_dir()


def test_frames_of_a_video_with_a_run_in_progress_are_kept(pipeline, media):
    assert pipeline.process(media(PARK), "busy").ok
    (folder,) = frames_dirs(pipeline, "busy")
    age(folder, 30)
    defs = definitions(pipeline)
    job = defs.resolve_job_def(PROCESS_VIDEO_JOB)
    pipeline.instance.create_run_for_job(job, tags={"dagster/partition": "test/busy"}, status=dg.DagsterRunStatus.STARTED)
    assert run_schedule(defs, f"{FRAMES_CLEANUP_JOB}_daily", NOW, pipeline.instance).success
    assert folder.is_dir()
    (report_path,) = (pipeline.home / "reports" / FRAMES_CLEANUP_JOB).glob("*.json")
    assert [r["video_id"] for r in json.loads(report_path.read_text())["kept_in_use"]] == ["busy"]


def test_retention_days_come_from_the_environment(pipeline, media, monkeypatch):
    monkeypatch.setenv("DP_FRAMES_RETENTION_DAYS", "2")
    assert RetentionPolicy().frames_retention_days == 2
    assert pipeline.process(media(PARK), "clip").ok
    (folder,) = frames_dirs(pipeline, "clip")
    age(folder, 3)
    assert run_schedule(definitions(pipeline), f"{FRAMES_CLEANUP_JOB}_daily", NOW, pipeline.instance).success
    assert not folder.exists()


def test_cache_maintenance_evicts_the_least_recently_used_video(pipeline, media):
    first = pipeline.process(media(PARK), "first", now=NOW - dt.timedelta(hours=2))
    second = pipeline.process(media(CARPHONE), "second", now=NOW - dt.timedelta(hours=1))
    assert first.ok and second.ok and pipeline.index.video_count() == 2
    assert pipeline.store.video_dir("test", "first").is_dir()
    # The deployment lowered DP_MAX_VIDEOS to 1: the daily job brings the index back under it.
    limited = ArtifactIndex(database_url=pipeline.catalog.database_url, max_videos=1)
    defs = build_definitions(
        load_profile("skeleton"),
        store=pipeline.store,
        catalog=pipeline.catalog,
        index=limited,
        retention=RetentionPolicy(report_dir=str(pipeline.home / "reports")),
    )
    assert run_schedule(defs, f"{CACHE_MAINTENANCE_JOB}_daily", NOW, pipeline.instance).success
    assert pipeline.index.video_count() == 1
    assert not pipeline.store.video_dir("test", "first").exists() and pipeline.store.video_dir("test", "second").is_dir()
    assert not (Path(pipeline.store.frames_root) / "test" / "first").exists()
    (report_path,) = (pipeline.home / "reports" / CACHE_MAINTENANCE_JOB).glob("*.json")
    assert json.loads(report_path.read_text())["evicted"] == [{"platform_id": "test", "video_id": "first"}]
