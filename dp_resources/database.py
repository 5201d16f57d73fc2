"""The DataProcessor database (SQLAlchemy): video catalog and per-component run records.

SQLite under ``DP_HOME`` by default; ``DP_DATABASE_URL`` (e.g.
``postgresql+psycopg2://postgres@127.0.0.1:5432/dataprocessor``) selects PostgreSQL. Tables are
created on first use.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

metadata = sa.MetaData()

videos = sa.Table(
    "dp_videos",
    metadata,
    sa.Column("video_id", sa.String(128), primary_key=True),
    sa.Column("platform_id", sa.String(128), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
)

component_runs = sa.Table(
    "dp_component_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("component", sa.String(128), primary_key=True),
    sa.Column("platform_id", sa.String(128), nullable=False),
    sa.Column("video_id", sa.String(128), nullable=False, index=True),
    sa.Column("optional", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("empty_reason", sa.String(64)),
    sa.Column("error", sa.Text),
    sa.Column("wall_seconds", sa.Float),
    sa.Column("cpu_seconds", sa.Float),
    sa.Column("peak_rss_mb", sa.Float),
    sa.Column("peak_rss_delta_mb", sa.Float),
    sa.Column("peak_gpu_mb", sa.Float),
    sa.Column("cache_hit", sa.Boolean, nullable=False),
    sa.Column("code_version", sa.String(64), nullable=False),
    sa.Column("run_status", sa.String(16), nullable=False),
    sa.Column("idempotency_key_hash", sa.String(64)),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)


@lru_cache(maxsize=16)
def engine_for(url: str) -> sa.Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets a reader (dp status, the UI) look while a run writes.
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    metadata.create_all(engine)
    return engine
