"""Daily schedules of the maintenance jobs; each run measures age from its scheduled tick time."""

# No `from __future__ import annotations`: Dagster reads the schedule function's annotations.
import datetime as dt

import dagster as dg

from dp_assets.maintenance.jobs import (
    CACHE_MAINTENANCE_JOB,
    FRAMES_CLEANUP_JOB,
    OP_OF_JOB,
    cache_maintenance_job,
    frames_cleanup_job,
)

# Off-peak and one after the other: cleanup first, so eviction sees the freed space.
FRAMES_CLEANUP_CRON = "0 3 * * *"
CACHE_MAINTENANCE_CRON = "30 3 * * *"
TIMEZONE = "UTC"


def maintenance_request(job: str, context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """A run of ``job`` whose clock is the tick's scheduled time (one run per tick: the run key)."""
    now = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
    stamp = now.isoformat()
    return dg.RunRequest(run_key=f"{job}:{stamp}", run_config={"ops": {OP_OF_JOB[job]: {"config": {"now": stamp}}}}, tags={"dataprocessor/maintenance": job})


def build_maintenance_schedules() -> list[dg.ScheduleDefinition]:
    @dg.schedule(
        cron_schedule=FRAMES_CLEANUP_CRON,
        job=frames_cleanup_job,
        name=f"{FRAMES_CLEANUP_JOB}_daily",
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Daily: delete frames folders older than DP_FRAMES_RETENTION_DAYS.",
    )
    def frames_cleanup_daily(context: dg.ScheduleEvaluationContext):
        return maintenance_request(FRAMES_CLEANUP_JOB, context)

    @dg.schedule(
        cron_schedule=CACHE_MAINTENANCE_CRON,
        job=cache_maintenance_job,
        name=f"{CACHE_MAINTENANCE_JOB}_daily",
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Daily: evict least recently used videos beyond DP_MAX_VIDEOS, prune superseded downloads.",
    )
    def cache_maintenance_daily(context: dg.ScheduleEvaluationContext):
        return maintenance_request(CACHE_MAINTENANCE_JOB, context)

    return [frames_cleanup_daily, cache_maintenance_daily]
