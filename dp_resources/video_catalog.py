"""Which file a video (``platform_id``, ``video_id``) stands for, and what its inputs hash to.

The catalog is a table in the DataProcessor database, keyed by the pair: a partition
materialized from the UI finds its file here, and two platforms may use the same ``video_id``
for different videos. Plain Python (no Dagster), so the CLI can answer from it at once;
``dp_resources.resources`` wraps it for Dagster.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import sqlalchemy as sa
from pydantic import BaseModel

from dp_resources.artifact_store import file_sha256
from dp_resources.database import engine_for, videos
from dp_resources.ids import VideoKey
from dp_resources.settings import resource_field

# SQLite >= 3.32 allows 32,766 bound variables per statement; an IN (...) list stays well below.
IN_CLAUSE_CHUNK = 5000
# The metadata sidecar next to a video (title, description, tags): an input of text features only.
SIDECAR_SUFFIX = ".json"


@dataclass(frozen=True)
class VideoRef:
    platform_id: str
    video_id: str
    uri: str

    @property
    def key(self) -> VideoKey:
        return VideoKey(self.platform_id, self.video_id)

    @property
    def sidecar_path(self) -> Path:
        return Path(self.uri).with_suffix(SIDECAR_SUFFIX)


@dataclass(frozen=True)
class VideoInputs:
    """What a video's outputs are computed from: the file's bytes and, for text features only,
    its sidecar. Reposts of the same bytes share ``video_sha256`` and so every artifact that does
    not read the sidecar."""

    video_sha256: str
    sidecar_sha256: str | None

    @property
    def combined(self) -> str:
        if self.sidecar_sha256 is None:
            return self.video_sha256
        return hashlib.sha256(f"{self.video_sha256}+sidecar:{self.sidecar_sha256}".encode()).hexdigest()


@dataclass(frozen=True)
class CatalogEntry:
    video: VideoRef
    registered_at: dt.datetime


class UnknownVideoError(LookupError):
    """A video that was never registered (``dp process`` or the bucket sensor register videos)."""


class VideoCatalog(BaseModel):
    database_url: str = resource_field("database_url")

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.database_url)

    def register(self, key: VideoKey, uri: str) -> VideoRef:
        self.register_many([(key, uri)])
        return VideoRef(key.platform_id, key.video_id, uri)

    def register_many(self, entries: Iterable[tuple[VideoKey, str]]) -> None:
        """Insert or update several videos in one transaction (one bucket-sensor tick): existing
        rows are found with chunked IN queries, new ones inserted in one statement."""
        latest = {key: uri for key, uri in entries}  # the last registration of a key wins
        if not latest:
            return
        now = dt.datetime.now(dt.timezone.utc)
        video_ids = sorted({key.video_id for key in latest})
        # Two registrations of a new video may race (two dp process, or dp and the bucket
        # sensor): the loser of the insert retries, and finds the row.
        for attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    existing: dict[VideoKey, str] = {}
                    for start in range(0, len(video_ids), IN_CLAUSE_CHUNK):
                        chunk = video_ids[start : start + IN_CLAUSE_CHUNK]
                        rows = conn.execute(sa.select(videos.c.platform_id, videos.c.video_id, videos.c.uri).where(videos.c.video_id.in_(chunk)))
                        existing.update({VideoKey(r.platform_id, r.video_id): r.uri for r in rows})
                    inserts = [
                        dict(platform_id=k.platform_id, video_id=k.video_id, uri=uri, registered_at=now)
                        for k, uri in latest.items()
                        if k not in existing
                    ]
                    if inserts:
                        conn.execute(sa.insert(videos), inserts)
                    for key, uri in latest.items():
                        if key in existing:
                            values: dict = dict(uri=uri, registered_at=now)
                            if existing[key] != uri:  # another file under the same id must be hashed again
                                values.update(size_bytes=None, mtime_ns=None, content_sha256=None)
                            ident = (videos.c.platform_id == key.platform_id) & (videos.c.video_id == key.video_id)
                            conn.execute(sa.update(videos).where(ident).values(**values))
                return
            except sa.exc.IntegrityError:
                if attempt:
                    raise

    # -- what a video's outputs are computed from ---------------------------------------------
    def inputs(self, video: VideoRef) -> VideoInputs:
        sidecar = video.sidecar_path
        return VideoInputs(self.content_hash(video), file_sha256(sidecar) if sidecar.is_file() else None)

    def content_hash(self, video: VideoRef) -> str:
        """sha256 of the video file (the raw video's data version), cached by size and mtime so a
        large file is hashed once."""
        path = Path(video.uri)
        stat = path.stat()
        ident = (videos.c.platform_id == video.platform_id) & (videos.c.video_id == video.video_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(videos).where(ident)).first()
        if row is not None and row.content_sha256 and (row.size_bytes, row.mtime_ns) == (stat.st_size, stat.st_mtime_ns) and row.uri == video.uri:
            return row.content_sha256
        digest = file_sha256(path)
        with self.engine.begin() as conn:
            conn.execute(sa.update(videos).where(ident).values(size_bytes=stat.st_size, mtime_ns=stat.st_mtime_ns, content_sha256=digest))
        return digest

    # -- lookups -----------------------------------------------------------------------------
    def lookup(self, key: VideoKey) -> VideoRef | None:
        ident = (videos.c.platform_id == key.platform_id) & (videos.c.video_id == key.video_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(videos.c.platform_id, videos.c.video_id, videos.c.uri).where(ident)).first()
        return None if row is None else VideoRef(row.platform_id, row.video_id, row.uri)

    def get(self, key: VideoKey) -> VideoRef:
        ref = self.lookup(key)
        if ref is None:
            raise UnknownVideoError(
                f"video {key} is not in the video catalog: register it with "
                f"`dp process PATH --platform-id {key.platform_id} --video-id {key.video_id}` before materializing its partition"
            )
        return ref

    def platforms_of(self, video_id: str) -> list[str]:
        """The platforms on which ``video_id`` is registered (for a lookup by id alone)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(videos.c.platform_id).where(videos.c.video_id == video_id).order_by(videos.c.platform_id))
            return [r.platform_id for r in rows]

    def keys(self) -> list[VideoKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(videos.c.platform_id, videos.c.video_id).order_by(videos.c.registered_at))
            return [VideoKey(r.platform_id, r.video_id) for r in rows]

    def newest(self, limit: int, platform_id: str | None = None) -> list[CatalogEntry]:
        """The most recently registered videos first (``dp status`` without an id)."""
        query = sa.select(videos.c.platform_id, videos.c.video_id, videos.c.uri, videos.c.registered_at)
        if platform_id is not None:
            query = query.where(videos.c.platform_id == platform_id)
        query = query.order_by(videos.c.registered_at.desc(), videos.c.platform_id, videos.c.video_id).limit(limit)
        with self.engine.connect() as conn:
            return [
                CatalogEntry(VideoRef(r.platform_id, r.video_id, r.uri), _aware(r.registered_at)) for r in conn.execute(query)
            ]

    def count(self, platform_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(videos)
        if platform_id is not None:
            query = query.where(videos.c.platform_id == platform_id)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands timezone-aware values back naive; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
