"""The DataProcessor database (SQLAlchemy): video catalog and per-component run records.

SQLite under ``DP_HOME`` by default; ``DP_DATABASE_URL`` (e.g.
``postgresql+psycopg2://postgres@127.0.0.1:5432/dataprocessor``) selects PostgreSQL. Tables are
created on first use.
"""

from __future__ import annotations

import fcntl
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
    # content hash of the file, recomputed only when its size or mtime changes
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("mtime_ns", sa.BigInteger),
    sa.Column("content_sha256", sa.String(64)),
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


# The artifact index (dp_resources.artifact_index): run rows, component rows and the LRU.
artifact_runs = sa.Table(
    "dp_artifact_index",
    metadata,
    sa.Column("platform_id", sa.String(128), primary_key=True),
    sa.Column("video_id", sa.String(128), primary_key=True),
    sa.Column("config_hash", sa.String(64), primary_key=True),
    sa.Column("sampling_policy_version", sa.String(64), primary_key=True),
    sa.Column("dataprocessor_version", sa.String(32), primary_key=True),
    sa.Column("latest_success_run_id", sa.String(64), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("video_content_sha256", sa.String(64), nullable=False),
    sa.Column("profile", sa.String(128), nullable=False),
    sa.Column("artifacts", sa.JSON, nullable=False),  # component -> artifact version
)

component_artifacts = sa.Table(
    "dp_component_artifacts",
    metadata,
    sa.Column("platform_id", sa.String(128), primary_key=True),
    sa.Column("video_id", sa.String(128), primary_key=True),
    sa.Column("component", sa.String(128), primary_key=True),
    sa.Column("artifact_version", sa.String(64), primary_key=True),
    sa.Column("idempotency_key_hash", sa.String(64), nullable=False, index=True),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("sampling_policy_version", sa.String(64), nullable=False),
    sa.Column("producer_version", sa.String(64), nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("model_signature", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("artifact_dir", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

video_usage = sa.Table(
    "dp_video_usage",
    metadata,
    sa.Column("platform_id", sa.String(128), primary_key=True),
    sa.Column("video_id", sa.String(128), primary_key=True),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False, index=True),
)



_SCHEMA_LOCK_ID = 0x6470_7363_6865_6D61  # "dpschema"


@lru_cache(maxsize=16)
def engine_for(url: str) -> sa.Engine:
    if url.startswith("sqlite:///"):
        db_path = Path(url.removeprefix("sqlite:///"))
        db_path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        # Two processes creating the tables at once collide: serialise through a lock file.
        with open(db_path.with_name(db_path.name + ".schema.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # readers (dp status, the UI) during a run
            metadata.create_all(engine)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Two processes creating the tables at once collide in the catalog: serialise.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
            metadata.create_all(conn)
    return engine
