"""What the Celery-mode tests and ``bench/bench_scaleout.py`` start and read: a RabbitMQ virtual host
of their own (or a private RabbitMQ node, for a broker that is restarted), throwaway PostgreSQL
databases, ``dp worker`` processes, the ``dagster-daemon``, and where each step ran according to
the event log.

Everything runs for real: the broker of this machine (127.0.0.1:5672, ``.ci/run`` starts it), the
PostgreSQL server (127.0.0.1:5432), worker and daemon subprocesses with the deployment's
environment. Each run of a test gets its own vhost and databases, so what another run left
behind (queues, messages, runs) never reaches it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

PROJECT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("DP_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
RABBITMQ_HOST, RABBITMQ_PORT = "127.0.0.1", 5672
BIN = Path(sys.executable).parent


class HarnessError(RuntimeError):
    pass


def wait_until(what: str, predicate, timeout: float, every: float = 0.5, on_timeout=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}\n{on_timeout()}")


def _rabbitmqctl(*args: str, node: str | None = None) -> str:
    command = ["rabbitmqctl", *(["-n", node] if node else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise HarnessError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def broker_reachable(host: str = RABBITMQ_HOST, port: int = RABBITMQ_PORT) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


class Vhost:
    """A RabbitMQ virtual host of its own on this machine's broker, for the guest account."""

    def __init__(self, prefix: str = "dp_test"):
        if shutil.which("rabbitmqctl") is None or not broker_reachable():
            raise HarnessError(f"RabbitMQ is not running on {RABBITMQ_HOST}:{RABBITMQ_PORT} (.ci/run starts it)")
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        _rabbitmqctl("add_vhost", self.name)
        _rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        self.url = f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{self.name}"

    def queues(self) -> dict[str, tuple[int, int, int]]:
        """queue name -> (ready messages, unacknowledged messages, consumers)."""
        out = _rabbitmqctl("list_queues", "-p", self.name, "--quiet", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged", "consumers")
        rows = [line.split() for line in out.splitlines() if line.strip()]
        return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in rows if len(row) == 4}

    def delete(self) -> None:
        try:
            _rabbitmqctl("delete_vhost", self.name)
        except HarnessError:
            pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateBroker:
    """A RabbitMQ node of its own (own port, data and Erlang node name), so that restarting it
    disturbs nobody else; ``restart`` stops and starts the broker application, dropping every
    connection, as a broker restart does. Its data lives in a fresh folder under the system's
    temporary folder: the server runs as the ``rabbitmq`` user, who cannot enter pytest's
    private temporary folders."""

    def __init__(self):
        self.root = root = Path(tempfile.mkdtemp(prefix="dp-rabbitmq-"))
        self.port, self.dist_port = _free_port(), _free_port()
        self.node = f"dptest{uuid.uuid4().hex[:8]}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        root.mkdir(parents=True, exist_ok=True)
        (root / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n")
        if os.geteuid() == 0:
            shutil.chown(root, "rabbitmq", "rabbitmq")  # the server script runs as the rabbitmq user
        env = {
            **os.environ,
            "RABBITMQ_CONF_ENV_FILE": "/dev/null",  # not the system node's name and port
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_CRASH_DUMP": str(root / "erl_crash.dump"),
        }
        self.log = open(root / "server.out", "ab")
        self.process = subprocess.Popen(
            ["rabbitmq-server"], cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_up()

    def wait_up(self, timeout: float = 90) -> None:
        wait_until(f"the private RabbitMQ node {self.node}", lambda: self._running(), timeout, on_timeout=self.tail)

    def _running(self) -> bool:
        if self.process.poll() is not None:
            raise HarnessError(f"rabbitmq-server exited ({self.process.returncode})\n{self.tail()}")
        try:
            _rabbitmqctl("await_startup", "--timeout", "5", node=self.node)
        except (HarnessError, subprocess.TimeoutExpired):
            return False
        return broker_reachable(port=self.port)

    def restart(self) -> None:
        _rabbitmqctl("stop_app", node=self.node)
        _rabbitmqctl("start_app", node=self.node)
        self.wait_up()

    def tail(self, lines: int = 30) -> str:
        path = self.root / "server.out"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        try:
            _rabbitmqctl("stop", node=self.node)
        except (HarnessError, subprocess.TimeoutExpired):
            pass
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


class Database:
    """A throwaway PostgreSQL database (the Dagster instance and the DataProcessor database)."""

    def __init__(self, prefix: str = "dp_scaleout"):
        self.name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        try:
            with self._admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        except sa.exc.OperationalError as exc:
            raise HarnessError(f"PostgreSQL at {POSTGRES_URL} is not reachable (.ci/run starts it): {exc}") from None
        self.url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{self.name}"

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()


def celery_env(root: Path, broker_url: str, database_url: str, profile: str, **extra: str) -> dict[str, str]:
    """The settings of a Celery-mode deployment whose every machine is this one."""
    dagster_home = root / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT / "deploy" / "dagster-postgres.yaml", dagster_home / "dagster.yaml")
    (root / "bucket").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_URL": database_url,
        "DP_DATABASE_URL": database_url,
        "DP_HOME": str(root / "home"),
        "DP_SHARED_HOME": "true",
        "DP_GPU_LOCK_DIR": str(root / "gpu-locks"),
        "DP_EXECUTOR": "celery",
        "DP_CELERY_BROKER_URL": broker_url,
        "DP_PROFILE": profile,
        "DP_DEVICE": "cpu",
        "DP_PRECISION": "fp32",
        "DP_BUCKET_URL": str(root / "bucket"),
        "DP_BUCKET_SENSOR_INTERVAL_S": "1",
        "PYTHONWARNINGS": "ignore",
        **extra,
    }
    env.pop("DP_CELERY_BACKEND_URL", None)
    return env


