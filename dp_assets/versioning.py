"""Hashes that decide when an output is still valid: config hash and code version."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dp_core.hashing import canonical_json, sha256_hex

# The pipeline code's version: part of the artifact index key (see docs/design.md). Bump it when
# a change to the orchestration (not to one component, which has its producer_version) could
# change stored results.
DATAPROCESSOR_VERSION = "0.1.0"


def config_hash(config: BaseModel) -> str:
    return sha256_hex(canonical_json(config))


def code_version(
    *, producer_version: str, schema_version: int, config_hash: str, sampling_policy_version: str, model_signature: str
) -> str:
    """Dagster ``code_version``: changes exactly when a stored output may no longer be valid."""
    fields = {
        "producer_version": producer_version,
        "schema_version": schema_version,
        "config_hash": config_hash,
        "sampling_policy_version": sampling_policy_version,
        "model_signature": model_signature,
    }
    return sha256_hex(canonical_json(fields))[:16]


def idempotency_key(
    *,
    platform_id: str,
    video_id: str,
    component: str,
    config_hash: str,
    sampling_policy_version: str,
    producer_version: str,
    schema_version: int,
    model_signature: str,
) -> dict[str, Any]:
    """The key of docs/design.md §3: a valid artifact for it is never recomputed."""
    return {
        "platform_id": platform_id,
        "video_id": video_id,
        "component": component,
        "config_hash": config_hash,
        "sampling_policy_version": sampling_policy_version,
        "producer_version": producer_version,
        "schema_version": schema_version,
        "model_signature": model_signature,
    }


def artifact_version(code_version: str, inputs: dict[str, str]) -> str:
    """Version of one output: its code version plus the versions of what it was computed from.

    ``inputs`` maps each upstream component to its artifact version, and ``raw_video`` to the
    video's content hash, so the version changes exactly when the output could differ: its own
    key changed, or anything upstream did (a new config upstream, a replaced video file). It is
    the artifact's folder name and the Dagster ``DataVersion`` of the materialization.
    """
    return sha256_hex(canonical_json({"code_version": code_version, "inputs": inputs}))[:20]
