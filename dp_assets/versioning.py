"""Hashes that decide when an output is still valid: config hash and code version."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal configs always hash equally."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
