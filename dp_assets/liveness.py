"""Runs whose process died are marked failed, and release whatever they hold.

A run started by ``dp process`` executes in that process; killed (``kill -9``, the OOM killer, a
lost machine), it would stay STARTED forever. Each such run is tagged with its process's pid,
start time and host; before ``dp process`` starts a run, any unfinished run of this host whose
process is gone is marked failed ("process died"), and any Dagster pool slot it held is freed.
(GPU slots are file locks the kernel drops with the process: ``dp_resources.gpu.GpuSlots``.)
Runs launched by the daemon are watched by Dagster's own run monitoring (``dagster.yaml``).
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


def owner_gone(run: dg.DagsterRun) -> bool:
    pid, started, host = (run.tags.get(t) for t in (run_tags.OWNER_PID, run_tags.OWNER_STARTED, run_tags.OWNER_HOST))
    if not pid or host != socket.gethostname():
        return False  # not ours to judge: another host, or a run this module did not start
    try:
        # A recycled pid belongs to a process started at another time.
        return f"{psutil.Process(int(pid)).create_time():.2f}" != started
    except (psutil.NoSuchProcess, ValueError):
        return True


_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the unfinished runs of this host whose process died, free any pool slots they hold;
    their ids."""
    storage = instance.event_log_storage
    released = []
    owned = instance.get_runs(filters=dg.RunsFilter(statuses=_UNFINISHED, tags={run_tags.OWNER_HOST: socket.gethostname()}))
    for run in owned:
        if owner_gone(run):
            instance.report_run_failed(
                run, f"process died (pid {run.tags[run_tags.OWNER_PID]} on host {run.tags[run_tags.OWNER_HOST]}); marked failed"
            )
            storage.free_concurrency_slots_for_run(run.run_id)
            released.append(run.run_id)
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)  # slots left by a run that ended
            released.append(run_id)
    return released
