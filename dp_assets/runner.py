"""``dp process``: one video through the whole graph as one Dagster run, then its manifest.

Runs in-process on the instance under ``$DAGSTER_HOME`` (SQLite by default), so the run, its
materializations and its per-partition history show up in ``dp dev`` exactly as UI runs do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from dp_assets.definitions import PROCESS_VIDEO_JOB, build_definitions
from dp_assets.manifest import Manifest, finalize_run
from dp_assets.partitions import VIDEO_PARTITIONS_NAME
from dp_assets.profiles import Profile
from dp_resources import ArtifactStore, VideoCatalog
from dp_resources.gpu import GpuResource
from dp_resources.settings import ensure_dagster_home


@dataclass
class ProcessOutcome:
    manifest: Manifest
    manifest_path: Path
    run_id: str

    @property
    def ok(self) -> bool:
        return self.manifest.run_status == "ok"


def _first_failure(result: dg.ExecuteInProcessResult) -> str | None:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                return data.user_failure_data.description
            if data.error:
                # Dagster wraps the real exception ("Error occurred while executing op"): show the cause.
                error = data.error.cause or data.error
                return f"step {event.step_key}: {error.cls_name}: {error.message.strip().splitlines()[0]}"
    return None


def process_video(
    path: Path,
    video_id: str,
    platform_id: str,
    profile: Profile,
    instance: dg.DagsterInstance | None = None,
    store: ArtifactStore | None = None,
    catalog: VideoCatalog | None = None,
    gpu: GpuResource | None = None,
    dagster_log_level: str = "WARNING",
) -> ProcessOutcome:
    store = store or ArtifactStore()
    catalog = catalog or VideoCatalog()
    video = catalog.register(video_id, platform_id, str(Path(path).resolve()))
    if instance is None:
        ensure_dagster_home()
        instance = dg.DagsterInstance.get()
    if not instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, video_id):
        instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, [video_id])
    defs = build_definitions(profile, store=store, catalog=catalog, gpu=gpu or GpuResource(device=profile.runtime.device, precision=profile.runtime.precision))
    job = defs.resolve_job_def(PROCESS_VIDEO_JOB)
    result = job.execute_in_process(
        instance=instance,
        partition_key=video_id,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": dagster_log_level}}}},
        tags={"dataprocessor/video_id": video_id, "dataprocessor/platform_id": platform_id},
    )
    status = "SUCCESS" if result.success else "FAILURE"
    manifest, path = finalize_run(
        store, catalog, profile, video, result.run_id, status, None if result.success else _first_failure(result)
    )
    return ProcessOutcome(manifest=manifest, manifest_path=path, run_id=result.run_id)
