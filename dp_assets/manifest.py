"""The per-run ``manifest.json``: what each component did for one video in one run.

Components write their own record into the run folder as they finish; the orchestrator (``dp
process``, or the run-status sensor for runs launched elsewhere) merges them into the manifest
once the run is over, so no two writers ever race on one file. The JSON Schema of the manifest
is in ``docs/manifest.schema.json`` (``python -m dp_assets.manifest`` regenerates it).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from dp_assets.cache import index_key
from dp_assets.profiles import Profile
from dp_assets.records import ComponentRecord
from dp_assets.versioning import DATAPROCESSOR_VERSION
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore, write_json_atomic
from dp_resources.run_records import record_components
from dp_resources.video_catalog import VideoCatalog, VideoRef

MANIFEST_FILE = "manifest.json"
log = logging.getLogger("dataprocessor")


class Manifest(BaseModel):
    # 2: components may carry ``reused_from`` (an artifact adopted from a repost's original)
    manifest_version: int = 2
    run_id: str
    run_status: Literal["ok", "error"] = Field(description="ok when every required component succeeded")
    dagster_run_status: str
    video_id: str
    platform_id: str
    video_uri: str
    profile: str
    sampling_policy_version: str
    dataprocessor_version: str = DATAPROCESSOR_VERSION
    written_at: dt.datetime
    failed_components: list[str] = Field(default_factory=list, description="required components that failed")
    partial_failures: list[str] = Field(default_factory=list, description="optional components that failed")
    run_error: str | None = Field(default=None, description="why the run failed, when it did")
    components: list[ComponentRecord]


def build_manifest(
    store: ArtifactStore,
    profile: Profile,
    video: VideoRef,
    run_id: str,
    dagster_run_status: str,
    run_error: str | None = None,
    records: dict[str, ComponentRecord] | None = None,
) -> Manifest:
    """The manifest from the components' records: ``records`` when the caller has them (the
    step that computed them), else the record files in the run folder."""
    records_dir = store.run_dir(video.platform_id, video.video_id, run_id) / "components"
    entries: list[ComponentRecord] = []
    for name, component in profile.components.items():
        record_path = records_dir / f"{name}.json"
        if records is not None and name in records:
            entries.append(records[name])
        elif record_path.is_file():
            entries.append(ComponentRecord.model_validate_json(record_path.read_text(encoding="utf-8")))
        else:
            entries.append(ComponentRecord.of(component, None))
    failed = [e.component for e in entries if e.status == "error" and not e.optional]
    partial = [e.component for e in entries if e.status == "error" and e.optional]
    ok = dagster_run_status == "SUCCESS" and not failed
    if not ok and run_error is None and failed:
        first = next(e for e in entries if e.component == failed[0])
        run_error = f"required component {first.component} failed: {first.error}"
    return Manifest(
        run_id=run_id,
        run_status="ok" if ok else "error",
        dagster_run_status=dagster_run_status,
        video_id=video.video_id,
        platform_id=video.platform_id,
        video_uri=video.uri,
        profile=profile.name,
        sampling_policy_version=profile.sampling.version,
        written_at=dt.datetime.now(dt.timezone.utc),
        failed_components=failed,
        partial_failures=partial,
        run_error=run_error,
        components=entries,
    )


def write_manifest(store: ArtifactStore, manifest: Manifest) -> Path:
    path = store.run_dir(manifest.platform_id, manifest.video_id, manifest.run_id) / MANIFEST_FILE
    write_json_atomic(path, manifest.model_dump(mode="json"))
    return path


def finalize_run(
    store: ArtifactStore,
    catalog: VideoCatalog,
    profile: Profile,
    video: VideoRef,
    run_id: str,
    dagster_run_status: str,
    run_error: str | None = None,
    index: ArtifactIndex | None = None,
    finished_at: dt.datetime | None = None,
    records: dict[str, ComponentRecord] | None = None,
) -> tuple[Manifest, Path]:
    """After a run: its manifest, its per-component rows, and (if it succeeded) the artifact index.

    ``dp process``, the step that processed a batch and the run-status sensors (runs from the UI,
    schedules) all end here, so every successful run can serve later requests and counts for the
    LRU. A manifest that cannot be written for lack of disk space is logged and left out (the
    database rows still say what happened); the video has failed already for the same reason.
    """
    manifest = build_manifest(store, profile, video, run_id, dagster_run_status, run_error, records)
    try:
        path = write_manifest(store, manifest)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        path = store.run_dir(video.platform_id, video.video_id, run_id) / MANIFEST_FILE
        log.error(f"manifest {path} not written: no space left on device")
    record_components(
        catalog.database_url,
        run_id=run_id,
        platform_id=video.platform_id,
        video_id=video.video_id,
        run_status=manifest.run_status,
        entries=[entry.model_dump() for entry in manifest.components],
    )
    if index is not None and manifest.run_status == "ok":
        inputs = catalog.inputs(video)
        finished_at = finished_at or dt.datetime.now(dt.timezone.utc)
        index.record_success(
            index_key(profile, video),
            run_id=run_id,
            finished_at=finished_at,
            video_content_sha256=inputs.combined,
            profile=profile.name,
            artifacts=profile.artifact_versions(inputs),
            components=[e.index_row(run_id, finished_at) for e in manifest.components if e.artifact_version],
        )
    return manifest, path


def json_schema() -> dict:
    return Manifest.model_json_schema()


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "docs" / "manifest.schema.json"
    target.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    print(target)
