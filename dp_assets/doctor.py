"""``dp doctor``: what crashes and interrupted writes left behind, and (``--repair``) fixing it.

Looked for: an instance file (``dagster.yaml``) that differs from this version's template;
unfinished runs of this host whose process is gone; GPU slots and their holders;
Dagster pool slots kept by finished runs; staging folders and temporary files of interrupted
writes; artifact folders of videos the catalog does not know; index rows whose artifacts or
manifest are gone. Nothing a live process owns is touched: a video being computed (its lock is
held) keeps its leftovers until it is free, and a held GPU slot always belongs to a live process
(the kernel releases the lock of a dead one), so it is only reported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from dp_assets import run_tags
from dp_assets.liveness import owner_gone, release_dead_runs
from dp_assets.manifest import Manifest
from dp_core.hashing import canonical_json, sha256_hex
from dp_resources.artifact_index import IndexKey
from dp_resources.run_records import record_components
from dp_resources.artifact_index import ArtifactIndex, VideoBusy
from dp_resources.artifact_store import ArtifactStore
from dp_resources.database import artifact_runs, component_artifacts
from dp_resources.gpu import Gpu
from dp_resources.ids import InvalidIdError, VideoKey
from dp_resources.video_catalog import VideoCatalog

_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    detail: str
    repair: str  # what --repair does about it; empty: nothing to repair


def _video_of(store: ArtifactStore, path: Path) -> VideoKey | None:
    """The video whose folder holds ``path`` (``<root>/<platform>/<video>/...``), if any."""
    for root in (Path(store.root), Path(store.frames_root)):
        if path.is_relative_to(root):
            parts = path.relative_to(root).parts
            if len(parts) >= 3:
                try:
                    return VideoKey(parts[0], parts[1])
                except InvalidIdError:
                    return None
    return None


def _lock_holders() -> dict[int, int]:
    """inode -> pid of every flock on this machine (``/proc/locks``)."""
    holders = {}
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return holders
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK":
            try:
                holders[int(fields[5].split(":")[-1])] = int(fields[4])
            except ValueError:
                continue
    return holders


class Doctor:
    def __init__(self, store: ArtifactStore, catalog: VideoCatalog, index: ArtifactIndex, instance: dg.DagsterInstance, gpu: Gpu):
        self.store, self.catalog, self.index, self.instance, self.gpu = store, catalog, index, instance, gpu

    # -- looking ----------------------------------------------------------------------------------
    def examine(self) -> list[Finding]:
        return [
            *self._instance_file(),
            *self._runs(),
            *self._gpu_slots(),
            *self._pool_slots(),
            *self._leftovers(),
            *self._orphans(),
            *self._dangling_rows(),
        ]

    def _instance_file(self) -> list[Finding]:
        from dp_resources.settings import current_settings, instance_yaml_state

        settings = current_settings()
        if instance_yaml_state(settings) != "edited":
            return []
        # within the 70 characters the report shows
        detail = "not this version's template: `dp migrate` replaces it, keeps a copy"
        return [Finding("instance file", str(settings.dagster_home / "dagster.yaml"), detail, "")]

    def _runs(self) -> list[Finding]:
        found = []
        for run in self.instance.get_runs(filters=dg.RunsFilter(statuses=_UNFINISHED)):
            if run.tags.get(run_tags.OWNER_PID) and owner_gone(run):
                found.append(
                    Finding(
                        "stale run",
                        run.run_id,
                        f"{run.status.value}, but its process (pid {run.tags[run_tags.OWNER_PID]} on {run.tags.get(run_tags.OWNER_HOST)}) is gone",
                        "mark it failed",
                    )
                )
        return found

    def _gpu_slots(self) -> list[Finding]:
        lock_dir = Path(self.gpu.lock_dir)
        holders = _lock_holders()
        found = []
        for path in sorted(lock_dir.glob("*.slot*")) if lock_dir.is_dir() else []:
            pid = holders.get(path.stat().st_ino)
            if pid is not None:
                found.append(Finding("gpu slot", path.name, f"held by pid {pid} (a live process: the kernel frees a dead one's)", ""))
        return found

    def _pool_slots(self) -> list[Finding]:
        storage = self.instance.event_log_storage
        found = []
        for run_id in sorted(storage.get_concurrency_run_ids()):
            run = self.instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                found.append(Finding("pool slot", run_id, "held by a run that has ended", "free it"))
        return found

    def _leftovers(self) -> list[Finding]:
        return [Finding("leftover", str(path), "left by an interrupted write", "delete it") for path in self.store.leftovers()]

    def _orphans(self) -> list[Finding]:
        """Video folders (artifacts or frames) of videos the catalog does not know."""
        known = {(k.platform_id, k.video_id) for k in self.catalog.keys()}
        found = []
        for root in (Path(self.store.root), Path(self.store.frames_root)):
            if not root.is_dir():
                continue
            for platform in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
                for video in sorted(v for v in platform.iterdir() if v.is_dir() and not v.name.startswith(".")):
                    if (platform.name, video.name) not in known:
                        found.append(Finding("orphan artifacts", str(video), "folder of a video the catalog does not know", "delete it"))
        return found

    def _dangling_rows(self) -> list[Finding]:
        found = []
        with self.index.engine.connect() as conn:
            for row in conn.execute(sa.select(component_artifacts.c.platform_id, component_artifacts.c.video_id, component_artifacts.c.component, component_artifacts.c.artifact_version, component_artifacts.c.artifact_dir)):
                if not Path(row.artifact_dir).is_dir():
                    found.append(
                        Finding(
                            "dangling index row",
                            f"{row.platform_id}/{row.video_id} {row.component}@{row.artifact_version}",
                            f"its artifact {row.artifact_dir} is gone",
                            "delete the row",
                        )
                    )
            for entry in self.index.entries_all():
                manifest = self.store.run_dir(entry.key.platform_id, entry.key.video_id, entry.latest_success_run_id) / "manifest.json"
                if not manifest.is_file():
                    found.append(
                        Finding(
                            "dangling index row",
                            f"{entry.key.video} run {entry.latest_success_run_id}",
                            f"its manifest {manifest} is gone (a request recomputes it)",
                            "delete the row",
                        )
                    )
        return found

    # -- rebuilding the database from the artifacts -----------------------------------------------
    def rebuild(self) -> dict[str, int]:
        """Rebuild the catalog, the artifact index and the run records from every run manifest
        on disk (after a damaged database was moved aside). The bucket sensor's ledger is not
        rebuilt: the next ticks see the bucket's objects as new and their runs are cache hits."""
        manifests: list[tuple[Manifest, Path]] = []
        for path in sorted(Path(self.store.root).glob("*/*/runs/*/manifest.json")):
            try:
                manifests.append((Manifest.model_validate_json(path.read_text(encoding="utf-8")), path))
            except (OSError, ValueError):
                continue  # a damaged manifest: that run is not rebuilt
        manifests.sort(key=lambda item: item[0].written_at)
        counts = {"manifests": len(manifests), "videos": 0, "index entries": 0, "component rows": 0}
        latest: dict[tuple, Manifest] = {}
        videos: dict[VideoKey, Manifest] = {}
        for manifest, _ in manifests:
            video = VideoKey(manifest.platform_id, manifest.video_id)
            videos[video] = manifest
            record_components(
                self.catalog.database_url,
                run_id=manifest.run_id,
                platform_id=video.platform_id,
                video_id=video.video_id,
                run_status=manifest.run_status,
                entries=[c.model_dump() for c in manifest.components],
            )
            for component in manifest.components:
                if component.status in ("ok", "empty") and component.artifact_dir and Path(component.artifact_dir).is_dir():
                    self.index.record_artifact(video, component.index_row(manifest.run_id, manifest.written_at))
                    counts["component rows"] += 1
            if manifest.run_status == "ok":
                config_hash = sha256_hex(canonical_json({c.component: c.code_version for c in manifest.components}))
                latest[(video, config_hash, manifest.sampling_policy_version, manifest.dataprocessor_version)] = manifest
        for video, manifest in videos.items():
            self.catalog.register(video, manifest.video_uri)
            counts["videos"] += 1
        for (video, config_hash, sampling, version), manifest in latest.items():
            ref = self.catalog.get(video)
            if not Path(ref.uri).is_file():
                continue  # the video file is gone: its cached run could not be checked against it
            key = IndexKey(video.platform_id, video.video_id, config_hash, sampling, version)
            self.index.record_success(
                key,
                run_id=manifest.run_id,
                finished_at=manifest.written_at,
                video_content_sha256=self.catalog.inputs(ref).combined,
                profile=manifest.profile,
                artifacts={c.component: c.artifact_version for c in manifest.components if c.artifact_version},
                components=[c.index_row(manifest.run_id, manifest.written_at) for c in manifest.components if c.artifact_version],
            )
            counts["index entries"] += 1
        return counts

    # -- repairing ---------------------------------------------------------------------------------
    def repair(self, findings: list[Finding]) -> list[str]:
        done = []
        if any(f.kind in ("stale run", "pool slot") for f in findings):
            for run_id in release_dead_runs(self.instance):
                done.append(f"run {run_id}: marked failed / its pool slots freed")
        for finding in findings:
            if finding.kind in ("leftover", "orphan artifacts"):
                done.append(self._delete(Path(finding.subject)))
            elif finding.kind == "dangling index row":
                done.append(self._drop_row(finding))
        return [line for line in done if line]

    def _delete(self, path: Path) -> str:
        video = _video_of(self.store, path)
        with contextlib.ExitStack() as stack:
            if video is not None:
                try:
                    stack.enter_context(self.index.video_lock(video, blocking=False))
                except VideoBusy:
                    return f"{path}: kept, its video is being computed right now"
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists() or path.is_symlink():
                os.unlink(path)
        return f"{path}: deleted"

    def _drop_row(self, finding: Finding) -> str:
        subject, _, rest = finding.subject.partition(" ")
        video = VideoKey.parse(subject)
        with self.index.engine.begin() as conn:
            if rest.startswith("run "):
                run_id = rest.removeprefix("run ")
                t = artifact_runs
                conn.execute(sa.delete(t).where((t.c.platform_id == video.platform_id) & (t.c.video_id == video.video_id) & (t.c.latest_success_run_id == run_id)))
            else:
                component, _, version = rest.partition("@")
                t = component_artifacts
                conn.execute(
                    sa.delete(t).where(
                        (t.c.platform_id == video.platform_id) & (t.c.video_id == video.video_id) & (t.c.component == component) & (t.c.artifact_version == version)
                    )
                )
        return f"{finding.subject}: index row deleted"

