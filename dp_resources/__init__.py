"""The stores and settings of DataProcessor: artifacts, the video catalog, the index, GPU, models.

They are plain Python; ``dp_resources.resources`` wraps them as Dagster resources. Attributes load
on first use (PEP 562), so importing one submodule does not import the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ArtifactStore": "dp_resources.artifact_store",
    "VideoCatalog": "dp_resources.video_catalog",
    "VideoRef": "dp_resources.video_catalog",
    "VideoKey": "dp_resources.ids",
    "dp_home": "dp_resources.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dp_resources' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
