"""What a Dagster step does with the videos of its run: compute them and tell Dagster about it.

Two shapes, chosen by the profile's execution granularity (``dp_assets.stages``):

- **video** (the default): one step holds every component. It processes every video of its run
  (one partition, or a contiguous range of them: a batch from the bucket sensor or
  ``dp process``) one after the other, and reports each component of each video as a runtime
  materialization of that video's partition, with the data-version provenance Dagster records
  for outputs, plus its check evaluations. A video whose required component fails stops there:
  its partitions and checks say why, the other videos go on, and the run fails at the end naming
  the failed videos. Each video's manifest and index rows are written as soon as it is done.
- **stage / component**: several steps per video (for a distributed executor); a step
  materializes its assets of one partition as outputs, and the run's manifest is written after
  the run (by ``dp process`` or the run-status sensors).
"""

# No `from __future__ import annotations`: Dagster inspects annotations of functions it calls.
import json
from typing import Any, Iterator

import dagster as dg

from dp_assets import run_tags
from dp_assets.contract import EMPTY_REASONS, ComponentResult, Status
from dp_assets.manifest import finalize_run
from dp_assets.profiles import RAW_VIDEO, VIDEO_METADATA, Profile, ResolvedComponent
from dp_assets.progress import STOP, VideoProgress, stop_after_current_component
from dp_assets.records import ComponentRecord
from dp_assets.video_run import ComponentOutcome, InputUnavailableError, VideoRun
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore
from dp_resources.gpu import Gpu
from dp_resources.ids import InvalidIdError, VideoKey
from dp_resources.video_catalog import UnknownVideoError, VideoCatalog

EMPTY_REASON_CHECK = "empty_reason_valid"
SUCCEEDED_CHECK = "succeeded"
# The data version of the video_metadata source when a video has no sidecar.
NO_SIDECAR = "none"
# Summaries such as a 1280-d mean embedding stay in the artifact; the event log gets the scalars
# and small structures that the UI can show and plot.
MAX_METADATA_JSON_CHARS = 2000
_MEASURES = ("wall_seconds", "cpu_seconds", "peak_rss_mb", "peak_rss_delta_mb", "peak_gpu_mb")
# The tags Dagster writes on a materialization to record its data version and where it came
# from (dagster._core.definitions.data_version); a runtime materialization carries them itself so
# the UI's staleness works as for outputs.
DATA_VERSION_TAG = "dagster/data_version"
DATA_VERSION_IS_USER_PROVIDED_TAG = "dagster/data_version_is_user_provided"
CODE_VERSION_TAG = "dagster/code_version"
INPUT_DATA_VERSION_TAG = "dagster/input_data_version/{}"
INPUT_EVENT_POINTER_TAG = "dagster/input_event_pointer/{}"
NULL_EVENT_POINTER = "NULL"


# -- what Dagster shows of one component's outcome ---------------------------------------------
def metadata_of(record: ComponentRecord, result: ComponentResult) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "component_status": record.status,
        "empty_reason": record.empty_reason or "",
        "required": not record.optional,
        "cache_hit": record.cache_hit,
        "reused_from": "" if record.reused_from is None else f"{record.reused_from.platform_id}/{record.reused_from.video_id}",
        "config_hash": record.config_hash,
        "producer_version": record.producer_version,
        "schema_version": record.schema_version,
        "model_signature": record.model_signature,
        "artifact_version": record.artifact_version or "",
        "idempotency_key_hash": record.idempotency_key_hash or "",
        "artifact_dir": dg.MetadataValue.path(record.artifact_dir or ""),
    }
    for key in _MEASURES:
        value = getattr(record, key)
        if value is not None:
            metadata[key] = dg.MetadataValue.float(float(value))
    if result.error:
        metadata["error"] = dg.MetadataValue.text(result.error)
    if result.warnings:
        metadata["warnings"] = dg.MetadataValue.text("\n".join(result.warnings))
    if result.table is not None:
        metadata["dagster/row_count"] = result.table.num_rows
    for key, value in result.summary.items():
        if isinstance(value, (bool, int, float, str)):
            metadata[f"summary/{key}"] = value
        elif value is not None and len(json.dumps(value, default=str)) <= MAX_METADATA_JSON_CHARS:
            metadata[f"summary/{key}"] = dg.MetadataValue.json(json.loads(json.dumps(value, default=str)))
    return metadata


