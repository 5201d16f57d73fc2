"""The one place that turns the components of a profile into Dagster assets.

Every component is its own software-defined asset (partitioned by video, ``<platform>/<video_id>``,
grouped by modality, ``code_version`` from its versions, config hash, sampling policy and model signature)
with an ``empty_reason_valid`` asset check, plus a ``succeeded`` WARN check when it is optional.
Each stage (``dp_assets.stages``) is one ``multi_asset`` step with ``can_subset=True``; the work
inside a step is ``dp_assets.video_run.VideoRun``, which knows nothing of Dagster.

Required components fail the run when they fail (fail-fast: nothing downstream runs); optional
ones are materialized with ``component_status=error`` and the run goes on.
"""

# No `from __future__ import annotations` here: Dagster inspects the op function's real
# annotations to recognise the context and resource parameters.
import json
from pathlib import Path
from typing import Any, Iterator

import dagster as dg

from dp_assets import run_tags
from dp_assets.contract import EMPTY_REASONS, ComponentResult, Status
from dp_assets.partitions import video_partitions
from dp_assets.profiles import RAW_VIDEO, VIDEO_METADATA, Profile, ResolvedComponent
from dp_assets.records import ComponentRecord
from dp_assets.stages import plan_stages
from dp_assets.video_run import ComponentOutcome, InputUnavailableError, VideoRun
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore
from dp_resources.gpu import Gpu
from dp_resources.ids import InvalidIdError, VideoKey
from dp_resources.video_catalog import UnknownVideoError, VideoCatalog, VideoRef

EMPTY_REASON_CHECK = "empty_reason_valid"
# The data version of the video_metadata source when a video has no sidecar.
NO_SIDECAR = "none"
SUCCEEDED_CHECK = "succeeded"
# Summaries such as a 1280-d mean embedding stay in the artifact; the event log gets the scalars
# and small structures that the UI can show and plot.
MAX_METADATA_JSON_CHARS = 2000
_MEASURES = ("wall_seconds", "cpu_seconds", "peak_rss_mb", "peak_rss_delta_mb", "peak_gpu_mb")


def _metadata(record: ComponentRecord, result: ComponentResult) -> dict[str, Any]:
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


def _check_results(component: ResolvedComponent, result: ComponentResult) -> list[dg.AssetCheckResult]:
    key = dg.AssetKey(component.name)
    reason_ok = result.status is not Status.EMPTY or result.empty_reason in EMPTY_REASONS
    checks = [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=EMPTY_REASON_CHECK,
            passed=reason_ok,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None
            if reason_ok
            else f"empty output with {'no' if not result.empty_reason else 'an unknown'} empty_reason "
            f"({result.empty_reason!r}); allowed: {', '.join(sorted(EMPTY_REASONS))}",
            metadata={"component_status": result.status.value, "empty_reason": result.empty_reason or ""},
        )
    ]
    if component.optional:
        checks.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=SUCCEEDED_CHECK,
                passed=result.status is not Status.ERROR,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"partial failure: optional component failed: {result.error}" if result.error else None,
                metadata={"component_status": result.status.value},
            )
        )
    return checks


def _check_specs(component: ResolvedComponent) -> list[dg.AssetCheckSpec]:
    # Partitioned like the asset, so each video keeps its own check result: one video's WARN is
    # not hidden by the next video passing.
    specs = [
        dg.AssetCheckSpec(
            EMPTY_REASON_CHECK,
            asset=component.name,
            description="an empty output carries a reason from the fixed vocabulary",
            partitions_def=video_partitions,
        )
    ]
    if component.optional:
        specs.append(
            dg.AssetCheckSpec(
                SUCCEEDED_CHECK,
                asset=component.name,
                description="WARN when this optional component failed (partial failure)",
                partitions_def=video_partitions,
            )
        )
    return specs


def _events(context: dg.AssetExecutionContext, outcome: ComponentOutcome) -> Iterator[Any]:
    """A component's outcome as Dagster sees it: a materialization and its checks, or a failure."""
    component, result, record = outcome.component, outcome.result, outcome.record
    metadata = _metadata(record, result)
    video = context.partition_key
    if outcome.failed_required:
        raise dg.Failure(
            description=f"required component {component.name} failed for video {video}: {result.error}",
            metadata=metadata,
        )
    if result.status is Status.ERROR:
        context.log.warning(f"partial failure: optional component {component.name} failed for video {video}: {result.error}")
        _tag_partial_failure(context, component.name)
    yield dg.MaterializeResult(asset_key=component.name, metadata=metadata, data_version=dg.DataVersion(record.artifact_version))
    selected_checks = context.selected_asset_check_keys
    for check in _check_results(component, result):
        if dg.AssetCheckKey(check.asset_key, check.check_name) in selected_checks:
            yield check


