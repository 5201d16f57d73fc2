"""Which file and platform a ``video_id`` partition stands for.

Partitions are keyed by ``video_id`` only; the catalog (a table in the DataProcessor database)
remembers the rest, so a partition materialized from the UI finds its file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from dagster import ConfigurableResource, Failure
from pydantic import Field

from dp_resources.database import engine_for, videos
from dp_resources.ids import check_id
from dp_resources.settings import default_database_url

@dataclass(frozen=True)
class VideoRef:
    video_id: str
    platform_id: str
    uri: str


class VideoCatalog(ConfigurableResource):
    database_url: str = Field(default_factory=default_database_url, description="SQLAlchemy URL of the DataProcessor database")

    def register(self, video_id: str, platform_id: str, uri: str) -> VideoRef:
        check_id("video_id", video_id)
        check_id("platform_id", platform_id)
        engine = engine_for(self.database_url)
        now = dt.datetime.now(dt.timezone.utc)
        with engine.begin() as conn:
            existing = conn.execute(sa.select(videos).where(videos.c.video_id == video_id)).first()
            if existing is None:
                conn.execute(sa.insert(videos).values(video_id=video_id, platform_id=platform_id, uri=uri, registered_at=now))
            else:
                conn.execute(
                    sa.update(videos).where(videos.c.video_id == video_id).values(platform_id=platform_id, uri=uri, registered_at=now)
                )
        return VideoRef(video_id, platform_id, uri)

    def lookup(self, video_id: str) -> VideoRef | None:
        with engine_for(self.database_url).connect() as conn:
            row = conn.execute(sa.select(videos).where(videos.c.video_id == video_id)).first()
        return None if row is None else VideoRef(row.video_id, row.platform_id, row.uri)

    def get(self, video_id: str) -> VideoRef:
        ref = self.lookup(video_id)
        if ref is None:
            raise Failure(
                description=(
                    f"video_id {video_id!r} is not in the video catalog: register it with "
                    f"`dp process PATH --video-id {video_id}` before materializing its partition"
                )
            )
        return ref
