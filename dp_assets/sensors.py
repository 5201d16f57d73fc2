"""Run-status sensors: the orchestrator side of runs launched from the UI, a schedule or a sensor.

``dp process`` finalizes its own runs (tagged so the sensors skip them); for every other run of this code location these sensors
write the manifest and the database rows once the run has finished (success or failure), one
run at a time, so no two writers ever race on a manifest.
"""

from __future__ import annotations

import dagster as dg

from dp_assets import run_tags
from dp_assets.manifest import finalize_run
from dp_assets.profiles import Profile
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore
from dp_resources.ids import InvalidIdError, VideoKey
from dp_resources.video_catalog import VideoCatalog


def _finalize(
    context: dg.RunStatusSensorContext,
    profile: Profile,
    store: ArtifactStore,
    catalog: VideoCatalog,
    index: ArtifactIndex,
    status: str,
    error: str | None,
) -> dg.SkipReason | None:
    run = context.dagster_run
    partition = run.tags.get(run_tags.PARTITION)
    if not partition:
        return dg.SkipReason(f"run {run.run_id} has no video partition; nothing to finalize")
    if run.tags.get(run_tags.FINALIZED_BY):
        return dg.SkipReason(f"run {run.run_id} was finalized by {run.tags[run_tags.FINALIZED_BY]}")
    try:
        video = catalog.lookup(VideoKey.parse(partition))
    except InvalidIdError as exc:
        return dg.SkipReason(f"run {run.run_id}: {exc}")
    if video is None:
        return dg.SkipReason(f"run {run.run_id}: video {partition!r} is not in the catalog")
    manifest, path = finalize_run(store, catalog, profile, video, run.run_id, status, error, index=index)
    if manifest.run_status == "ok":
        for evicted in index.evict_over_limit(store, keep=video.key):
            context.log.info(f"evicted least recently used video {evicted} (cache limit)")
    context.log.info(f"manifest for run {run.run_id} ({partition}, {manifest.run_status}): {path}")
    return None


def build_manifest_sensors(profile: Profile) -> list[dg.SensorDefinition]:
    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name="manifest_on_success",
        description="Writes manifest.json and the component rows of every successful run.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def manifest_on_success(
        context: dg.RunStatusSensorContext,
        store: dg.ResourceParam[ArtifactStore],
        catalog: dg.ResourceParam[VideoCatalog],
        index: dg.ResourceParam[ArtifactIndex],
    ):
        return _finalize(context, profile, store, catalog, index, "SUCCESS", None)

    @dg.run_failure_sensor(
        name="manifest_on_failure",
        description="Writes manifest.json (saying what failed and why) and the component rows of every failed run.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def manifest_on_failure(
        context: dg.RunFailureSensorContext,
        store: dg.ResourceParam[ArtifactStore],
        catalog: dg.ResourceParam[VideoCatalog],
        index: dg.ResourceParam[ArtifactIndex],
    ):
        message = context.failure_event.message if context.failure_event else None
        return _finalize(context, profile, store, catalog, index, "FAILURE", message)

    return [manifest_on_success, manifest_on_failure]
