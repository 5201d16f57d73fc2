"""The maintenance jobs: ``frames_cleanup`` (frames past retention) and ``cache_maintenance``
(the artifact index's LRU bound and superseded bucket downloads).

Both measure age from ``config.now`` when given (the schedule passes its tick time, so a run is
reproducible and a test can inject the clock) and write a JSON report of what they removed.
"""

# No `from __future__ import annotations`: Dagster reads the op's annotations for config and resources.
import datetime as dt
from pathlib import Path

import dagster as dg

from dp_assets import run_tags
from dp_assets.maintenance.retention import (
    RetentionPolicy,
    as_rows,
    expired_frames,
    remove_folder,
    stale_downloads,
    write_report,
)
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore
from dp_resources.video_bucket import VideoBucket
from dp_resources.video_catalog import VideoCatalog

FRAMES_CLEANUP_JOB = "frames_cleanup"
CACHE_MAINTENANCE_JOB = "cache_maintenance"
# Op names differ from job names: a job's graph and an op may not share a name in a repository.
FRAMES_CLEANUP_OP = "remove_expired_frames"
CACHE_MAINTENANCE_OP = "apply_cache_limits"
OP_OF_JOB = {FRAMES_CLEANUP_JOB: FRAMES_CLEANUP_OP, CACHE_MAINTENANCE_JOB: CACHE_MAINTENANCE_OP}
_IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


class MaintenanceConfig(dg.Config):
    now: str | None = None  # ISO-8601 time that ages are measured from; empty = the current time


def _now(config: MaintenanceConfig) -> dt.datetime:
    if not config.now:
        return dt.datetime.now(dt.timezone.utc)
    value = dt.datetime.fromisoformat(config.now)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _videos_in_progress(context: dg.OpExecutionContext) -> set[str]:
    """Partitions (``<platform>/<video>``) of runs not yet finished: their frames may be read right now."""
    runs = context.instance.get_runs(filters=dg.RunsFilter(statuses=_IN_PROGRESS))
    return {run.tags[run_tags.PARTITION] for run in runs if run.run_id != context.run_id and run_tags.PARTITION in run.tags}


@dg.op(name=FRAMES_CLEANUP_OP, out=dg.Out(dg.Nothing))
def frames_cleanup_op(
    context: dg.OpExecutionContext, config: MaintenanceConfig, store: dg.ResourceParam[ArtifactStore], retention: RetentionPolicy
):
    """Deletes frames folders older than the retention; a later run recomputes frames (the artifact
    that referenced the folder no longer verifies)."""
    now = _now(config)
    expired, leftovers = expired_frames(Path(store.frames_root), now, retention.frames_retention_days)
    busy = _videos_in_progress(context)
    removed, skipped = [], []
    for folder in expired:
        if f"{folder.platform_id}/{folder.video_id}" in busy:
            skipped.append(folder)
            context.log.info(f"kept {folder.path}: video {folder.platform_id}/{folder.video_id} has a run in progress")
            continue
        try:
            remove_folder(Path(folder.path))
        except FileNotFoundError:
            continue  # removed meanwhile (an eviction)
        removed.append(folder)
        context.log.info(f"removed {folder.path} ({folder.age_days:.1f} days old, {folder.bytes} bytes)")
    for leftover in leftovers:
        remove_folder(leftover)
    report = write_report(
        retention,
        FRAMES_CLEANUP_JOB,
        now,
        context.run_id,
        {
            "retention_days": retention.frames_retention_days,
            "frames_root": store.frames_root,
            "removed": as_rows(removed),
            "kept_in_use": as_rows(skipped),
            "leftovers_swept": [str(p) for p in leftovers],
        },
    )
    context.log.info(f"frames_cleanup: removed {len(removed)} folders ({sum(f.bytes for f in removed)} bytes); report {report}")
    yield dg.Output(
        None,
        metadata={
            "removed_folders": len(removed),
            "removed_bytes": sum(f.bytes for f in removed),
            "kept_in_use": len(skipped),
            "report": dg.MetadataValue.path(str(report)),
        },
    )


@dg.op(name=CACHE_MAINTENANCE_OP, out=dg.Out(dg.Nothing))
def cache_maintenance_op(
    context: dg.OpExecutionContext,
    config: MaintenanceConfig,
    store: dg.ResourceParam[ArtifactStore],
    index: dg.ResourceParam[ArtifactIndex],
    catalog: dg.ResourceParam[VideoCatalog],
    bucket: VideoBucket,
    retention: RetentionPolicy,
):
    """Evicts the least recently used videos beyond ``max_videos`` and deletes bucket downloads
    that the catalog no longer points to."""
    now = _now(config)
    evicted = index.evict_over_limit(store)
    for video in evicted:
        context.log.info(f"evicted {video} (least recently used beyond max_videos={index.max_videos})")
    stale = stale_downloads(bucket, catalog, now, retention.download_grace_days)
    for folder in stale:
        remove_folder(Path(folder.path))
        context.log.info(f"removed superseded download {folder.path} ({folder.bytes} bytes)")
    report = write_report(
        retention,
        CACHE_MAINTENANCE_JOB,
        now,
        context.run_id,
        {
            "max_videos": index.max_videos,
            "evicted": [{"platform_id": v.platform_id, "video_id": v.video_id} for v in evicted],
            "removed_downloads": as_rows(stale),
        },
    )
    context.log.info(f"cache_maintenance: evicted {len(evicted)} videos, removed {len(stale)} downloads; report {report}")
    yield dg.Output(
        None,
        metadata={"evicted_videos": len(evicted), "removed_downloads": len(stale), "report": dg.MetadataValue.path(str(report))},
    )


@dg.job(name=FRAMES_CLEANUP_JOB, description="Deletes frames folders older than DP_FRAMES_RETENTION_DAYS.")
def frames_cleanup_job():
    frames_cleanup_op()


@dg.job(name=CACHE_MAINTENANCE_JOB, description="Applies the artifact index's LRU bound (DP_MAX_VIDEOS) and prunes superseded downloads.")
def cache_maintenance_job():
    cache_maintenance_op()


MAINTENANCE_JOBS = [frames_cleanup_job, cache_maintenance_job]
