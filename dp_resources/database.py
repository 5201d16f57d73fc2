"""The DataProcessor database (SQLAlchemy): video catalog, run records and the artifact index.

SQLite under ``DP_HOME`` by default; ``DP_DATABASE_URL`` (e.g.
``postgresql+psycopg2://postgres@127.0.0.1:5432/dataprocessor``) selects PostgreSQL. Tables are
created, and a database made by an earlier version migrated, on first use (``migrate``), under a
lock so concurrent first uses never collide.
"""

from __future__ import annotations

import fcntl
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

metadata = sa.MetaData()

# Schema versions: 1 keyed the catalog by video_id alone; 2 keys every table by (platform, video).
SCHEMA_VERSION = 2

videos = sa.Table(
    "dp_videos",
    metadata,
    sa.Column("platform_id", sa.String(128), primary_key=True),
    sa.Column("video_id", sa.String(128), primary_key=True),
    sa.Column("uri", sa.Text, nullable=False),
    # newest first for `dp status` without an id
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False, index=True),
    # content hash of the file, recomputed only when its size or mtime changes
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("mtime_ns", sa.BigInteger),
    sa.Column("content_sha256", sa.String(64)),
    # `dp status ID` without --platform-id finds the platforms of an id
    sa.Index("ix_dp_videos_video_id", "video_id"),
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
    # A repost (the same bytes under another id or platform) finds its donor by artifact version.
    sa.Index("ix_dp_component_artifacts_version", "component", "artifact_version"),
)

# Small facts about the database itself: its schema version, pending one-off jobs of a migration.
meta = sa.Table(
    "dp_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

video_usage = sa.Table(
    "dp_video_usage",
    metadata,
    sa.Column("platform_id", sa.String(128), primary_key=True),
    sa.Column("video_id", sa.String(128), primary_key=True),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False, index=True),
)



_SCHEMA_LOCK_ID = 0x6470_7363_6865_6D61  # "dpschema"
# Set by the v1 -> v2 migration: the Dagster instance still has partitions keyed by video_id
# alone; the next `dp` command that opens the instance adds the (platform, video) keys.
PARTITIONS_NEED_SYNC = "partitions_need_sync"


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
                migrate(conn)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Two processes creating the tables at once collide in the catalog: serialise.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
            migrate(conn)
    return engine


def migrate(conn: sa.Connection) -> None:
    """Bring the database to ``SCHEMA_VERSION`` in the caller's transaction; nothing is dropped.

    Version 1 keyed ``dp_videos`` by ``video_id`` alone. Its rows keep their platform: the table is
    re-keyed by ``(platform_id, video_id)`` in place (PostgreSQL) or copied into the new table
    (SQLite cannot change a primary key), and the Dagster partitions are marked for re-keying.
    """
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    migrated = False
    if "dp_videos" in tables and inspector.get_pk_constraint("dp_videos")["constrained_columns"] == ["video_id"]:
        if conn.dialect.name == "postgresql":
            name = inspector.get_pk_constraint("dp_videos")["name"]
            conn.exec_driver_sql(f'ALTER TABLE dp_videos DROP CONSTRAINT "{name}", ADD PRIMARY KEY (platform_id, video_id)')
        else:
            conn.exec_driver_sql("ALTER TABLE dp_videos RENAME TO dp_videos_v1")
            videos.create(conn)
            columns = ", ".join(c.name for c in videos.columns)
            conn.exec_driver_sql(f"INSERT INTO dp_videos ({columns}) SELECT {columns} FROM dp_videos_v1")
            conn.exec_driver_sql("DROP TABLE dp_videos_v1")
        migrated = True
    metadata.create_all(conn)
    # create_all adds indexes with new tables only; an older database gets them here.
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)
    if migrated:
        set_meta(conn, PARTITIONS_NEED_SYNC, "1")
    if get_meta(conn, "schema_version") != str(SCHEMA_VERSION):
        set_meta(conn, "schema_version", str(SCHEMA_VERSION))


def get_meta(conn: sa.Connection, name: str) -> str | None:
    return conn.execute(sa.select(meta.c.value).where(meta.c.name == name)).scalar_one_or_none()


def set_meta(conn: sa.Connection, name: str, value: str | None) -> None:
    conn.execute(sa.delete(meta).where(meta.c.name == name))
    if value is not None:
        conn.execute(sa.insert(meta).values(name=name, value=value))