@dataclass
class Process:
    """A subprocess in its own process group, with its output in a log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None
    prefix: list[str] = field(default_factory=list)  # e.g. taskset -c 0

    def start(self) -> "Process":
        with open(self.log, "ab") as handle:
            self.process = subprocess.Popen(
                [*self.prefix, *self.command], cwd=PROJECT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(self.text().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL to the whole process group: the machine is gone."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def dp_worker(name: str, env: dict[str, str], log_dir: Path, concurrency: int = 1, queues: str = "cpu,gpu", prefix=()) -> Process:
    command = [sys.executable, "-m", "dp_assets.cli", "worker", "--queues", queues, "--concurrency", str(concurrency), "--name", name]
    return Process(f"dp worker {name}", command, env, log_dir / f"worker-{name}.log", prefix=list(prefix)).start()


def worker_ready(worker: Process, nodes: int = 2) -> bool:
    if not worker.alive():
        raise HarnessError(f"{worker.name} exited ({worker.process.returncode})\n{worker.tail()}")
    return worker.text().count(" ready.") >= nodes


def dagster_daemon(env: dict[str, str], log_dir: Path) -> Process:
    executable = BIN / "dagster-daemon"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "dagster._daemon"]
    return Process("dagster-daemon", [*command, "run", "-w", str(PROJECT / "workspace.yaml")], env, log_dir / "daemon.log").start()


@dataclass(frozen=True)
class StepExecution:
    """One delivery of a step to a Celery worker, as the step task recorded it."""

    step_key: str
    task_id: str
    queue: str
    worker: str
    pid: int
    delivery: int
    timestamp: float


def step_executions(instance, run_id: str) -> list[StepExecution]:
    from dagster._core.events import DagsterEventType

    found = []
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records:
        event = record.event_log_entry.dagster_event
        metadata = {k: getattr(v, "value", v) for k, v in (event.engine_event_data.metadata or {}).items()}
        if "celery_task_id" in metadata and "celery_queue" in metadata:
            found.append(
                StepExecution(
                    event.step_key, metadata["celery_task_id"], metadata["celery_queue"], metadata["Celery worker"],
                    int(metadata["pid"]), int(metadata["delivery"]), record.event_log_entry.timestamp,
                )
            )  # fmt: skip
    return found


def run_steps(instance, run_id: str, event_type: str) -> list[str]:
    return [
        e.dagster_event.step_key
        for e in instance.all_logs(run_id)
        if e.dagster_event is not None and e.dagster_event.event_type_value == event_type
    ]


def failures(instance, run_id: str) -> str:
    """What the event log says about why a run or its steps failed, for assertion messages."""
    lines = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.event_type_value in ("STEP_FAILURE", "PIPELINE_FAILURE"):
            error = getattr(event.event_specific_data, "error", None)
            lines.append(f"{event.event_type_value} {event.step_key or ''}: {entry.message} {error.to_string() if error else ''}")
    return "\n".join(lines)


def register_and_launch(env: dict[str, str], log_dir: Path, video: Path, partition: str, tags: dict[str, str] | None = None) -> Process:
    """Register ``video`` as ``partition`` and execute one run of it in a subprocess, the way a
    warm run worker does (the run's process orchestrates; Celery workers execute the steps)."""
    import json

    command = [sys.executable, "-m", "tests.scaleout.launch", str(video), partition, json.dumps(tags or {})]
    return Process(f"run of {partition}", command, env, log_dir / f"run-{partition.replace('/', '_')}.log").start()