def _tag_partial_failure(context: dg.AssetExecutionContext, name: str) -> None:
    instance, run = context.instance, context.run
    current = instance.get_run_by_id(run.run_id).tags.get(run_tags.PARTIAL_FAILURE, "")
    names = sorted({*filter(None, current.split(",")), name})
    instance.add_run_tags(run.run_id, {run_tags.PARTIAL_FAILURE: ",".join(names)})


def _stage_name(components: list[ResolvedComponent]) -> str:
    if len(components) == 1:
        return f"{components[0].name}_step"
    return f"{components[0].spec.modality.value}_{components[0].name}_stage"


def _deps(component: ResolvedComponent) -> list[dg.AssetKey]:
    deps = [dg.AssetKey(up) for up in component.spec.upstream] or [dg.AssetKey(RAW_VIDEO)]
    if component.spec.reads_sidecar:
        deps.append(dg.AssetKey(VIDEO_METADATA))
    return deps


def _build_stage(profile: Profile, components: list[ResolvedComponent]) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=c.name,
            group_name=c.spec.modality.value,
            deps=_deps(c),
            code_version=c.code_version,
            description=c.spec.description,
            partitions_def=video_partitions,
            skippable=True,
            kinds={"python", "parquet"},
            tags={"dataprocessor/modality": c.spec.modality.value, "dataprocessor/required": str(not c.optional).lower()},
        )
        for c in components
    ]
    check_specs = [check for c in components for check in _check_specs(c)]
    uses_gpu = any(c.spec.uses_gpu for c in components)

    @dg.multi_asset(
        name=_stage_name(components),
        specs=specs,
        check_specs=check_specs,
        can_subset=True,
        partitions_def=video_partitions,
        pool="gpu" if uses_gpu else None,
    )
    def _stage(
        context: dg.AssetExecutionContext,
        store: dg.ResourceParam[ArtifactStore],
        catalog: dg.ResourceParam[VideoCatalog],
        index: dg.ResourceParam[ArtifactIndex],
        gpu: dg.ResourceParam[Gpu],
    ):
        try:
            video = catalog.get(VideoKey.parse(context.partition_key))
        except (InvalidIdError, UnknownVideoError) as exc:
            raise dg.Failure(description=str(exc)) from None
        try:
            run = VideoRun(
                profile,
                store,
                catalog,
                index,
                video,
                context.run.run_id,
                gpu.runtime(),
                context.log,
                force=context.run.tags.get(run_tags.FORCE_RECOMPUTE) == "true",
            )
        except FileNotFoundError as exc:
            raise dg.Failure(description=str(exc)) from None
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        for component in components:
            if component.name in selected:
                try:
                    outcome = run.run(component)
                except InputUnavailableError as exc:
                    raise dg.Failure(description=str(exc)) from None
                yield from _events(context, outcome)

    return _stage


def _registered_videos(context, catalog: VideoCatalog) -> dict[str, VideoRef]:
    """Every partition's catalog entry whose file is still there (the others are logged)."""
    found = {}
    for partition_key in context.instance.get_dynamic_partitions(video_partitions.name):
        try:
            video = catalog.lookup(VideoKey.parse(partition_key))
        except InvalidIdError as exc:
            context.log.warning(str(exc))
            continue
        if video is None or not Path(video.uri).is_file():
            context.log.warning(f"video {partition_key}: {'not in the catalog' if video is None else f'file {video.uri} is missing'}")
            continue
        found[partition_key] = video
    return found


@dg.observable_source_asset(
    key=RAW_VIDEO,
    partitions_def=video_partitions,
    group_name="core",
    description="The video file of each partition; its data version is the file's sha256, so a replaced file makes the partition stale.",
)
def raw_video(context, catalog: dg.ResourceParam[VideoCatalog]) -> dg.DataVersionsByPartition:
    return dg.DataVersionsByPartition({key: catalog.content_hash(video) for key, video in _registered_videos(context, catalog).items()})


@dg.observable_source_asset(
    key=VIDEO_METADATA,
    partitions_def=video_partitions,
    group_name="core",
    description="The metadata sidecar next to each video (<video>.json: title, description, tags); its data version is the "
    "sidecar's sha256 ('none' without one). Only the components that read it go stale when it changes.",
)
def video_metadata(context, catalog: dg.ResourceParam[VideoCatalog]) -> dg.DataVersionsByPartition:
    return dg.DataVersionsByPartition(
        {key: catalog.inputs(video).sidecar_sha256 or NO_SIDECAR for key, video in _registered_videos(context, catalog).items()}
    )


def build_component_assets(profile: Profile, granularity: str | None = None) -> list[dg.AssetsDefinition]:
    stages = plan_stages(profile, granularity or profile.granularity)
    return [_build_stage(profile, stage) for stage in stages]
