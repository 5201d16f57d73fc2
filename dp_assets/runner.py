"""``dp process``: serve a video from the artifact index, or run it through the graph.

A request is served from cache, with no Dagster run and no decode, when the cache verdict
(``dp_assets.cache.request_verdict``) says the indexed run is valid. Otherwise one Dagster run
processes the video in-process on the instance under ``$DAGSTER_HOME``; inside it, every
component whose artifact is still valid is a cache hit, so a config change recomputes only that
component and what depends on it. A run for a video whose cache expired recomputes everything.
Each request holds the video's lock, so two requests for one video never compute it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from dp_assets import run_tags
from dp_assets.assembly import PROCESS_VIDEO_JOB, build_definitions
from dp_assets.cache import Verdict, request_verdict
from dp_assets.liveness import owner_tags, release_dead_runs
from dp_assets.manifest import Manifest, finalize_run
from dp_assets.partitions import VIDEO_PARTITIONS_NAME
from dp_assets.profiles import RAW_VIDEO, Profile
from dp_resources.artifact_index import ArtifactIndex, utcnow
from dp_resources.artifact_store import ArtifactStore
from dp_resources.gpu import GpuResource, configure_gpu_pool
from dp_resources.instance import open_instance
from dp_resources.video_catalog import VideoCatalog


log = logging.getLogger("dataprocessor")


@dataclass
class ProcessOutcome:
    manifest: Manifest
    manifest_path: Path
    run_id: str
    served_from_cache: bool = False
    evicted: tuple[tuple[str, str], ...] = ()

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


def observe_raw_video(instance: dg.DagsterInstance, video_id: str, content_hash: str) -> None:
    """Tell Dagster the file's data version, so a replaced file shows its partition as stale."""
    latest = instance.get_latest_data_version_record(dg.AssetKey(RAW_VIDEO), is_source=True, partition_key=video_id)
    observation = latest.asset_observation if latest is not None else None
    if observation is not None and observation.data_version == content_hash:
        return
    instance.report_runless_asset_event(
        dg.AssetObservation(asset_key=RAW_VIDEO, partition=video_id, tags={"dagster/data_version": content_hash})
    )


def process_video(
    path: Path,
    video_id: str,
    platform_id: str,
    profile: Profile,
    instance: dg.DagsterInstance | None = None,
    store: ArtifactStore | None = None,
    catalog: VideoCatalog | None = None,
    index: ArtifactIndex | None = None,
    gpu: GpuResource | None = None,
    dagster_log_level: str = "WARNING",
    now: dt.datetime | None = None,
) -> ProcessOutcome:
    store = store or ArtifactStore()
    catalog = catalog or VideoCatalog()
    index = index or ArtifactIndex(database_url=catalog.database_url)
    clock_injected = now is not None
    now = now or utcnow()
    with index.video_lock(platform_id, video_id):
        video = catalog.register(video_id, platform_id, str(Path(path).resolve()))
        content_hash = catalog.content_hash(video)
        verdict = request_verdict(store, index, profile, video, content_hash, now)
        if verdict.servable:
            cached = Manifest.model_validate_json(verdict.manifest_path.read_text(encoding="utf-8"))
            manifest = cached.model_copy(update={"components": [c.served_from_cache() for c in cached.components]})
            index.touch(platform_id, video_id, now)
            run_id = verdict.entry.latest_success_run_id
            return ProcessOutcome(manifest=manifest, manifest_path=verdict.manifest_path, run_id=run_id, served_from_cache=True)

        gpu = gpu or GpuResource(device=profile.runtime.device, precision=profile.runtime.precision)
        instance = instance or open_instance()
        for run_id in release_dead_runs(instance):
            log.warning(f"released the pool slots of run {run_id}: its process is gone")
        configure_gpu_pool(instance, gpu)
        if not instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, video_id):
            instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, [video_id])
        observe_raw_video(instance, video_id, content_hash)
        defs = build_definitions(profile, store=store, catalog=catalog, gpu=gpu)
        tags = {
            run_tags.VIDEO_ID: video_id,
            run_tags.PLATFORM_ID: platform_id,
            run_tags.FINALIZED_BY: run_tags.FINALIZED_BY_DP_PROCESS,  # the manifest sensors leave this run alone
            **owner_tags(),
        }
        if verdict.verdict is Verdict.EXPIRED:
            tags[run_tags.FORCE_RECOMPUTE] = "true"
        result = defs.resolve_job_def(PROCESS_VIDEO_JOB).execute_in_process(
            instance=instance,
            partition_key=video_id,
            raise_on_error=False,
            tags=tags,
            run_config={"loggers": {"console": {"config": {"log_level": dagster_log_level}}}},
        )
        status = "SUCCESS" if result.success else "FAILURE"
        manifest, manifest_path = finalize_run(
            store,
            catalog,
            profile,
            video,
            result.run_id,
            status,
            None if result.success else _first_failure(result),
            index=index,
            finished_at=now if clock_injected else None,
        )
        evicted: list[tuple[str, str]] = []
        if manifest.run_status == "ok":
            evicted = index.evict_over_limit(store, keep=(platform_id, video_id))
        return ProcessOutcome(manifest=manifest, manifest_path=manifest_path, run_id=result.run_id, evicted=tuple(evicted))
