"""Dagster resources of DataProcessor: artifacts, the video catalog, the index, GPU, models, settings.

Attributes load on first use (PEP 562), so importing one submodule (``dp_resources.models``,
``dp_resources.settings``) does not import Dagster.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ArtifactStore": "dp_resources.artifact_store",
    "VideoCatalog": "dp_resources.video_catalog",
    "VideoRef": "dp_resources.video_catalog",
    "dp_home": "dp_resources.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dp_resources' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
