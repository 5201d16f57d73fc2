"""``dp worker``: Celery worker processes that execute the steps of Celery-mode runs on this machine.

Celery's concurrency belongs to a worker, not to a queue, so each queue group gets its own worker
(node): the ``gpu`` queue runs at most ``gpu_max_concurrent`` tasks at once (``DP_GPU_MAX_CONCURRENT``),
so the GPU limit of this machine holds whatever the number of runs and of machines; the other
queues (``cpu``) run ``--concurrency`` tasks (default ``DP_WORKERS``: one per 2 cores and 2.5 GiB,
since each process keeps its own models). Each node is ``celery worker`` with the prefork pool;
its children execute the tasks and are never recycled, so the models they load stay loaded.

This process supervises its nodes: SIGTERM or Ctrl-C asks them to finish the tasks they hold
(Celery's warm shutdown; a second one stops them at once), and when one node ends the others are
stopped too, so a supervisor (systemd, Kubernetes) sees this process end and starts it again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass

from dp_assets.scaleout.config import broker_url, check_shared_state, redacted
from dp_assets.scaleout.queues import GPU_QUEUE
from dp_resources.settings import Settings, SettingsError, auto_workers

APP = "dp_assets.scaleout.app"


@dataclass(frozen=True)
class Node:
    name: str
    queues: tuple[str, ...]
    concurrency: int

    def command(self, loglevel: str) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", APP, "worker",
            "--queues", ",".join(self.queues),
            "--concurrency", str(self.concurrency),
            "--pool", "prefork",
            "--hostname", self.name,
            "--loglevel", loglevel,
            # no start-up handshake with other workers (seconds of waiting, nothing DataProcessor uses)
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip


def plan_nodes(queues: list[str], concurrency: int | None, name: str | None, gpu_slots: int) -> list[Node]:
    """One node for the ``gpu`` queue (``gpu_slots`` at once), one for every other queue."""
    if not queues:
        raise SettingsError("dp worker needs at least one queue (--queues cpu,gpu)")
    suffix = name or uuid.uuid4().hex[:6]
    host = socket.gethostname()
    nodes = []
    others = tuple(q for q in queues if q != GPU_QUEUE)
    if others:
        nodes.append(Node(f"{'-'.join(others)}-{suffix}@{host}", others, concurrency or auto_workers()))
    if GPU_QUEUE in queues:
        nodes.append(Node(f"{GPU_QUEUE}-{suffix}@{host}", (GPU_QUEUE,), gpu_slots))
    return nodes


def preflight(settings: Settings) -> None:
    """Raise :class:`SettingsError` when this machine's settings cannot run Celery-mode steps."""
    if settings.executor != "celery":
        # The worker builds the same definitions as the daemon: with another executor its steps
        # (one per video instead of one per stage) would not be the steps it is sent.
        raise SettingsError("dp worker executes steps of DP_EXECUTOR=celery runs: set DP_EXECUTOR=celery (and the daemon's other settings)")
    check_shared_state(settings)


def run_worker(settings: Settings, queues: list[str], concurrency: int | None, name: str | None, loglevel: str) -> int:
    from dp_resources.gpu import gpu_from_env

    preflight(settings)
    nodes = plan_nodes(queues, concurrency, name, gpu_from_env().max_concurrent() if GPU_QUEUE in queues else 0)
    print(f"dp worker: broker {redacted(broker_url(settings))}, profile {settings.profile}", flush=True)
    processes: list[subprocess.Popen] = []
    for node in nodes:
        print(f"dp worker: {node.name}: queues {','.join(node.queues)}, {node.concurrency} at once", flush=True)
        processes.append(subprocess.Popen(node.command(loglevel)))
    signals = {"count": 0}

    def stop(signum, frame):
        # First signal: warm shutdown (finish the tasks held); second: cold shutdown.
        signals["count"] += 1
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM if signals["count"] == 1 else signal.SIGQUIT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    try:
        pid, raw = os.wait()  # the first node to end
        status = os.waitstatus_to_exitcode(raw)
        ended = next((n for n, p in zip(nodes, processes) if p.pid == pid), None)
        if signals["count"] == 0:
            print(f"dp worker: {ended.name if ended else pid} ended with status {status}; stopping the others", file=sys.stderr, flush=True)
            stop(signal.SIGTERM, None)
    finally:
        for process in processes:
            try:
                process.wait()
            except KeyboardInterrupt:
                process.kill()
    return status if status > 0 else 0 if signals["count"] else 1
