"""The artifact index (docs/design.md §5): which successful run holds a video's features, and the LRU.

Run rows are keyed by ``(platform_id, video_id, config_hash, sampling_policy_version,
dataprocessor_version)`` → ``latest_success_run_id``, finish time and the artifact version of every
component; component rows by the idempotency key (plus the artifact version, which adds the
lineage). A request is served from cache while the latest successful run is younger than
``cache_ttl_days``. The heavy layer keeps the ``max_videos`` most recently used videos (each
``(platform_id, video_id)`` counts once, a repost too); evicting one removes its artifacts, frames
and index rows together. Component rows also say which video already holds an artifact version,
so a repost of the same bytes adopts it instead of recomputing (``donors``).
Plain Python (no Dagster); ``dp_resources.resources`` wraps it for Dagster.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from pydantic import BaseModel, PositiveFloat, PositiveInt

from dp_resources.artifact_store import ArtifactStore
from dp_resources.database import artifact_runs, component_artifacts, engine_for, video_usage
from dp_resources.ids import VideoKey
from dp_resources.settings import dp_home, resource_field


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands timezone-aware values back naive; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class IndexKey:
    platform_id: str
    video_id: str
    config_hash: str
    sampling_policy_version: str
    dataprocessor_version: str

    def where(self):
        return sa.and_(*(getattr(artifact_runs.c, f) == getattr(self, f) for f in self.__dataclass_fields__))

    @property
    def video(self) -> VideoKey:
        return VideoKey(self.platform_id, self.video_id)


@dataclass(frozen=True)
class Donor:
    """A video that already holds an artifact version (found for a repost of the same bytes)."""

    video: VideoKey
    run_id: str
    artifact_dir: Path
    created_at: dt.datetime


def _entry(row) -> "IndexEntry":
    return IndexEntry(
        key=IndexKey(row.platform_id, row.video_id, row.config_hash, row.sampling_policy_version, row.dataprocessor_version),
        latest_success_run_id=row.latest_success_run_id,
        finished_at=_aware(row.finished_at),
        video_content_sha256=row.video_content_sha256,
        profile=row.profile,
        artifacts=dict(row.artifacts),
    )


@dataclass(frozen=True)
class IndexEntry:
    key: IndexKey
    latest_success_run_id: str
    finished_at: dt.datetime
    video_content_sha256: str
    profile: str
    artifacts: dict[str, str]

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        return (now or utcnow()) - self.finished_at


def _video(table: sa.Table, key: VideoKey):
    return (table.c.platform_id == key.platform_id) & (table.c.video_id == key.video_id)


class ArtifactIndex(BaseModel):
    database_url: str = resource_field("database_url")
    cache_ttl_days: PositiveFloat = resource_field("cache_ttl_days")
    max_videos: PositiveInt = resource_field("max_videos")

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.database_url)

    # -- lookups ---------------------------------------------------------------------------
    def lookup(self, key: IndexKey) -> IndexEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(artifact_runs).where(key.where())).first()
        return None if row is None else _entry(row)

    def latest_for_video(self, video: VideoKey) -> list[IndexEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(artifact_runs).where(_video(artifact_runs, video)).order_by(artifact_runs.c.finished_at.desc())).all()
        return [_entry(r) for r in rows]

    def entries(
        self, config_hash: str, sampling_policy_version: str, dataprocessor_version: str, since: dt.datetime | None = None
    ) -> list[IndexEntry]:
        """Every video's latest successful run at these versions (one per video), oldest first."""
        query = sa.select(artifact_runs).where(
            (artifact_runs.c.config_hash == config_hash)
            & (artifact_runs.c.sampling_policy_version == sampling_policy_version)
            & (artifact_runs.c.dataprocessor_version == dataprocessor_version)
        )
        if since is not None:
            query = query.where(artifact_runs.c.finished_at >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(artifact_runs.c.finished_at, artifact_runs.c.platform_id, artifact_runs.c.video_id)).all()
        return [_entry(r) for r in rows]

    def entries_all(self) -> list[IndexEntry]:
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(sa.select(artifact_runs))]

    def donors(
        self, component: str, artifact_version: str, exclude: VideoKey, created_since: dt.datetime | None = None
    ) -> list[Donor]:
        """Other videos that hold ``component`` at ``artifact_version`` (newest first), created
        at or after ``created_since`` when given."""
        t = component_artifacts
        query = sa.select(t.c.platform_id, t.c.video_id, t.c.run_id, t.c.artifact_dir, t.c.created_at).where(
            (t.c.component == component) & (t.c.artifact_version == artifact_version) & (t.c.status != "error")
        )
        if created_since is not None:
            query = query.where(t.c.created_at >= created_since)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.c.created_at.desc())).all()
        found = [Donor(VideoKey(r.platform_id, r.video_id), r.run_id, Path(r.artifact_dir), _aware(r.created_at)) for r in rows]
        return [d for d in found if d.video != exclude]

    def is_fresh(self, entry: IndexEntry, now: dt.datetime | None = None) -> bool:
        return entry.age(now) < dt.timedelta(days=self.cache_ttl_days)

    # -- writes ----------------------------------------------------------------------------
    def record_success(
        self,
        key: IndexKey,
        *,
        run_id: str,
        finished_at: dt.datetime,
        video_content_sha256: str,
        profile: str,
        artifacts: dict[str, str],
        components: list[dict[str, Any]],
    ) -> None:
        """One transaction: the run row, its component rows, and the video's last use."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(artifact_runs).where(key.where()))
            conn.execute(
                sa.insert(artifact_runs).values(
                    **vars(key),
                    latest_success_run_id=run_id,
                    finished_at=finished_at,
                    video_content_sha256=video_content_sha256,
                    profile=profile,
                    artifacts=artifacts,
                )
            )
            for row in components:
                self._put_artifact(conn, key.video, row)
            self._touch(conn, key.platform_id, key.video_id, finished_at)

    def record_artifact(self, video: VideoKey, row: dict[str, Any]) -> None:
        """A component row as soon as its artifact is committed, so a repost processed before this
        run ends (or after it failed elsewhere) can already adopt it."""
        with self.engine.begin() as conn:
            self._put_artifact(conn, video, row)

    @staticmethod
    def _put_artifact(conn: sa.Connection, video: VideoKey, row: dict[str, Any]) -> None:
        t = component_artifacts
        ident = _video(t, video) & (t.c.component == row["component"]) & (t.c.artifact_version == row["artifact_version"])
        conn.execute(sa.delete(t).where(ident))
        conn.execute(sa.insert(t).values(platform_id=video.platform_id, video_id=video.video_id, **row))

    def touch(self, video: VideoKey, now: dt.datetime | None = None) -> None:
        with self.engine.begin() as conn:
            self._touch(conn, video.platform_id, video.video_id, now or utcnow())

    @staticmethod
    def _touch(conn: sa.Connection, platform_id: str, video_id: str, now: dt.datetime) -> None:
        ident = (video_usage.c.platform_id == platform_id) & (video_usage.c.video_id == video_id)
        if conn.execute(sa.update(video_usage).where(ident).values(last_used_at=now)).rowcount == 0:
            conn.execute(sa.insert(video_usage).values(platform_id=platform_id, video_id=video_id, last_used_at=now))

    # -- LRU -------------------------------------------------------------------------------
    def video_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(video_usage)).scalar_one()

    def evict_over_limit(self, store: ArtifactStore, keep: VideoKey | None = None) -> list[VideoKey]:
        """Evict the least recently used videos beyond ``max_videos`` (never ``keep``)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(video_usage.c.platform_id, video_usage.c.video_id)
                .order_by(video_usage.c.last_used_at.desc(), video_usage.c.platform_id, video_usage.c.video_id)
                .offset(self.max_videos)
            ).all()
        victims = [VideoKey(r.platform_id, r.video_id) for r in rows]
        victims = [v for v in victims if v != keep]
        for video in victims:
            self.evict(store, video)
        return victims

    def evict(self, store: ArtifactStore, video: VideoKey) -> None:
        """Remove a video's artifacts, frames and index rows together; Dagster history is kept.

        The folders are first renamed out of sight (atomic), then the rows go in one transaction,
        then the files are deleted: a crash in between leaves rows that point to nothing (a cache
        miss, recomputed) or hidden folders that the next eviction sweeps, never a visible
        artifact without its rows. A repost keeps its own hard links to shared files, so evicting
        the original never takes the repost's artifacts away.
        """
        hidden = []
        for folder in (store.video_dir(video.platform_id, video.video_id), store.frames_video_dir(video.platform_id, video.video_id)):
            if folder.exists():
                target = folder.with_name(f".evicted-{folder.name}-{uuid.uuid4().hex}")
                os.replace(folder, target)
                hidden.append(target)
        with self.engine.begin() as conn:
            for table in (artifact_runs, component_artifacts, video_usage):
                conn.execute(sa.delete(table).where(_video(table, video)))
        for target in hidden:
            shutil.rmtree(target, ignore_errors=True)

    # -- one writer per video --------------------------------------------------------------
    @contextlib.contextmanager
    def video_lock(self, video: VideoKey, blocking: bool = True) -> Iterator[None]:
        """Held while a video is computed, so a second request waits and then reuses the result.

        Re-entrant within a process: ``dp process`` holds the locks of the videos it computes,
        and the run's step, in the same process, takes each video's lock again. Not blocking, a
        lock held elsewhere raises :class:`VideoBusy`."""
        name = video.partition_key
        with _HELD_LOCK:
            depth = _HELD.get(name, 0)
            if depth:
                _HELD[name] = depth + 1
        if depth:
            try:
                yield
            finally:
                with _HELD_LOCK:
                    _HELD[name] -= 1
            return
        with self._acquire(name, blocking):
            with _HELD_LOCK:
                _HELD[name] = 1
            try:
                yield
            finally:
                with _HELD_LOCK:
                    del _HELD[name]

    @contextlib.contextmanager
    def video_locks(self, videos: list[VideoKey]) -> Iterator[None]:
        """The locks of several videos, taken in one global order so two batches never deadlock."""
        with contextlib.ExitStack() as stack:
            for video in sorted(set(videos)):
                stack.enter_context(self.video_lock(video))
            yield

    @contextlib.contextmanager
    def _acquire(self, name: str, blocking: bool = True) -> Iterator[None]:
        if self.engine.dialect.name == "postgresql":
            lock_id = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            with _pg_lock_session(self.engine) as conn:
                if blocking:
                    conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
                elif not conn.execute(sa.text("SELECT pg_try_advisory_lock(:id)"), {"id": lock_id}).scalar_one():
                    conn.commit()
                    raise VideoBusy(name)
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                    conn.commit()
            return
        lock_dir = dp_home() / "locks"
        if self.database_url.startswith("sqlite:///"):
            lock_dir = Path(self.database_url.removeprefix("sqlite:///")).parent / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        with open(lock_dir / f"{digest}.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise VideoBusy(name) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class VideoBusy(Exception):
    """Another process holds the video's lock (it is being computed)."""


# Video locks this process holds (name -> depth), so a nested request for one is not a deadlock.
_HELD: dict[str, int] = {}
_HELD_LOCK = threading.Lock()
# One database session holds every advisory lock of this process (a batch of 50 videos would
# otherwise need 50 pooled connections); it is closed when the last lock is released.
_PG_SESSIONS: dict[str, list] = {}


@contextlib.contextmanager
def _pg_lock_session(engine: sa.Engine) -> Iterator[sa.Connection]:
    key = str(engine.url)
    with _HELD_LOCK:
        entry = _PG_SESSIONS.get(key)
        if entry is None:
            entry = _PG_SESSIONS[key] = [engine.connect(), 0]
        entry[1] += 1
    try:
        yield entry[0]
    finally:
        with _HELD_LOCK:
            entry[1] -= 1
            if entry[1] == 0:
                entry[0].close()
                del _PG_SESSIONS[key]