def check_results(component: ResolvedComponent, result: ComponentResult) -> list[tuple[str, bool, dg.AssetCheckSeverity, str | None, dict]]:
    """(check name, passed, severity, description, metadata) of every check of ``component``:
    ``empty_reason_valid``, and ``succeeded`` (ERROR for a required component, WARN for an
    optional one, whose failure is a partial failure that leaves the run green)."""
    reason_ok = result.status is not Status.EMPTY or result.empty_reason in EMPTY_REASONS
    failed = result.status is Status.ERROR
    if not failed:
        description = None
    elif component.optional:
        description = f"partial failure: optional component failed: {result.error}"
    else:
        description = f"required component failed: {result.error}"
    return [
        (
            EMPTY_REASON_CHECK,
            reason_ok,
            dg.AssetCheckSeverity.ERROR,
            None
            if reason_ok
            else f"empty output with {'no' if not result.empty_reason else 'an unknown'} empty_reason "
            f"({result.empty_reason!r}); allowed: {', '.join(sorted(EMPTY_REASONS))}",
            {"component_status": result.status.value, "empty_reason": result.empty_reason or ""},
        ),
        (
            SUCCEEDED_CHECK,
            not failed,
            dg.AssetCheckSeverity.WARN if component.optional else dg.AssetCheckSeverity.ERROR,
            description,
            {"component_status": result.status.value},
        ),
    ]


def tag_partial_failure(context: dg.AssetExecutionContext, name: str) -> None:
    instance, run = context.instance, context.run
    current = instance.get_run_by_id(run.run_id).tags.get(run_tags.PARTIAL_FAILURE, "")
    names = sorted({*filter(None, current.split(",")), name})
    instance.add_run_tags(run.run_id, {run_tags.PARTIAL_FAILURE: ",".join(names)})


def _open_video(catalog: VideoCatalog, partition_key: str):
    try:
        return catalog.get(VideoKey.parse(partition_key))
    except (InvalidIdError, UnknownVideoError) as exc:
        raise dg.Failure(description=str(exc)) from None


# -- stage / component granularity: one partition, outputs --------------------------------------
def stage_step(
    context: dg.AssetExecutionContext,
    profile: Profile,
    components: list[ResolvedComponent],
    store: ArtifactStore,
    catalog: VideoCatalog,
    index: ArtifactIndex,
    gpu: Gpu,
) -> Iterator[Any]:
    video = _open_video(catalog, context.partition_key)
    try:
        run = VideoRun(profile, store, catalog, index, video, context.run.run_id, gpu, context.log, force=_forced(context))
    except FileNotFoundError as exc:
        raise dg.Failure(description=str(exc)) from None
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    selected_checks = context.selected_asset_check_keys
    for component in components:
        if component.name not in selected:
            continue
        try:
            outcome = run.run(component)
        except InputUnavailableError as exc:
            raise dg.Failure(description=str(exc)) from None
        metadata = metadata_of(outcome.record, outcome.result)
        if not outcome.failed_required:
            if outcome.result.status is Status.ERROR:
                context.log.warning(f"partial failure: optional component {component.name} failed for video {video.key}: {outcome.result.error}")
                tag_partial_failure(context, component.name)
            yield dg.MaterializeResult(asset_key=component.name, metadata=metadata, data_version=dg.DataVersion(outcome.record.artifact_version))
        for name, passed, severity, description, check_metadata in check_results(component, outcome.result):
            if dg.AssetCheckKey(dg.AssetKey(component.name), name) in selected_checks:
                yield dg.AssetCheckResult(
                    asset_key=component.name, check_name=name, passed=passed, severity=severity, description=description, metadata=check_metadata
                )
        if outcome.failed_required:
            raise dg.Failure(
                description=f"required component {component.name} failed for video {video.key}: {outcome.result.error}",
                metadata=metadata,
            )


