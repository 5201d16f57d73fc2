"""Runs whose process died release what they hold.

A run started by ``dp process`` executes in that process; killed (``kill -9``, the OOM killer, a
lost machine), it stays STARTED forever and keeps its ``gpu`` pool slot, and every later run
waiting for the slot waits forever (measured). Each such run is tagged with its process's pid,
start time and host; before a new run claims slots, any run holding or waiting for slots whose
process is gone from this host is marked failed ("process died") and its slots are freed. Runs
launched by the daemon are watched by Dagster's own run monitoring (``dagster.yaml``).
"""

from __future__ import annotations

import socket

import dagster as dg
import psutil

from dp_assets import run_tags


def owner_tags() -> dict[str, str]:
    """Tags that identify the process executing a run in-process (``dp process``)."""
    process = psutil.Process()
    return {
        run_tags.OWNER_PID: str(process.pid),
        run_tags.OWNER_STARTED: f"{process.create_time():.2f}",
        run_tags.OWNER_HOST: socket.gethostname(),
    }


def _owner_gone(run: dg.DagsterRun) -> bool:
    pid, started, host = (run.tags.get(t) for t in (run_tags.OWNER_PID, run_tags.OWNER_STARTED, run_tags.OWNER_HOST))
    if not pid or host != socket.gethostname():
        return False  # not ours to judge: another host, or a run this module did not start
    try:
        # A recycled pid belongs to a process started at another time.
        return f"{psutil.Process(int(pid)).create_time():.2f}" != started
    except (psutil.NoSuchProcess, ValueError):
        return True


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the runs holding pool slots whose process died, free their slots; their ids."""
    storage = instance.event_log_storage
    released = []
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)  # slots left by a run that ended
            released.append(run_id)
        elif _owner_gone(run):
            instance.report_run_failed(
                run,
                f"process died (pid {run.tags[run_tags.OWNER_PID]} on host {run.tags[run_tags.OWNER_HOST]}); "
                "its pool slots were freed",
            )
            storage.free_concurrency_slots_for_run(run_id)
            released.append(run_id)
    return released
