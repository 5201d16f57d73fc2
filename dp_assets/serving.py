"""Answering a request from the artifact index, without Dagster: the fast path of ``dp process``.

A request is served from cache when the cache verdict (``dp_assets.cache.request_verdict``) says
the indexed run is valid: no Dagster run, no decode, and neither Dagster nor any model library is
imported, so a cached ``dp process`` returns in a fraction of a second. Anything else goes to
``dp_assets.runner``, which checks the verdict again under the video's lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from dp_assets.cache import request_verdict
from dp_assets.manifest import Manifest
from dp_assets.profiles import Profile
from dp_resources.artifact_index import ArtifactIndex, utcnow
from dp_resources.artifact_store import ArtifactStore
from dp_resources.ids import VideoKey
from dp_resources.video_catalog import VideoCatalog


@dataclass
class ProcessOutcome:
    manifest: Manifest
    manifest_path: Path
    run_id: str
    served_from_cache: bool = False
    evicted: tuple[VideoKey, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.manifest.run_status == "ok"


def serve_cached(
    path: Path,
    video: VideoKey,
    profile: Profile,
    store: ArtifactStore,
    catalog: VideoCatalog,
    index: ArtifactIndex,
    now: dt.datetime | None = None,
) -> ProcessOutcome | None:
    """The cached outcome of ``video`` (registering ``path`` as its file), or None to compute.

    The caller holds the video's lock (``ArtifactIndex.video_lock``)."""
    ref = catalog.register(video, str(Path(path).resolve()))
    now = now or utcnow()
    verdict = request_verdict(store, index, profile, ref, catalog.inputs(ref), now)
    if not verdict.servable:
        return None
    cached = Manifest.model_validate_json(verdict.manifest_path.read_text(encoding="utf-8"))
    manifest = cached.model_copy(update={"components": [c.served_from_cache() for c in cached.components]})
    index.touch(video, now)
    return ProcessOutcome(manifest=manifest, manifest_path=verdict.manifest_path, run_id=verdict.entry.latest_success_run_id, served_from_cache=True)