def _forced(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(run_tags.FORCE_RECOMPUTE) == "true"


# -- video granularity: one or many partitions, runtime events ----------------------------------
class _Provenance:
    """The storage ids and data versions of a video's inputs, for the provenance tags."""

    def __init__(self, instance: dg.DagsterInstance, partition_key: str):
        self.instance, self.partition_key = instance, partition_key
        self.versions: dict[str, str] = {}
        self.pointers: dict[str, str] = {}

    def note(self, asset: str, data_version: str, is_source: bool) -> None:
        record = self.instance.get_latest_data_version_record(dg.AssetKey(asset), is_source=is_source, partition_key=self.partition_key)
        self.versions[asset] = data_version
        self.pointers[asset] = str(record.storage_id) if record is not None else NULL_EVENT_POINTER

    def tags(self, component: ResolvedComponent, artifact_version: str, inputs: list[str]) -> dict[str, str]:
        tags = {DATA_VERSION_TAG: artifact_version, CODE_VERSION_TAG: component.code_version, DATA_VERSION_IS_USER_PROVIDED_TAG: "true"}
        for asset in inputs:
            tags[INPUT_DATA_VERSION_TAG.format(asset)] = self.versions.get(asset, NULL_EVENT_POINTER)
            tags[INPUT_EVENT_POINTER_TAG.format(asset)] = self.pointers.get(asset, NULL_EVENT_POINTER)
        return tags


def observe_sources(instance: dg.DagsterInstance, video: VideoKey, inputs) -> None:
    """Tell Dagster the data versions of the video file and its sidecar (when they changed), so a
    replaced file or an edited sidecar shows the partitions that depend on it as stale."""
    partition_key = video.partition_key
    for asset, version in ((RAW_VIDEO, inputs.video_sha256), (VIDEO_METADATA, inputs.sidecar_sha256 or NO_SIDECAR)):
        latest = instance.get_latest_data_version_record(dg.AssetKey(asset), is_source=True, partition_key=partition_key)
        observation = latest.asset_observation if latest is not None else None
        if observation is None or observation.data_version != version:
            instance.report_runless_asset_event(dg.AssetObservation(asset_key=asset, partition=partition_key, tags={DATA_VERSION_TAG: version}))


def _inputs_of(component: ResolvedComponent) -> list[str]:
    inputs = list(component.spec.upstream) or [RAW_VIDEO]
    if component.spec.reads_sidecar:
        inputs.append(VIDEO_METADATA)
    return inputs


def videos_step(
    context: dg.AssetExecutionContext,
    profile: Profile,
    components: list[ResolvedComponent],
    store: ArtifactStore,
    catalog: VideoCatalog,
    index: ArtifactIndex,
    gpu: Gpu,
    progress: VideoProgress,
) -> Iterator[Any]:
    instance, run_id = context.instance, context.run.run_id
    # Manifests are written here, video by video; the run-status sensors leave this run alone.
    instance.add_run_tags(run_id, {run_tags.FINALIZED_BY: run_tags.FINALIZED_BY_STEP})
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    chosen = [c for c in components if c.name in selected]
    partition_keys = context.partition_keys
    failed: dict[str, str] = {}
    for position, partition_key in enumerate(partition_keys):
        if STOP.requested:
            skipped = partition_keys[position:]
            failed.update({key: f"not started: {STOP.reason}" for key in skipped})
            break
        error = yield from _one_video(context, profile, chosen, store, catalog, index, gpu, progress, partition_key)
        if error is not None:
            failed[partition_key] = error
    if failed:
        lines = "\n".join(f"  {key}: {reason}" for key, reason in failed.items())
        ok = len(partition_keys) - len(failed)
        raise dg.Failure(
            description=f"{len(failed)} of {len(partition_keys)} videos failed ({ok} ok):\n{lines}",
            metadata={"failed_videos": dg.MetadataValue.json(failed)},
        )


def _one_video(context, profile, components, store, catalog, index, gpu, progress, partition_key) -> Iterator[Any]:
    """Process one video of the run; returns why it failed, or None."""
    log, run_id = context.log, context.run.run_id
    try:
        video = catalog.get(VideoKey.parse(partition_key))
    except (InvalidIdError, UnknownVideoError) as exc:
        log.error(str(exc))
        return str(exc)
    failure: str | None = None
    run = None
    with index.video_lock(video.key):  # a dp process of this video at the same time waits, then reuses
        for leftover in store.sweep(video.key):
            log.info(f"video {video.key}: removed {leftover}, left by an interrupted write")
        try:
            run = VideoRun(profile, store, catalog, index, video, run_id, gpu, log, force=_forced(context))
        except FileNotFoundError as exc:
            failure = str(exc)
        else:
            progress.video_started(video.key, len(components))
            provenance = _Provenance(context.instance, partition_key)
            inputs = catalog.inputs(video)
            observe_sources(context.instance, video.key, inputs)
            provenance.note(RAW_VIDEO, inputs.video_sha256, is_source=True)
            provenance.note(VIDEO_METADATA, inputs.sidecar_sha256 or NO_SIDECAR, is_source=True)
            selected_checks = context.selected_asset_check_keys
            for component in components:
                if STOP.requested:
                    failure = f"stopped before {component.name}: {STOP.reason}"
                    break
                try:
                    # Dagster's own handler stops user code at once on Ctrl-C; while a component
                    # computes, the first Ctrl-C asks to stop after it instead (dp process).
                    with stop_after_current_component():
                        outcome = run.run(component)
                except InputUnavailableError as exc:
                    failure = str(exc)
                    break
                yield from _report(context, component, outcome, provenance, selected_checks, partition_key)
                progress.component_finished(video.key, component.name, outcome.result.status.value)
                if outcome.failed_required:
                    failure = f"required component {component.name} failed for video {video.key}: {outcome.result.error}"
                    log.error(f"video {video.key}: {failure}")
                    break
                provenance.note(component.name, outcome.record.artifact_version, is_source=False)
        manifest, path = finalize_run(
            store,
            catalog,
            profile,
            video,
            run_id,
            "FAILURE" if failure else "SUCCESS",
            failure,
            index=index,
            finished_at=progress.finished_at,
            records=run.records if run is not None else None,
        )
        evicted = tuple(index.evict_over_limit(store, keep=video.key)) if manifest.run_status == "ok" else ()
        for other in evicted:
            log.info(f"evicted least recently used video {other} (cache limit)")
    progress.video_finished(video.key, manifest, path, evicted)
    return failure


def _report(context, component: ResolvedComponent, outcome: ComponentOutcome, provenance: _Provenance, selected_checks, partition_key: str) -> Iterator[Any]:
    """A component's outcome as runtime events of its partition: the materialization (none for a
    failed required component, whose partition the failed run then shows as failed) and checks."""
    record, result = outcome.record, outcome.result
    if not outcome.failed_required:
        if result.status is Status.ERROR:
            context.log.warning(f"partial failure: optional component {component.name} failed for video {partition_key}: {result.error}")
            tag_partial_failure(context, component.name)
        tags = provenance.tags(component, record.artifact_version, _inputs_of(component))
        yield dg.AssetMaterialization(asset_key=component.name, partition=partition_key, metadata=metadata_of(record, result), tags=tags)
    for name, passed, severity, description, check_metadata in check_results(component, result):
        if dg.AssetCheckKey(dg.AssetKey(component.name), name) in selected_checks:
            yield dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey(component.name),
                check_name=name,
                passed=passed,
                severity=severity,
                description=description,
                metadata=check_metadata,
                partition=partition_key,
            )
