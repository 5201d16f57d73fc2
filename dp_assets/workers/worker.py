"""One warm worker: imports the code location and loads the profile's models once, then executes
the runs its launcher sends it, one at a time, in this process.

Protocol, one line each: the launcher sends ``run <run_id>`` on stdin; the worker answers on the
file descriptor named by ``DP_WORKER_REPLY_FD`` (its stdout goes to its log, so nothing a library
prints can break the protocol): ``ready`` once loaded, ``done <run_id> <status>`` after a run, or
``restart <run_id>`` when the project's code changed since it started (the launcher then starts
a fresh worker for that run). End of stdin means the launcher is gone: the worker finishes its
run, if any, and exits.

There is no public Dagster API that executes an existing run in the current process, so the run
is executed the way ``dagster api execute_run`` does it (``dagster._grpc.impl.core_execute_run``),
pinned to the Dagster version in constraints.txt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from dp_resources.settings import PROJECT_DIR, current_settings

log = logging.getLogger("dataprocessor.worker")
# Where the code a worker imported lives: a change to any of these makes it stale.
CODE_DIRS = ("dp_assets", "dp_core", "dp_resources")


def code_fingerprint() -> str:
    """The mtimes and sizes of the project's modules and of the active profile."""
    digest = hashlib.sha256()
    paths = sorted(p for d in CODE_DIRS for p in (PROJECT_DIR / d).rglob("*.py"))
    settings = current_settings()
    profile = Path(settings.profile) if settings.profile.endswith((".yaml", ".yml")) else settings.profiles_dir / f"{settings.profile}.yaml"
    for path in [*paths, profile]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    return digest.hexdigest()


def preload_models() -> list[str]:
    """Load every model the deployment's profile uses, before the first run needs it."""
    from dp_assets.preload import prepare_components
    from dp_assets.profiles import load_profile
    from dp_resources.gpu import gpu_from_env

    runtime = gpu_from_env().runtime()
    return prepare_components(load_profile(current_settings().profile, runtime=runtime).components.values(), runtime)


# A model's first inference is much slower than the next ones (allocations, kernel selection,
# lazy initialisation): a first pass of the baseline took 12.7 s on a clip a second pass computed
# in 5.4 s (OCR 6.3 -> 2.4 s, the embedding 1.9 -> 0.4 s; measured). A worker runs the bundled
# demo clip through its profile once, before it says it is ready, so its first run is warm too.
WARM_UP_CLIP = PROJECT_DIR / "demo" / "big_buck_bunny_5s.mp4"


def warm_up(profile=None) -> float:
    """Compute the demo clip once through ``profile`` (default: the deployment's), directly (no
    Dagster, nothing stored); its wall seconds."""
    import tempfile

    from dp_assets.direct import run_profile_direct
    from dp_assets.profiles import load_profile
    from dp_resources.gpu import gpu_from_env

    if not WARM_UP_CLIP.is_file():
        return 0.0
    started = time.perf_counter()
    if profile is None:
        profile = load_profile(current_settings().profile, runtime=gpu_from_env().runtime())
    with tempfile.TemporaryDirectory(prefix="dp_worker_warmup_") as folder:
        run_profile_direct(profile, WARM_UP_CLIP, Path(folder), observe=False)
    return time.perf_counter() - started


_instance = None


def _the_instance():
    """The instance, opened once per worker (opening one reads dagster.yaml and its storages)."""
    global _instance
    if _instance is None:
        import dagster as dg

        _instance = dg.DagsterInstance.get()
    return _instance


def open_instance_storages(instance=None) -> None:
    """Open the instance (default: this worker's) and touch each storage now, not in the first
    run's time.

    The first run otherwise paid for importing the storage modules, the schema checks and the
    first connections (0.5 s of its start on 2 cores, sampled with py-spy).
    """
    import dagster as dg

    instance = instance or _the_instance()
    instance.get_runs(limit=1)
    events = instance.event_log_storage
    events.supports_global_concurrency_limits  # noqa: B018  (a cached schema check)
    events.get_event_records(dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION), limit=1)


def _execute(run_id: str, jobs: dict) -> str:
    from dagster._grpc.impl import core_execute_run
    from dagster._utils.hosted_user_process import recon_job_from_origin

    from dp_assets.liveness import owner_tags

    instance = _the_instance()
    run = instance.get_run_by_id(run_id)
    if run is None:
        return "MISSING"
    instance.add_run_tags(run_id, owner_tags())  # run monitoring and dp doctor find this process
    origin = run.job_code_origin
    key = origin.get_id() if origin else None
    if key not in jobs:
        jobs[key] = recon_job_from_origin(origin)  # its definition is built once and cached
    try:
        for _ in core_execute_run(jobs[key], run, instance, inject_env_vars=True):
            pass
    except Exception:  # already reported on the run; the worker goes on
        log.exception("run %s ended with an error", run_id)
    # An interrupt (SIGINT, or SIGTERM, which Dagster maps to it) ends the run as failed, then
    # propagates: the worker was asked to stop.
    finished = instance.get_run_by_id(run_id)
    return finished.status.value if finished else "MISSING"


def main() -> int:
    # SIGTERM (a deployment stopping the worker) stops it like Ctrl-C: the run it executes, if
    # any, ends as failed, and the worker exits.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(message)s", stream=sys.stderr)
    replies = os.fdopen(int(os.environ["DP_WORKER_REPLY_FD"]), "w", buffering=1)

    def reply(text: str) -> None:
        replies.write(text + "\n")
        replies.flush()

    started = time.perf_counter()
    fingerprint = code_fingerprint()
    import dp_assets.definitions

    dp_assets.definitions.defs()  # built once now; every run's job is loaded from it
    open_instance_storages()

    # With the Celery executor a run worker only coordinates: the steps, and the models, are on
    # the Celery workers.
    celery = current_settings().executor == "celery"
    loaded = [] if celery else preload_models()
    warm = 0.0 if celery else warm_up()
    log.info("ready in %.1f s (models: %s; warm-up pass %.1f s)", time.perf_counter() - started, ", ".join(loaded) or "none", warm)
    reply("ready")
    jobs: dict = {}
    try:
        for line in sys.stdin:
            command, _, run_id = line.strip().partition(" ")
            if command != "run":
                continue
            if code_fingerprint() != fingerprint:
                reply(f"restart {run_id}")
                return 0
            status = _execute(run_id, jobs)
            reply(f"done {run_id} {status}")
    except BaseException as exc:  # KeyboardInterrupt, or Dagster's interrupt error during a run
        if not isinstance(exc, KeyboardInterrupt) and type(exc).__name__ != "DagsterExecutionInterruptedError":
            raise
        log.info("stopped by a signal")
        return 0
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    sys.exit(main())
