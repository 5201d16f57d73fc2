"""What Celery mode takes from the deployment's settings: the Celery configuration that the process
submitting steps and the workers executing them share, and the check that every machine reads the
same state.

A step executed on another machine reads what earlier steps wrote (the Dagster event log, the
DataProcessor database, artifacts and frames under ``DP_HOME``), so Celery mode refuses to start
on SQLite or on a ``DP_HOME`` that is not declared shared, with one line naming what to set.
Whether a folder is shared cannot be detected: a local disk, an NFS mount and a bind mount look
alike from one machine, and even a network filesystem says nothing about the path other machines
mount it at; so the deployment declares it (``DP_SHARED_HOME=true``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from urllib.parse import urlsplit, urlunsplit

import yaml

from dp_resources.settings import INSTANCE_TEMPLATES, Settings, SettingsError

# Dagster instance storages that every machine can reach (dagster-postgres, dagster-mysql).
SHARED_STORAGES = ("postgres", "mysql")

# Celery settings of both sides, on top of dagster-celery's defaults (prefetch 1, priorities).
CELERY_CONFIG: dict[str, Any] = {
    # A task is acknowledged when its step has finished, not when a worker takes it: a worker that
    # dies mid-step (kill -9, a lost machine) leaves the message unacknowledged and the broker
    # delivers it again to another worker.
    "task_acks_late": True,
    # ... and when only the prefork child executing it dies, its parent requeues the message instead
    # of recording a failure.
    "task_reject_on_worker_lost": True,
    # A lost broker connection cannot acknowledge the running tasks any more, and the broker
    # delivers them again: stop them rather than compute each step twice.
    "worker_cancel_long_running_tasks_on_connection_loss": True,
    # worker_max_tasks_per_child stays unset: a child is never recycled, so the models it loaded
    # stay loaded for every later task.
    "broker_connection_retry_on_startup": True,
    # A child loads the models of its queues before it takes a task (a minute for the baseline
    # profile on a busy machine); Celery's default would kill it after 4 s.
    "worker_proc_alive_timeout": 900,
    # What steps print (Dagster's console log of the run, also in its event log) is debug output
    # of the worker, not warnings.
    "worker_redirect_stdouts_level": "DEBUG",
    # The worker log names the process of each line, so model loads can be counted per process.
    "worker_log_format": "[%(asctime)s: %(levelname)s/%(processName)s pid=%(process)d] %(name)s: %(message)s",
    "worker_task_log_format": "[%(asctime)s: %(levelname)s/%(processName)s pid=%(process)d] %(task_name)s[%(task_id)s]: %(message)s",
}


def redacted(url: str) -> str:
    """A broker or backend URL with its password masked, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:**@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def instance_storage(settings: Settings) -> str:
    """The storage of the Dagster instance in ``DAGSTER_HOME`` (its dagster.yaml, or the template
    DP_INSTANCE would copy there): ``postgres``, ``mysql`` or ``sqlite``."""
    path = Path(settings.dagster_home) / "dagster.yaml"
    if not path.is_file():
        path = INSTANCE_TEMPLATES[settings.instance]
    config = yaml.safe_load(path.read_text()) or {}
    text = yaml.safe_dump({key: config.get(key) for key in ("storage", "run_storage", "event_log_storage")})
    return next((kind for kind in SHARED_STORAGES if kind in text), "sqlite")


def shared_state_problems(settings: Settings) -> list[str]:
    """What to set before Celery mode can start, one phrase each (empty: ready)."""
    problems = []
    if instance_storage(settings) not in SHARED_STORAGES:
        problems.append(
            f"set DP_INSTANCE=postgres and DAGSTER_PG_URL (the Dagster instance in {settings.dagster_home} is SQLite, "
            "which workers on other machines cannot reach)"
        )
    if settings.database_url.startswith("sqlite"):
        problems.append("set DP_DATABASE_URL=postgresql+psycopg2://USER@HOST:5432/DB (the DataProcessor database is SQLite)")
    if not settings.shared_home:
        problems.append(
            f"set DP_SHARED_HOME=true once DP_HOME ({settings.home}) is a folder every machine mounts at the same path "
            "(artifacts and frames are read by steps on other machines)"
        )
    elif Path(settings.gpu_lock_dir).is_relative_to(settings.home):
        problems.append(
            f"set DP_GPU_LOCK_DIR to a folder local to each machine ({settings.gpu_lock_dir} is inside the shared DP_HOME, "
            "so GPU slots would be counted across machines)"
        )
    return problems


def check_shared_state(settings: Settings) -> None:
    """Raise :class:`SettingsError` (one line) when Celery mode cannot work with these settings."""
    problems = shared_state_problems(settings)
    if problems:
        raise SettingsError("DP_EXECUTOR=celery needs state that every machine shares: " + "; ".join(problems))


def broker_url(settings: Settings) -> str:
    return settings.celery_broker_url.get_secret_value()


def backend_url(settings: Settings) -> str:
    return settings.celery_backend_url.get_secret_value()
