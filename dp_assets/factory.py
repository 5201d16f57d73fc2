"""The one place that turns the components of a profile into Dagster assets.

Every component is its own software-defined asset (partitioned by ``video_id``, grouped by
modality, ``code_version`` from its versions, config hash, sampling policy and model signature)
with an ``empty_reason_valid`` asset check, plus a ``succeeded`` WARN check when it is optional.
Execution granularity is separate from that: components are grouped into *stages* — maximal runs
of one modality between modality changes (probe → visual ∥ audio → features) — and each stage is
one ``multi_asset`` step with ``can_subset=True``. A Dagster step costs ~0.1 s in-process (1.4 s
in the multiprocess executor), so seven steps per video would blow the fixed-cost budget, while
stages still let visual and audio run in parallel on a multiprocess executor.

Required components fail the run when they fail (fail-fast: nothing downstream runs); optional
ones are materialized with ``component_status=error`` and the run goes on (SPEC section 2).
"""

# No `from __future__ import annotations` here: Dagster inspects the op function's real
# annotations to recognise the context and resource parameters.
import json
from pathlib import Path
from typing import Any, Iterator

import dagster as dg

from dp_assets.contract import CPU, EMPTY_REASONS, ComponentContext, ComponentResult, Status
from dp_assets.execution import run_component
from dp_assets.observability import ComponentMetrics
from dp_assets.partitions import video_partitions
from dp_assets.profiles import RAW_VIDEO, Profile, ResolvedComponent
from dp_assets.versioning import canonical_json, sha256_hex
from dp_resources.artifact_store import ArtifactStore, CorruptArtifactError, write_json_atomic
from dp_resources.gpu import GpuResource
from dp_resources.video_catalog import VideoCatalog, VideoRef

DATAPROCESSOR_VERSION = "0.1.0"
EMPTY_REASON_CHECK = "empty_reason_valid"
SUCCEEDED_CHECK = "succeeded"
PARTIAL_FAILURE_TAG = "dataprocessor/partial_failure"
# Set by dp process when the cached run is older than the TTL: recompute even valid artifacts.
FORCE_TAG = "dataprocessor/recompute"
GRANULARITIES = ("stage", "component", "video")
# Summaries such as a 1280-d mean embedding stay in the artifact; the event log gets the scalars
# and small structures that the UI can show and plot.
MAX_METADATA_JSON_CHARS = 2000


def component_record(
    component: ResolvedComponent,
    result: ComponentResult | None,
    metrics: ComponentMetrics | None,
    artifact_dir: Path | None,
    cached: bool = False,
    artifact_version: str | None = None,
    idempotency_key_hash: str | None = None,
) -> dict[str, Any]:
    """The per-component facts shared by Dagster metadata, the run manifest and the CLI table."""
    return {
        "artifact_version": artifact_version,
        "idempotency_key_hash": idempotency_key_hash,
        "component": component.name,
        "modality": component.spec.modality.value,
        "optional": component.optional,
        "status": result.status.value if result else "not_executed",
        "empty_reason": result.empty_reason if result else None,
        "error": result.error if result else None,
        "warnings": list(result.warnings) if result else [],
        "wall_seconds": round(metrics.wall_s, 4) if metrics else None,
        "cpu_seconds": round(metrics.cpu_s, 4) if metrics else None,
        "peak_rss_mb": round(metrics.peak_rss_mb, 1) if metrics and metrics.peak_rss_mb is not None else None,
        "peak_rss_delta_mb": round(metrics.peak_rss_delta_mb, 1) if metrics and metrics.peak_rss_delta_mb is not None else None,
        "peak_gpu_mb": round(metrics.peak_gpu_mb, 1) if metrics and metrics.peak_gpu_mb is not None else None,
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
        "required": not record["optional"],
        "cache_hit": record["cache_hit"],
        "config_hash": record["config_hash"],
        "producer_version": record["producer_version"],
        "schema_version": record["schema_version"],
        "model_signature": record["model_signature"],
        "artifact_version": record["artifact_version"] or "",
        "idempotency_key_hash": record["idempotency_key_hash"] or "",
        "artifact_dir": dg.MetadataValue.path(record["artifact_dir"] or ""),
    }
    for key in ("wall_seconds", "cpu_seconds", "peak_rss_mb", "peak_rss_delta_mb", "peak_gpu_mb"):
        if record[key] is not None:
            metadata[key] = dg.MetadataValue.float(float(record[key]))
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


