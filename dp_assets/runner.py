"""``dp process``: serve videos from the artifact index, or run them through the graph in this process.

A video is served from cache, with no Dagster run and no decode, when the cache verdict
(``dp_assets.cache.request_verdict``) says its indexed run is valid. The others are computed in
Dagster runs executed in-process on the instance under ``$DAGSTER_HOME``, several videos per run
when the profile processes a whole video in one step (the default): their partitions are added
in one call, so they form a contiguous range, and the run's one step takes them one after the
other with the models loaded once for the process. Inside a run every component whose artifact
is still valid is a cache hit (a config change recomputes only that component and what depends
on it); a video whose cache expired is recomputed whole. The step holds each video's lock while
it computes it, so two requests for one video never compute it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from dp_assets import run_tags
from dp_assets.assembly import PROCESS_VIDEO_JOB, build_definitions
from dp_assets.cache import Verdict, request_verdict
from dp_assets.liveness import owner_tags, release_dead_runs
from dp_assets.manifest import Manifest, finalize_run
from dp_assets.partitions import (
    PARTITION_RANGE_END,
    PARTITION_RANGE_START,
    VIDEO_PARTITIONS_NAME,
    add_video_partitions,
    contiguous_batches,
    sync_video_partitions,
)
from dp_assets.preload import Preloader
from dp_assets.profiles import Profile
from dp_assets.progress import NO_PROGRESS, STOP, VideoProgress, following
from dp_assets.serving import ProcessOutcome, serve_cached
from dp_assets.stages import whole_video_steps
from dp_assets.video_steps import observe_sources  # noqa: F401  (what the UI's staleness reads)
from dp_resources.artifact_index import ArtifactIndex, utcnow
from dp_resources.artifact_store import ArtifactStore
from dp_resources.gpu import Gpu
from dp_resources.ids import VideoKey
from dp_resources.instance import open_instance
from dp_resources.settings import current_settings
from dp_resources.video_catalog import VideoCatalog

log = logging.getLogger("dataprocessor")



def first_failure(result: dg.ExecuteInProcessResult) -> str | None:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                return data.user_failure_data.description
            if data.error:
                # Dagster wraps the real exception ("Error occurred while executing op"): show the cause.
                error = data.error.cause or data.error
                if error.cls_name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt"):
                    return f"step {event.step_key}: interrupted by a signal (Ctrl-C or SIGTERM); the run was marked failed"
                return f"step {event.step_key}: {error.cls_name}: {error.message.strip().splitlines()[0]}"
    return None


class _Collector(VideoProgress):
    """Passes the step's progress on, and keeps each finished video's manifest for the caller."""

    def __init__(self, forward: VideoProgress, finished_at: dt.datetime | None):
        self.forward = forward
        self.finished_at = finished_at
        self.finished: dict[VideoKey, tuple[Manifest, Path, tuple[VideoKey, ...]]] = {}

    def video_started(self, video, components):
        self.forward.video_started(video, components)

    def component_progress(self, video, component, done, total, unit):
        self.forward.component_progress(video, component, done, total, unit)

    def component_finished(self, video, component, status):
        self.forward.component_finished(video, component, status)

    def video_finished(self, video, manifest, manifest_path, evicted=()):
        self.finished[video] = (manifest, manifest_path, evicted)
        self.forward.video_finished(video, manifest, manifest_path, evicted)


@dataclass
class Processor:
    """Processes videos in this process; the instance and the definitions are set up once."""

    profile: Profile
    store: ArtifactStore = field(default_factory=ArtifactStore)
    catalog: VideoCatalog = field(default_factory=VideoCatalog)
    index: ArtifactIndex | None = None
    gpu: Gpu | None = None
    instance: dg.DagsterInstance | None = None
    dagster_log_level: str = "WARNING"
    progress: VideoProgress = NO_PROGRESS
    # Videos per run: a run's videos are computed one after the other, so a bounded batch keeps a
    # run (and what a failure redoes) short, while its fixed cost is shared by many videos.
    max_videos_per_run: int = field(default_factory=lambda: current_settings().batch_max_videos)

    def __post_init__(self) -> None:
        self.index = self.index or ArtifactIndex(database_url=self.catalog.database_url)
        self.gpu = self.gpu or Gpu(device=self.profile.runtime.device, precision=self.profile.runtime.precision)
        self._collector = _Collector(self.progress, None)
        self._defs: dg.Definitions | None = None
        self._preloader: Preloader | None = None
        self.whole_video = whole_video_steps(self.profile)

    def _definitions(self) -> dg.Definitions:
        if self._defs is None:
            self._defs = build_definitions(
                # dp process computes here, in batches, whatever executor the deployment's daemon uses
                self.profile, store=self.store, catalog=self.catalog, gpu=self.gpu, index=self.index, executor="in_process"
            )
        return self._defs

    def _preload(self) -> None:
        """Load the models on a thread while the instance opens and the first video decodes."""
        if self._preloader is None:
            self._preloader = Preloader(self.profile.components.values(), self.profile.runtime).start()

    def _instance(self) -> dg.DagsterInstance:
        if self.instance is None:
            self.instance = open_instance()
        for run_id in release_dead_runs(self.instance):
            log.warning(f"marked run {run_id} failed: its process is gone")
        sync_video_partitions(self.instance, self.catalog)
        return self.instance

    def process(
        self, requests: list[tuple[Path, VideoKey]], now: dt.datetime | None = None, progress: VideoProgress | None = None
    ) -> list[ProcessOutcome]:
        """Every request's outcome, in order: served from cache, or computed.

        The videos' locks are held from the cache check to the end, so a concurrent request for
        one of them waits and is then served from cache instead of computing it again.
        ``progress``, when given, replaces the processor's own from this call on (a resident
        process passes each client's with its request)."""
        if progress is not None:
            self.progress = self._collector.forward = progress
        self._collector.finished_at = now  # None: each video's real finish time
        now = now or utcnow()
        try:
            with self.index.video_locks([video for _, video in requests]):
                outcomes = self._process_locked(requests, now)
        finally:
            if self._preloader is not None:
                self._preloader.stop()
                self._preloader = None  # a later call preloads what is still missing
        return [outcomes[video] for _, video in requests if video in outcomes]

    def _process_locked(self, requests: list[tuple[Path, VideoKey]], now: dt.datetime) -> dict[VideoKey, ProcessOutcome]:
        """``process`` with the videos' locks held."""
        outcomes: dict[VideoKey, ProcessOutcome] = {}
        to_compute: dict[VideoKey, bool] = {}  # video -> its cache expired (recompute everything)
        for path, video in requests:
            cached = serve_cached(path, video, self.profile, self.store, self.catalog, self.index, now)
            if cached is not None:
                outcomes[video] = cached
                self.progress.video_finished(video, cached.manifest, cached.manifest_path)
                continue
            ref = self.catalog.get(video)
            verdict = request_verdict(self.store, self.index, self.profile, ref, self.catalog.inputs(ref), now)
            to_compute[video] = verdict.verdict is Verdict.EXPIRED
        if to_compute:
            self._preload()
            instance = self._instance()
            existing = set(instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME))
            # New partitions in one call: they are contiguous, so one range run covers them.
            add_video_partitions(instance, [v.partition_key for v in to_compute if v.partition_key not in existing])
            ordered = instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME)
            limit = self.max_videos_per_run if self.whole_video else 1
            for expired in (False, True):
                keys = [v.partition_key for v, e in to_compute.items() if e is expired]
                for batch in contiguous_batches(ordered, keys, limit):
                    if STOP.requested:
                        break
                    outcomes.update(self._run(instance, batch, expired))
        return outcomes

    def _run(self, instance: dg.DagsterInstance, batch: list[str], expired: bool) -> dict[VideoKey, ProcessOutcome]:
        tags = {
            run_tags.FINALIZED_BY: run_tags.FINALIZED_BY_DP_PROCESS,  # the manifest sensors leave this run alone
            **owner_tags(),
        }
        if expired:
            tags[run_tags.FORCE_RECOMPUTE] = "true"
        partition_key = None
        if len(batch) == 1:
            partition_key = batch[0]
            video = VideoKey.parse(batch[0])
            tags.update({run_tags.VIDEO_ID: video.video_id, run_tags.PLATFORM_ID: video.platform_id})
        else:
            tags.update({PARTITION_RANGE_START: batch[0], PARTITION_RANGE_END: batch[-1], run_tags.BATCH_SIZE: str(len(batch))})
        with following(self._collector):
            result = self._definitions().resolve_job_def(PROCESS_VIDEO_JOB).execute_in_process(
                instance=instance,
                partition_key=partition_key,
                raise_on_error=False,
                tags=tags,
                run_config={"loggers": {"console": {"config": {"log_level": self.dagster_log_level}}}},
            )
        run_error = None if result.success else first_failure(result)
        outcomes: dict[VideoKey, ProcessOutcome] = {}
        for key in batch:
            video = VideoKey.parse(key)
            finished = self._collector.finished.pop(video, None)
            if finished is not None:
                manifest, path, evicted = finished
            else:
                # Several steps per video write no manifest themselves (nor does a step that never
                # reached this video): the run's outcome is written here.
                manifest, path = finalize_run(
                    self.store,
                    self.catalog,
                    self.profile,
                    self.catalog.get(video),
                    result.run_id,
                    "SUCCESS" if result.success else "FAILURE",
                    run_error,
                    index=self.index,
                    finished_at=self._collector.finished_at,
                )
                evicted = tuple(self.index.evict_over_limit(self.store, keep=video)) if manifest.run_status == "ok" else ()
                self.progress.video_finished(video, manifest, path, evicted)
            outcomes[video] = ProcessOutcome(manifest=manifest, manifest_path=path, run_id=result.run_id, evicted=evicted)
        return outcomes


def process_video(
    path: Path,
    video: VideoKey,
    profile: Profile,
    instance: dg.DagsterInstance | None = None,
    store: ArtifactStore | None = None,
    catalog: VideoCatalog | None = None,
    index: ArtifactIndex | None = None,
    gpu: Gpu | None = None,
    dagster_log_level: str = "WARNING",
    now: dt.datetime | None = None,
) -> ProcessOutcome:
    """One video (see :class:`Processor` for many)."""
    processor = Processor(
        profile,
        store=store or ArtifactStore(),
        catalog=catalog or VideoCatalog(),
        index=index,
        gpu=gpu,
        instance=instance,
        dagster_log_level=dagster_log_level,
    )
    return processor.process([(path, video)], now=now)[0]
