"""``WarmRunLauncher``: the instance's run launcher, handing runs to warm worker processes.

It lives in the process that launches runs (the daemon's run queue; ``dp dev`` starts one) and
starts ``workers`` processes of ``dp_assets.workers.worker`` when the first run arrives; each
imports the code location and loads the profile's models once. A launched run waits in this
launcher's queue until a worker is free (``WorkerRunCoordinator`` keeps no more runs in flight
than there are workers, so it rarely waits). A worker that dies is replaced; the run it was
executing is marked failed with the worker's exit status, and run monitoring asks
:meth:`check_run_worker_health` about runs whose worker is gone. ``terminate`` (the UI's
"Terminate") stops the worker executing that run and starts a fresh one.

Configured in ``dagster.yaml``::

    run_launcher:
      module: dp_assets.workers.launcher
      class: WarmRunLauncher
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from dp_assets import run_tags
from dp_assets.liveness import owner_gone
from dp_resources.settings import current_settings

log = logging.getLogger("dataprocessor.launcher")
# How long a stopping worker may finish the component it computes before it is killed.
STOP_GRACE_S = 20
LAUNCHER_TAG = f"{run_tags.PREFIX}/launcher"


class _Worker:
    def __init__(self, launcher: "WarmRunLauncher", number: int):
        self.launcher, self.number = launcher, number
        self.run_id: str | None = None
        self.ready = False
        read_fd, write_fd = os.pipe()
        log_dir = launcher.log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / f"worker-{number}.log", "ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dp_assets.workers.worker"],
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=log_file,
                pass_fds=(write_fd,),
                env={**os.environ, "DP_WORKER_REPLY_FD": str(write_fd)},
                text=True,
            )
        os.close(write_fd)
        self.replies = os.fdopen(read_fd, "r")
        self.reader = threading.Thread(target=self._read, name=f"dp-worker-{number}", daemon=True)
        self.reader.start()

    def log_tail(self, lines: int = 5) -> str:
        path = self.launcher.log_dir / f"worker-{self.number}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:]) or "no output"

    def send(self, run_id: str) -> None:
        self.run_id = run_id
        self.process.stdin.write(f"run {run_id}\n")
        self.process.stdin.flush()

    def _read(self) -> None:
        for line in self.replies:
            self.launcher._on_reply(self, line.split())
        self.launcher._on_exit(self, self.process.wait())

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        if self.process.poll() is not None:
            return
        try:
            self.process.stdin.close()  # no more runs
        except OSError:
            pass
        if self.run_id is not None:
            self.process.send_signal(signal.SIGINT)  # stop after the component it computes
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def in_daemon_process() -> bool:
    """Whether this is the dagster-daemon (run by itself, or by ``dagster dev``/``dp dev``)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return Path(sys.argv[0]).name == "dagster-daemon" or (spec is not None and spec.name.startswith("dagster._daemon"))


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    def __init__(self, inst_data: ConfigurableClassData | None = None, workers: int | None = None, prestart: bool = True):
        self._inst_data = inst_data
        self._workers_config = workers
        self._lock = threading.Condition()
        self._queue: collections.deque[str] = collections.deque()
        self._pool: list[_Worker] = []
        self._started = 0
        self._closing = False
        super().__init__()
        if prestart and in_daemon_process():
            # Warm before the first run arrives: the daemon builds its launcher when it starts.
            with self._lock:
                self._ensure_pool()

    # -- ConfigurableClass ------------------------------------------------------------------------
    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {
            "workers": dg.Field(int, is_required=False, description="worker processes (default: DP_WORKERS)"),
            "prestart": dg.Field(bool, default_value=True, description="start the workers with the daemon, before the first run"),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> "WarmRunLauncher":
        return cls(inst_data=inst_data, **config_value)

    # -- the pool ---------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._workers_config or resolve_workers()

    @property
    def log_dir(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME") or current_settings().dagster_home) / "workers"

    def _ensure_pool(self) -> None:
        while len(self._pool) < self.size:
            self._started += 1
            self._pool.append(_Worker(self, self._started))

    def _dispatch(self) -> None:
        """Give queued runs to ready, idle workers (the caller holds the lock)."""
        for worker in self._pool:
            if not self._queue:
                return
            if worker.ready and worker.run_id is None and worker.process.poll() is None:
                run_id = self._queue.popleft()
                try:
                    worker.send(run_id)
                except OSError:
                    self._queue.appendleft(run_id)  # it just died: _on_exit replaces it

    def _on_reply(self, worker: _Worker, words: list[str]) -> None:
        with self._lock:
            if words[:1] == ["ready"]:
                worker.ready = True
            elif words[:1] == ["done"]:
                worker.run_id = None
            elif words[:1] == ["restart"] and len(words) > 1:
                # the code changed since it started: the run goes to the fresh worker replacing it
                self._queue.appendleft(words[1])
                worker.run_id = None
            self._dispatch()
            self._lock.notify_all()

    def _on_exit(self, worker: _Worker, code: int) -> None:
        with self._lock:
            if worker in self._pool:
                self._pool.remove(worker)
            run_id, worker.run_id = worker.run_id, None
            if run_id is not None:
                self._fail(run_id, f"its worker process (pid {worker.process.pid}) died with exit status {code}")
            if not worker.ready and not self._closing:
                # It never got ready (a broken install or profile): starting another would fail the
                # same way, so the waiting runs fail with the reason; the next launch tries again.
                reason = f"no worker could start (exit status {code}): {worker.log_tail()}"
                while self._queue:
                    self._fail(self._queue.popleft(), reason)
            elif not self._closing:
                self._ensure_pool()
            self._dispatch()
            self._lock.notify_all()

    def _fail(self, run_id: str, reason: str) -> None:
        if not self.has_instance:
            return
        run = self._instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            self._instance.report_run_failed(run, reason)

    # -- RunLauncher ------------------------------------------------------------------------------
    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        self._instance.add_run_tags(run.run_id, {LAUNCHER_TAG: "warm worker"})
        self._instance.report_engine_event(f"Queued for one of {self.size} warm worker(s).", run)
        with self._lock:
            self._closing = False
            self._queue.append(run.run_id)
            self._ensure_pool()
            self._dispatch()

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        with self._lock:
            if run_id in self._queue:
                self._queue.remove(run_id)
                self._instance.report_run_canceled(run, "terminated before a worker started it")
                return True
            worker = next((w for w in self._pool if w.run_id == run_id), None)
        if worker is None:
            return False
        self._instance.report_run_canceling(run)
        worker.run_id = None  # its exit is a termination, not a crash
        worker.stop(grace=0)
        self._instance.report_run_canceled(run, "terminated: its worker process was stopped")
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        with self._lock:
            if run.run_id in self._queue:
                return CheckRunHealthResult(WorkerStatus.RUNNING, "waiting for a free warm worker")
        if run.tags.get(run_tags.OWNER_PID) is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no worker has started it yet")
        if owner_gone(run):
            return CheckRunHealthResult(WorkerStatus.FAILED, f"its worker process (pid {run.tags[run_tags.OWNER_PID]}) is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def join(self, timeout: int = 30) -> None:
        with self._lock:
            self._lock.wait_for(lambda: not self._queue and all(w.run_id is None for w in self._pool), timeout=timeout)

    def dispose(self) -> None:
        with self._lock:
            self._closing = True
            workers = list(self._pool)
        for worker in workers:
            worker.stop()


def resolve_workers() -> int:
    """``DP_WORKERS`` as a number (``auto``: see ``dp_resources.settings.auto_workers``)."""
    from dp_resources.settings import auto_workers

    value = current_settings().workers
    return auto_workers() if value == "auto" else int(value)