def plan_stages(profile: Profile, granularity: str = "stage") -> list[list[ResolvedComponent]]:
    """Group components into execution steps (see module docstring); order is dependency order.

    A component's layer grows by one at every modality change along its upstream chain; components
    sharing (modality, layer) form one stage. Every edge between stages goes to a higher layer, so
    stages never form a cycle.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    if granularity == "component":
        return [[c] for c in profile.components.values()]
    if granularity == "video":
        return [list(profile.components.values())]
    layer: dict[str, int] = {}
    stages: dict[tuple[str, int], list[ResolvedComponent]] = {}
    for name, component in profile.components.items():
        modality = component.spec.modality
        layer[name] = max(
            (layer[up] + (profile[up].spec.modality != modality) for up in component.spec.upstream), default=0
        )
        stages.setdefault((modality.value, layer[name]), []).append(component)
    return sorted(stages.values(), key=lambda group: min(list(profile.components).index(c.name) for c in group))


class _StageRunner:
    """Runs the selected components of one stage for one partition, yielding Dagster events.

    A component whose artifact for the current artifact version exists and verifies is a cache
    hit: nothing is computed, the materialization says ``cache_hit`` and carries the same data
    version. A corrupt or half-missing artifact is reported and recomputed.
    """

    def __init__(self, profile: Profile, context: dg.AssetExecutionContext, store: ArtifactStore, catalog: VideoCatalog, gpu: GpuResource):
        self.profile = profile
        self.context = context
        self.store = store
        self.video = catalog.get(context.partition_key)
        if not Path(self.video.uri).is_file():
            raise dg.Failure(description=f"video {self.video.video_id}: file {self.video.uri} does not exist (moved or deleted?)")
        self.versions = profile.artifact_versions(catalog.content_hash(self.video))
        self.runtime = gpu.runtime()
        self.force = context.run.tags.get(FORCE_TAG) == "true"
        self.results: dict[str, ComponentResult] = {}

    def _dir(self, name: str) -> Path:
        return self.store.artifact_dir(self.video.platform_id, self.video.video_id, name, self.versions[name])

    def _input(self, name: str, consumer: str) -> ComponentResult:
        if name in self.results:
            return self.results[name]
        try:
            self.results[name] = self.store.read(self._dir(name))
        except (FileNotFoundError, CorruptArtifactError):
            raise dg.Failure(
                description=f"{consumer} needs {name} for video {self.video.video_id}, but {name} has no valid artifact "
                f"for its current version ({self.versions[name]}); materialize {name} first"
            ) from None
        return self.results[name]

    def _cached(self, name: str) -> tuple[ComponentResult | None, str | None]:
        folder = self._dir(name)
        if self.force or not folder.exists():
            return None, None
        try:
            result = self.store.read(folder)
        except (FileNotFoundError, CorruptArtifactError) as exc:
            return None, f"cached artifact was invalid ({exc}); recomputed"
        if result.status is Status.ERROR:
            return None, None  # failures are never served from cache
        return result, None

    def run(self, component: ResolvedComponent) -> Iterator[Any]:
        spec, video = component.spec, self.video
        final_dir = self._dir(spec.name)
        result, note = self._cached(spec.name)
        metrics = None
        cached = result is not None
        if not cached:
            inputs = {name: self._input(name, spec.name) for name in spec.upstream}
            staging = self.store.staging_dir(final_dir)
            ctx = ComponentContext(
                video_path=Path(video.uri),
                video_id=video.video_id,
                platform_id=video.platform_id,
                work_dir=staging,
                frames_dir=self.store.frames_dir(video.platform_id, video.video_id, self.versions[spec.name]),
                sampling=self.profile.sampling,
                log=self.context.log,
                runtime=self.runtime if spec.uses_gpu else CPU,
            )
            result, metrics = run_component(spec, ctx, component.config, inputs)
            if note:
                self.context.log.warning(f"{spec.name} for video {video.video_id}: {note}")
                result.warnings.append(note)
            run_id = self.context.run.run_id
            self.store.commit(staging, final_dir, result, {"artifact_version": self.versions[spec.name], "run_id": run_id})
            result = self.store.read(final_dir, verify=False)
        self.results[spec.name] = result
        key_hash = sha256_hex(canonical_json(self.profile.idempotency_key(spec.name, video.platform_id, video.video_id)))
        record = component_record(component, result, metrics, final_dir, cached, self.versions[spec.name], key_hash)
        run_dir = self.store.run_dir(video.platform_id, video.video_id, self.context.run.run_id)
        write_json_atomic(run_dir / "components" / f"{spec.name}.json", record)
        metadata = _metadata(record, result)
        if result.status is Status.ERROR and not component.optional:
            raise dg.Failure(
                description=f"required component {spec.name} failed for video {video.video_id}: {result.error}",
                metadata=metadata,
            )
        if result.status is Status.ERROR:
            self.context.log.warning(f"partial failure: optional component {spec.name} failed for video {video.video_id}: {result.error}")
            self._tag_partial_failure(spec.name)
        yield dg.MaterializeResult(asset_key=spec.name, metadata=metadata, data_version=dg.DataVersion(self.versions[spec.name]))
        selected_checks = self.context.selected_asset_check_keys
        for check in _check_results(component, result):
            if dg.AssetCheckKey(check.asset_key, check.check_name) in selected_checks:
                yield check

    def _tag_partial_failure(self, name: str) -> None:
        instance, run = self.context.instance, self.context.run
        current = instance.get_run_by_id(run.run_id).tags.get(PARTIAL_FAILURE_TAG, "")
        names = sorted({*filter(None, current.split(",")), name})
        instance.add_run_tags(run.run_id, {PARTIAL_FAILURE_TAG: ",".join(names)})


def _stage_name(components: list[ResolvedComponent]) -> str:
    if len(components) == 1:
        return f"{components[0].name}_step"
    return f"{components[0].spec.modality.value}_{components[0].name}_stage"


def _build_stage(profile: Profile, components: list[ResolvedComponent]) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=c.name,
            group_name=c.spec.modality.value,
            deps=[dg.AssetKey(up) for up in c.spec.upstream] or [dg.AssetKey(RAW_VIDEO)],
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
    def _stage(context: dg.AssetExecutionContext, store: ArtifactStore, catalog: VideoCatalog, gpu: GpuResource):
        runner = _StageRunner(profile, context, store, catalog, gpu)
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        for component in components:
            if component.name in selected:
                yield from runner.run(component)

    return _stage


@dg.observable_source_asset(
    key=RAW_VIDEO,
    partitions_def=video_partitions,
    group_name="core",
    description="The video file of each partition; its data version is the file's sha256, so a replaced file makes the partition stale.",
)
def raw_video(context, catalog: VideoCatalog) -> dg.DataVersionsByPartition:
    versions = {}
    for video_id in context.instance.get_dynamic_partitions(video_partitions.name):
        video = catalog.lookup(video_id)
        if video is None or not Path(video.uri).is_file():
            context.log.warning(f"video_id {video_id}: {'not in the catalog' if video is None else f'file {video.uri} is missing'}")
            continue
        versions[video_id] = catalog.content_hash(video)
    return dg.DataVersionsByPartition(versions)


def build_component_assets(profile: Profile, granularity: str | None = None) -> list[dg.AssetsDefinition]:
    stages = plan_stages(profile, granularity or profile.granularity)
    return [_build_stage(profile, stage) for stage in stages]
