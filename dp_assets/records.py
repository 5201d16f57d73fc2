"""The per-component record of one run: one model shared by the Dagster metadata, the run
manifest, the ``dp_component_runs`` rows and the artifact index's component rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from dp_assets.contract import ComponentResult
from dp_assets.observability import ComponentMetrics
from dp_assets.profiles import ResolvedComponent


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class ReusedFrom(BaseModel):
    """The video (and its run) whose artifact a repost adopted instead of recomputing it."""

    platform_id: str
    video_id: str
    run_id: str


class ComponentRecord(BaseModel):
    component: str
    modality: str
    optional: bool
    status: Literal["ok", "empty", "error", "not_executed"]
    empty_reason: str | None = None
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = Field(default=None, description="peak resident memory of the process while the component ran")
    peak_rss_delta_mb: float | None = Field(default=None, description="peak_rss_mb minus resident memory when the component started")
    peak_gpu_mb: float | None = Field(default=None, description="peak CUDA memory allocated by torch, when a GPU was used")
    cache_hit: bool = False
    reused_from: ReusedFrom | None = Field(
        default=None, description="set when this artifact was adopted from another video with the same content (a repost)"
    )
    artifact_version: str | None = Field(default=None, description="code version plus upstream lineage; the artifact folder name")
    idempotency_key_hash: str | None = Field(default=None, description="sha256 of the idempotency key (docs/design.md)")
    artifact_dir: str | None = None
    files: dict[str, str] = Field(default_factory=dict)
    producer_version: str
    schema_version: int
    config_hash: str
    sampling_policy_version: str
    model_signature: str
    code_version: str

    @classmethod
    def of(
        cls,
        component: ResolvedComponent,
        result: ComponentResult | None,
        metrics: ComponentMetrics | None = None,
        artifact_dir: Path | None = None,
        cached: bool = False,
        artifact_version: str | None = None,
        idempotency_key_hash: str | None = None,
        reused_from: ReusedFrom | None = None,
    ) -> "ComponentRecord":
        """The record of ``component``; ``result=None`` records a component that never ran."""
        return cls(
            component=component.name,
            modality=component.spec.modality.value,
            optional=component.optional,
            status=result.status.value if result else "not_executed",
            empty_reason=result.empty_reason if result else None,
            error=result.error if result else None,
            warnings=list(result.warnings) if result else [],
            wall_seconds=_rounded(metrics.wall_s, 4) if metrics else None,
            cpu_seconds=_rounded(metrics.cpu_s, 4) if metrics else None,
            peak_rss_mb=_rounded(metrics.peak_rss_mb, 1) if metrics else None,
            peak_rss_delta_mb=_rounded(metrics.peak_rss_delta_mb, 1) if metrics else None,
            peak_gpu_mb=_rounded(metrics.peak_gpu_mb, 1) if metrics else None,
            cache_hit=cached,
            reused_from=reused_from,
            artifact_version=artifact_version,
            idempotency_key_hash=idempotency_key_hash,
            artifact_dir=str(artifact_dir) if artifact_dir else None,
            files=dict(result.files) if result else {},
            producer_version=component.spec.producer_version,
            schema_version=component.spec.schema_version,
            config_hash=component.config_hash,
            sampling_policy_version=component.sampling_policy_version,
            model_signature=component.model_signature,
            code_version=component.code_version,
        )

    def served_from_cache(self) -> "ComponentRecord":
        """The record as a request served from the index reports it: a cache hit that cost nothing."""
        return self.model_copy(
            update={
                "cache_hit": True,
                "wall_seconds": None,
                "cpu_seconds": None,
                "peak_rss_mb": None,
                "peak_rss_delta_mb": None,
                "peak_gpu_mb": None,
            }
        )

    def index_row(self, run_id: str, created_at: dt.datetime) -> dict[str, Any]:
        """The artifact index's component row (keyed by the idempotency key plus lineage)."""
        return {
            "component": self.component,
            "artifact_version": self.artifact_version,
            "idempotency_key_hash": self.idempotency_key_hash,
            "config_hash": self.config_hash,
            "sampling_policy_version": self.sampling_policy_version,
            "producer_version": self.producer_version,
            "schema_version": self.schema_version,
            "model_signature": self.model_signature,
            "status": self.status,
            "artifact_dir": self.artifact_dir,
            "run_id": run_id,
            "created_at": created_at,
        }
