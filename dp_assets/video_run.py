"""Computing the components of one video inside one run, independent of Dagster.

A component whose artifact for its current artifact version verifies is reused (a cache hit).
Otherwise, when another video already holds a verified artifact of the same version (a repost:
the same bytes under another id or platform), that artifact is adopted (hard-linked into this
video's folder, ``reused_from`` recorded). Otherwise its inputs are read, it is computed through
``execution.run_component``, and its artifact is committed atomically. Every component's record
goes into the run folder as it finishes, for the orchestrator to merge into the manifest.
``dp_assets.factory`` wraps this in Dagster steps; nothing here knows Dagster.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from dp_assets.cache import Verdict, check_artifact
from dp_assets.contract import CPU, FRAMES_COMPONENT, ComponentContext, ComponentResult, Status
from dp_assets.execution import no_space_message, run_component
from dp_assets.profiles import Profile, ResolvedComponent
from dp_assets.progress import current as current_progress
from dp_assets.records import ComponentRecord, ReusedFrom
from dp_core.hashing import canonical_json, sha256_hex
from dp_resources.artifact_index import ArtifactIndex, utcnow
from dp_resources.artifact_store import ArtifactStore, write_json_atomic
from dp_resources.gpu import Gpu
from dp_resources.video_catalog import VideoCatalog, VideoRef


class InputUnavailableError(Exception):
    """An upstream artifact this run needs is not there (a partial selection in the UI)."""


@dataclass(frozen=True)
class ComponentOutcome:
    component: ResolvedComponent
    result: ComponentResult
    record: ComponentRecord

    @property
    def failed_required(self) -> bool:
        return self.result.status is Status.ERROR and not self.component.optional


class VideoRun:
    def __init__(
        self,
        profile: Profile,
        store: ArtifactStore,
        catalog: VideoCatalog,
        index: ArtifactIndex,
        video: VideoRef,
        run_id: str,
        gpu: Gpu,
        log: logging.Logger,
        force: bool = False,
    ):
        if not Path(video.uri).is_file():
            raise FileNotFoundError(f"video {video.key}: file {video.uri} does not exist (moved or deleted?)")
        self.profile = profile
        self.store = store
        self.index = index
        self.video = video
        self.run_id = run_id
        self.gpu = gpu
        self.runtime = gpu.runtime()
        self.log = log
        self.force = force
        self.versions = profile.artifact_versions(catalog.inputs(video))
        self.results: dict[str, ComponentResult] = {}
        self.records: dict[str, ComponentRecord] = {}

    def _dir(self, name: str) -> Path:
        return self.store.artifact_dir(self.video.platform_id, self.video.video_id, name, self.versions[name])

    def _input(self, name: str, consumer: str) -> ComponentResult:
        if name not in self.results:
            verdict = check_artifact(self.store, self.video, name, self.versions[name], thorough=True)
            if not verdict.valid:
                raise InputUnavailableError(
                    f"{consumer} needs {name} for video {self.video.key}, but {name} has no valid artifact "
                    f"for its current version ({self.versions[name]}: {verdict.reason}); materialize {name} first"
                )
            self.results[name] = verdict.result
        return self.results[name]

    def _adopt(self, name: str, final_dir: Path) -> tuple[ComponentResult, ReusedFrom] | None:
        """A verified artifact of this version held by another video, linked into ours.

        Only donors younger than the cache TTL count: reusing an older analysis would serve what a
        request for the donor itself would recompute.
        """
        fresh_since = utcnow() - dt.timedelta(days=self.index.cache_ttl_days)
        for donor in self.index.donors(name, self.versions[name], exclude=self.video.key, created_since=fresh_since):
            donor_ref = VideoRef(donor.video.platform_id, donor.video.video_id, self.video.uri)
            verdict = check_artifact(self.store, donor_ref, name, self.versions[name], thorough=True)
            if not verdict.valid:
                continue  # evicted or damaged since it was indexed: try the next one
            reused = ReusedFrom(platform_id=donor.video.platform_id, video_id=donor.video.video_id, run_id=donor.run_id)
            self.store.adopt(
                donor.artifact_dir,
                donor.video,
                final_dir,
                self.video.key,
                {"artifact_version": self.versions[name], "run_id": self.run_id, "reused_from": reused.model_dump()},
            )
            self.log.info(f"{name} for video {self.video.key}: reused the artifact of {donor.video} (same content, run {donor.run_id})")
            return self.store.read(final_dir, verify=False), reused
        return None

    def _fresh_frames_dir(self, frames_dir: Path) -> None:
        # A frames folder adopted from a repost shares its files (hard links) with the donor:
        # decoding again into it would rewrite the donor's files, so it starts from a new folder.
        if frames_dir.exists():
            trash = frames_dir.with_name(f".{frames_dir.name}.{uuid.uuid4().hex}.old")
            os.replace(frames_dir, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def run(self, component: ResolvedComponent) -> ComponentOutcome:
        spec, video = component.spec, self.video
        final_dir = self._dir(spec.name)
        result, metrics, note, reused = None, None, None, None
        if not self.force:
            verdict = check_artifact(self.store, video, spec.name, self.versions[spec.name], thorough=True)
            result = verdict.result
            if verdict.verdict is Verdict.CORRUPT:
                note = f"cached artifact was invalid ({verdict.reason}); recomputed"
        cached = result is not None
        if result is None:
            adopted = self._adopt(spec.name, final_dir)
            if adopted is not None:
                result, reused = adopted
        if result is None:
            inputs = {name: self._input(name, spec.name) for name in spec.upstream}
            staging = self.store.staging_dir(final_dir)
            frames_dir = self.store.frames_dir(video.platform_id, video.video_id, self.versions[spec.name])
            if spec.name == FRAMES_COMPONENT:
                self._fresh_frames_dir(frames_dir)
            ctx = ComponentContext(
                video_path=Path(video.uri),
                video_id=video.video_id,
                platform_id=video.platform_id,
                work_dir=staging,
                frames_dir=frames_dir,
                sampling=self.profile.sampling,
                log=self.log,
                runtime=self.runtime if component.uses_gpu else CPU,
                progress=lambda done, total, unit: current_progress().component_progress(video.key, spec.name, done, total, unit),
            )
            with self.gpu.slot(ctx.runtime, on_wait=lambda: self.log.info(f"{spec.name} for video {video.key}: waiting for a GPU slot")):
                result, metrics = run_component(spec, ctx, component.config, inputs)
            if note:
                self.log.warning(f"{spec.name} for video {video.key}: {note}")
                result.warnings.append(note)
            try:
                self.store.commit(staging, final_dir, result, {"artifact_version": self.versions[spec.name], "run_id": self.run_id})
            except OSError as exc:
                message = no_space_message(spec.name, str(video.key), exc)
                if message is None:
                    raise
                # Nothing half-written is visible: the artifact was still in its staging folder.
                shutil.rmtree(staging, ignore_errors=True)
                result = ComponentResult.failed(message)
            else:
                # Read back so file paths point into the committed folder, not the staging one.
                result = self.store.read(final_dir, verify=False)
        self.results[spec.name] = result
        key_hash = sha256_hex(canonical_json(self.profile.idempotency_key(spec.name, video.key)))
        record = ComponentRecord.of(component, result, metrics, final_dir, cached, self.versions[spec.name], key_hash, reused)
        if not cached and result.status is not Status.ERROR:
            self.index.record_artifact(video.key, record.index_row(self.run_id, utcnow()))
        self.records[spec.name] = record
        run_dir = self.store.run_dir(video.platform_id, video.video_id, self.run_id)
        try:
            write_json_atomic(run_dir / "components" / f"{spec.name}.json", record.model_dump(mode="json"))
        except OSError as exc:
            if no_space_message(spec.name, str(video.key), exc) is None:
                raise
            # The manifest is built from self.records; the record file is only its copy on disk.
            self.log.error(f"{spec.name} for video {video.key}: its record was not written: no space left on device")
        return ComponentOutcome(component, result, record)
