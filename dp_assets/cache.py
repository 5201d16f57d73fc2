"""The cache verdict: whether a stored artifact, or a whole cached request, can be used.

One set of rules for every caller: ``dp process`` (serve a request from the index), the stage
runner (reuse a component's artifact inside a run), and ``dp status`` (say what a request would
do). Each verdict carries its reason, so what the user is told is what was decided.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from dp_assets.contract import ComponentResult, Status
from dp_assets.profiles import Profile
from dp_assets.versioning import DATAPROCESSOR_VERSION
from dp_resources.artifact_index import ArtifactIndex, IndexEntry, IndexKey
from dp_resources.artifact_store import ArtifactStore, CorruptArtifactError
from dp_resources.video_catalog import VideoInputs, VideoRef


class Verdict(str, Enum):
    VALID = "valid"  # usable as it is
    CORRUPT = "corrupt"  # present, but a file's checksum or size is wrong, or a file it names is gone
    MISSING = "missing"  # nothing usable stored (never computed, evicted, or only a failure stored)
    EXPIRED = "expired"  # the cached run is older than cache_ttl_days
    STALE = "stale"  # stored for other inputs: the file, a config or a version changed since


@dataclass(frozen=True)
class ArtifactVerdict:
    component: str
    artifact_version: str
    verdict: Verdict
    reason: str
    result: ComponentResult | None = None

    @property
    def valid(self) -> bool:
        return self.verdict is Verdict.VALID


@dataclass(frozen=True)
class RequestVerdict:
    """Whether a request for one video and profile is served from the index, and why (not)."""

    verdict: Verdict
    reason: str
    entry: IndexEntry | None = None
    artifacts: dict[str, ArtifactVerdict] = field(default_factory=dict)
    manifest_path: Path | None = None

    @property
    def servable(self) -> bool:
        return self.verdict is Verdict.VALID


def index_key(profile: Profile, video: VideoRef) -> IndexKey:
    """The artifact index key of a request: platform, video, profile config hash, sampling policy, code version."""
    return IndexKey(video.platform_id, video.video_id, profile.config_hash, profile.sampling.version, DATAPROCESSOR_VERSION)


def check_artifact(store: ArtifactStore, video: VideoRef, component: str, artifact_version: str, *, thorough: bool) -> ArtifactVerdict:
    """Is the stored artifact of ``component`` at ``artifact_version`` usable?

    ``thorough`` checks the sha256 of every file (a run does, before it reuses an artifact);
    otherwise sizes only, which catches truncation and loss without hashing a long video's
    waveform on every request served from the index.
    """
    folder = store.artifact_dir(video.platform_id, video.video_id, component, artifact_version)
    try:
        # A quick check (serving a request) needs the verdict, not the rows.
        result = store.read(folder, quick=not thorough, load_table=thorough)
    except FileNotFoundError:
        return ArtifactVerdict(component, artifact_version, Verdict.MISSING, f"no artifact at {folder}")
    except CorruptArtifactError as exc:
        return ArtifactVerdict(component, artifact_version, Verdict.CORRUPT, str(exc))
    if result.status is Status.ERROR:
        # Failures are never served: the next run tries again.
        return ArtifactVerdict(component, artifact_version, Verdict.MISSING, f"only a failed result is stored ({result.error})")
    return ArtifactVerdict(component, artifact_version, Verdict.VALID, "stored and verified", result)


def request_verdict(
    store: ArtifactStore, index: ArtifactIndex, profile: Profile, video: VideoRef, inputs: VideoInputs, now: dt.datetime
) -> RequestVerdict:
    """Serve from the index only when the latest successful run is for this file and these
    versions, younger than the TTL, and every artifact and the manifest are still there."""
    entry = index.lookup(index_key(profile, video))
    if entry is None:
        return RequestVerdict(Verdict.MISSING, f"no successful run with profile {profile.name} at its current versions")
    if entry.video_content_sha256 != inputs.combined:
        return RequestVerdict(Verdict.STALE, "the video file (or its sidecar) changed since that run", entry)
    versions = profile.artifact_versions(inputs)
    if entry.artifacts != versions:
        changed = sorted(name for name in versions if entry.artifacts.get(name) != versions[name])
        return RequestVerdict(Verdict.STALE, f"the indexed run has other versions of {', '.join(changed)}", entry)
    artifacts = {name: check_artifact(store, video, name, version, thorough=False) for name, version in versions.items()}
    if not index.is_fresh(entry, now):
        return RequestVerdict(Verdict.EXPIRED, f"older than cache_ttl_days={index.cache_ttl_days:g}", entry, artifacts)
    for artifact in artifacts.values():
        if not artifact.valid:
            return RequestVerdict(artifact.verdict, f"{artifact.component}: {artifact.reason}", entry, artifacts)
    manifest_path = store.run_dir(video.platform_id, video.video_id, entry.latest_success_run_id) / "manifest.json"
    if not manifest_path.is_file():
        return RequestVerdict(Verdict.MISSING, f"the cached run's manifest {manifest_path} is gone", entry, artifacts)
    remaining_h = index.cache_ttl_days * 24 - entry.age(now).total_seconds() / 3600
    return RequestVerdict(Verdict.VALID, f"fresh for {remaining_h:.1f} more hours", entry, artifacts, manifest_path)
