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
from pathlib import Path

import dagster as dg

from dp_assets import run_tags
from dp_assets.assembly import PROCESS_VIDEO_JOB, build_definitions
from dp_assets.cache import Verdict, request_verdict
from dp_assets.factory import NO_SIDECAR
from dp_assets.liveness import owner_tags, release_dead_runs
from dp_assets.manifest import finalize_run
from dp_assets.partitions import VIDEO_PARTITIONS_NAME, add_video_partitions, sync_video_partitions
from dp_assets.profiles import RAW_VIDEO, VIDEO_METADATA, Profile
from dp_assets.serving import ProcessOutcome, serve_cached
from dp_resources.artifact_index import ArtifactIndex, utcnow
from dp_resources.artifact_store import ArtifactStore
from dp_resources.gpu import Gpu, configure_gpu_pool
from dp_resources.ids import VideoKey
from dp_resources.instance import open_instance
from dp_resources.video_catalog import VideoCatalog, VideoInputs


log = logging.getLogger("dataprocessor")


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


def _observe(instance: dg.DagsterInstance, asset: str, partition: str, data_version: str) -> None:
    latest = instance.get_latest_data_version_record(dg.AssetKey(asset), is_source=True, partition_key=partition)
    observation = latest.asset_observation if latest is not None else None
    if observation is not None and observation.data_version == data_version:
        return
    instance.report_runless_asset_event(
        dg.AssetObservation(asset_key=asset, partition=partition, tags={"dagster/data_version": data_version})
    )


def observe_sources(instance: dg.DagsterInstance, video: VideoKey, inputs: VideoInputs) -> None:
    """Tell Dagster the data versions of the video file and its sidecar, so a replaced file (or
    an edited sidecar) shows the partitions that depend on it as stale."""
    _observe(instance, RAW_VIDEO, video.partition_key, inputs.video_sha256)
    _observe(instance, VIDEO_METADATA, video.partition_key, inputs.sidecar_sha256 or NO_SIDECAR)


def process_video(
    path: Path,
    video: VideoKey,
    profile: Profile,
    instance: dg.DagsterInstance | None = None,
    store: ArtifactStore | None = None,
    catalog: VideoCatalog | None = None,
    index: ArtifactIndex | None = None,
    gpu: Gpu | None = None,
    dagster_log_level: str = "WARNING",
    now: dt.datetime | None = None,
) -> ProcessOutcome:
    store = store or ArtifactStore()
    catalog = catalog or VideoCatalog()
    index = index or ArtifactIndex(database_url=catalog.database_url)
    clock_injected = now is not None
    now = now or utcnow()
    with index.video_lock(video):
        cached = serve_cached(path, video, profile, store, catalog, index, now)
        if cached is not None:
            return cached
        ref = catalog.get(video)
        inputs = catalog.inputs(ref)
        verdict = request_verdict(store, index, profile, ref, inputs, now)

        gpu = gpu or Gpu(device=profile.runtime.device, precision=profile.runtime.precision)
        instance = instance or open_instance()
        for run_id in release_dead_runs(instance):
            log.warning(f"released the pool slots of run {run_id}: its process is gone")
        configure_gpu_pool(instance, gpu)
        sync_video_partitions(instance, catalog)
        if not instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, video.partition_key):
            add_video_partitions(instance, [video.partition_key])
        observe_sources(instance, video, inputs)
        defs = build_definitions(profile, store=store, catalog=catalog, gpu=gpu, index=index)
        tags = {
            run_tags.VIDEO_ID: video.video_id,
            run_tags.PLATFORM_ID: video.platform_id,
            run_tags.FINALIZED_BY: run_tags.FINALIZED_BY_DP_PROCESS,  # the manifest sensors leave this run alone
            **owner_tags(),
        }
        if verdict.verdict is Verdict.EXPIRED:
            tags[run_tags.FORCE_RECOMPUTE] = "true"
        result = defs.resolve_job_def(PROCESS_VIDEO_JOB).execute_in_process(
            instance=instance,
            partition_key=video.partition_key,
            raise_on_error=False,
            tags=tags,
            run_config={"loggers": {"console": {"config": {"log_level": dagster_log_level}}}},
        )
        status = "SUCCESS" if result.success else "FAILURE"
        manifest, manifest_path = finalize_run(
            store,
            catalog,
            profile,
            ref,
            result.run_id,
            status,
            None if result.success else _first_failure(result),
            index=index,
            finished_at=now if clock_injected else None,
        )
        evicted: list[VideoKey] = []
        if manifest.run_status == "ok":
            evicted = index.evict_over_limit(store, keep=video)
        return ProcessOutcome(manifest=manifest, manifest_path=manifest_path, run_id=result.run_id, evicted=tuple(evicted))
