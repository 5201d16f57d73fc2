"""The one place that turns component specs of a profile into Dagster assets.

Each enabled component becomes a software-defined asset partitioned by ``video_id``, grouped by
modality, with a ``code_version`` from its producer/schema versions, config hash, sampling policy
version and model signature. The asset body is thin: find the video, load upstream artifacts,
call :func:`dp_assets.execution.run_component`, store the result, report it.

Required components fail the run when they fail (fail-fast); optional ones record
``component_status=error`` and let the run go on (``../shared/SPEC.md`` section 2).
"""

# No `from __future__ import annotations` here: Dagster inspects the asset function's real
# annotations to recognise the context and resource parameters.
import json
from pathlib import Path
from typing import Any

import dagster as dg

from dp_assets.contract import ComponentContext, ComponentResult, Status
from dp_assets.execution import ComponentMetrics, run_component
from dp_assets.partitions import video_partitions
from dp_assets.profiles import Profile, ResolvedComponent
from dp_resources.artifact_store import ArtifactStore, write_json_atomic
from dp_resources.video_catalog import VideoCatalog, VideoRef

DATAPROCESSOR_VERSION = "0.1.0"


def component_record(
    component: ResolvedComponent,
    result: ComponentResult | None,
    metrics: ComponentMetrics | None,
    artifact_dir: Path | None,
    cached: bool = False,
) -> dict[str, Any]:
    """The per-component facts shared by Dagster metadata, the run manifest and the CLI table."""
    return {
        "component": component.name,
        "modality": component.spec.modality.value,
        "optional": component.optional,
        "status": result.status.value if result else "not_executed",
        "empty_reason": result.empty_reason if result else None,
        "error": result.error if result else None,
        "warnings": list(result.warnings) if result else [],
        "wall_seconds": round(metrics.wall_s, 4) if metrics else None,
        "cpu_seconds": round(metrics.cpu_s, 4) if metrics else None,
        "cache_hit": cached,
        "artifact_dir": str(artifact_dir) if artifact_dir else None,
        "files": dict(result.files) if result else {},
        "producer_version": component.spec.producer_version,
        "schema_version": component.spec.schema_version,
        "config_hash": component.config_hash,
        "sampling_policy_version": component.sampling_policy_version,
        "model_signature": component.model_signature,
        "code_version": component.code_version,
    }


def _metadata(record: dict[str, Any], result: ComponentResult) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "component_status": record["status"],
        "empty_reason": record["empty_reason"] or "",
        "wall_seconds": dg.MetadataValue.float(record["wall_seconds"]),
        "cpu_seconds": dg.MetadataValue.float(record["cpu_seconds"]),
        "config_hash": record["config_hash"],
        "producer_version": record["producer_version"],
        "schema_version": record["schema_version"],
        "artifact_dir": dg.MetadataValue.path(record["artifact_dir"] or ""),
    }
    if result.error:
        metadata["error"] = dg.MetadataValue.text(result.error)
    if result.warnings:
        metadata["warnings"] = dg.MetadataValue.text("\n".join(result.warnings))
    if result.table is not None:
        metadata["dagster/row_count"] = result.table.num_rows
    for key, value in result.summary.items():
        if isinstance(value, bool) or isinstance(value, (int, float, str)):
            metadata[f"summary/{key}"] = value
        elif value is not None:
            metadata[f"summary/{key}"] = dg.MetadataValue.json(json.loads(json.dumps(value, default=str)))
    return metadata


def _load_upstream(store: ArtifactStore, profile: Profile, video: VideoRef, component: ResolvedComponent) -> dict[str, ComponentResult]:
    inputs: dict[str, ComponentResult] = {}
    for name in component.spec.upstream:
        upstream = profile[name]
        folder = store.artifact_dir(video.platform_id, video.video_id, name, upstream.code_version)
        try:
            inputs[name] = store.read(folder)
        except FileNotFoundError:
            raise dg.Failure(
                description=f"{component.name} needs {name} for video {video.video_id}, but {name} has not been materialized "
                f"with its current version ({upstream.code_version}); materialize {name} first"
            ) from None
    return inputs


def _build_asset(profile: Profile, component: ResolvedComponent) -> dg.AssetsDefinition:
    spec = component.spec

    @dg.asset(
        name=spec.name,
        group_name=spec.modality.value,
        partitions_def=video_partitions,
        deps=[dg.AssetKey(name) for name in spec.upstream],
        code_version=component.code_version,
        description=spec.description,
        kinds={"python", "parquet"},
        tags={"dataprocessor/modality": spec.modality.value, "dataprocessor/required": str(not component.optional).lower()},
        pool="gpu" if spec.uses_gpu else None,
    )
    def _asset(context: dg.AssetExecutionContext, store: ArtifactStore, catalog: VideoCatalog) -> dg.MaterializeResult:
        video = catalog.get(context.partition_key)
        inputs = _load_upstream(store, profile, video, component)
        final_dir = store.artifact_dir(video.platform_id, video.video_id, spec.name, component.code_version)
        staging = store.staging_dir(final_dir)
        ctx = ComponentContext(
            video_path=Path(video.uri),
            video_id=video.video_id,
            platform_id=video.platform_id,
            work_dir=staging,
            frames_dir=store.frames_dir(video.platform_id, video.video_id, component.code_version),
            sampling=profile.sampling,
            log=context.log,
        )
        result, metrics = run_component(spec, ctx, component.config, inputs)
        artifact_dir = store.commit(staging, final_dir, result, {"code_version": component.code_version, "run_id": context.run.run_id})
        record = component_record(component, result, metrics, artifact_dir)
        write_json_atomic(store.run_dir(video.platform_id, video.video_id, context.run.run_id) / "components" / f"{spec.name}.json", record)
        metadata = _metadata(record, result)
        if result.status is Status.ERROR and not component.optional:
            raise dg.Failure(
                description=f"required component {spec.name} failed for video {video.video_id}: {result.error}",
                metadata=metadata,
            )
        if result.status is Status.ERROR:
            context.log.warning(f"optional component {spec.name} failed for video {video.video_id}: {result.error}")
        return dg.MaterializeResult(metadata=metadata)

    return _asset


def build_component_assets(profile: Profile) -> list[dg.AssetsDefinition]:
    return [_build_asset(profile, component) for component in profile.components.values()]
