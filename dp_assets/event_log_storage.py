"""Dagster's SQLite event log, with the per-event cost of a video's 90 asset events cut.

A video's step writes 90 asset events (15 materializations and 30 check evaluations, each
announced by a planned event), each to the run's shard and again to the index shard. Dagster's
``SqliteEventLogStorage`` builds a new SQLAlchemy engine for every one of those writes and opens
and closes a connection each time: every statement is compiled again (an engine's compiled cache
dies with it), every close of the last connection checkpoints the write-ahead log, and every
commit fsyncs it (``synchronous=FULL``). Measured on this machine: 7.5-16 ms per reported
materialization.

This storage keeps one engine per shard with one open connection (the shards of the 16 most
recently used runs; a pool of 1, up to 3 when threads overlap), opened with
``PRAGMA synchronous=NORMAL``: 1.7-1.9 ms per materialization, measured the same way. It also
remembers which tables exist, which Dagster asks before every check evaluation. An open
connection holds no lock between transactions in SQLite's write-ahead-log mode, which Dagster's
shards use, so the daemon, the webserver and other runs read and write the same files as before.
NORMAL survives any process crash (``kill -9`` included) with every committed event; only an
operating-system crash or a power cut can lose the last events before the next checkpoint, and
it never corrupts the file. ``synchronous: FULL`` in ``dagster.yaml`` restores Dagster's
setting. The files and their schema are Dagster's own, in Dagster's default place: an instance
can switch to or from this class at any time.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator

import dagster._check as check
from dagster import Enum, EnumValue, Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sql import create_engine
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

SYNCHRONOUS_MODES = ("NORMAL", "FULL")
# Engines kept at once: the index shard and the shards of the runs in flight. A worker that lives
# for thousands of runs would otherwise keep an engine per run it ever wrote.
MAX_ENGINES = 16
# The placeholder of the project's dagster.yaml for the instance folder.
UNRENDERED = "${DAGSTER_HOME}"


class FastSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one engine per shard and ``synchronous`` as configured.

    Configured in ``dagster.yaml``::

        event_log_storage:
          module: dp_assets.event_log_storage
          class: FastSqliteEventLogStorage
          config:
            base_dir: /path/to/dagster_home/history/runs
            synchronous: NORMAL

    The project's ``dagster.yaml`` says ``${DAGSTER_HOME}/history/runs``, which ``dp`` replaces by
    the instance folder when it installs the file there (``dp_resources.settings``): an instance
    opened from its folder must never read the event log of whatever ``DAGSTER_HOME`` says.
    """

    def __init__(self, base_dir: str, synchronous: str = "NORMAL", inst_data: ConfigurableClassData | None = None):
        if UNRENDERED in base_dir:
            raise check.CheckError(
                f"event_log_storage base_dir is {base_dir!r}: this dagster.yaml is the project's template; "
                "install it with `dp` (dp_resources.settings.install_instance_yaml), which writes the instance folder there"
            )
        self._synchronous = check.str_param(synchronous, "synchronous").upper()
        if self._synchronous not in SYNCHRONOUS_MODES:
            raise check.CheckError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, got {synchronous!r}")
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._pid = os.getpid()
        self._tables_found: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {
            "base_dir": StringSource,
            "synchronous": Field(
                Enum("SqliteSynchronous", [EnumValue(mode) for mode in SYNCHRONOUS_MODES]), is_required=False, default_value="NORMAL"
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # ty: ignore[invalid-method-override]
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        if self._pid != os.getpid():
            # A forked child must not use its parent's open connections (SQLAlchemy's rule for
            # engines across fork): it forgets them without closing them, and opens its own.
            for inherited in self._engines.values():
                inherited.dispose(close=False)
            self._engines.clear()
            self._pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=2,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        pragma = f"PRAGMA synchronous={self._synchronous}"

        @event.listens_for(engine, "connect")
        def _set_synchronous(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(pragma)
            cursor.close()

        self._engines[shard] = engine
        while len(self._engines) > MAX_ENGINES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's _connect, with the engine (and its connection) kept instead of built and
        # disposed every time.
        with self._db_lock:
            check.str_param(shard, "shard")
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before every check evaluation (supports_asset_checks) and every tagged asset
        # event, with a new engine and connection each time: 0.6 s of a six-video run. A table
        # that exists stays until wipe(), so only its absence is asked again.
        if table_name in self._tables_found:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables_found.add(table_name)
        return found

    def wipe(self) -> None:
        # Wiping deletes the run shards' files: nothing may keep them open.
        self._tables_found.clear()
        self._close_engines()
        super().wipe()

    def dispose(self) -> None:
        self._close_engines()
        super().dispose()

    def _close_engines(self) -> None:
        with self._db_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose()
