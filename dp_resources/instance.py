"""Opening the deployment's Dagster instance, race-free on first use.

Dagster creates its SQLite schema (runs, event log, schedules) when an instance is first opened,
and several processes doing that at once collide (``table secondary_indexes already exists``,
``UNIQUE constraint failed: alembic_version.version_num``: measured with six ``dp process`` on a
fresh home). Every DataProcessor entry point opens the instance here, under a file lock in
``DAGSTER_HOME``, so the first one creates the storage and the others find it complete.
"""

from __future__ import annotations

import fcntl

import dagster as dg

from dp_resources.settings import ensure_dagster_home

INIT_LOCK = ".dp-instance-init.lock"


def open_instance() -> dg.DagsterInstance:
    home = ensure_dagster_home()
    with open(home / INIT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            # Storage is created lazily by the first query; make it happen while the lock is held.
            instance.get_runs(limit=1)
            instance.event_log_storage.get_concurrency_keys()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return instance
