"""``dp worker``: execute the steps of ``DP_EXECUTOR=celery`` runs on this machine (``dp_assets.scaleout.worker``)."""

from __future__ import annotations

import argparse

from dp_assets.cli.output import EXIT_BAD_INPUT, fail
from dp_assets.scaleout.queues import QUEUES
from dp_resources.settings import SettingsError, current_settings


def add_parser(sub) -> None:
    worker = sub.add_parser("worker", help="execute steps of Celery-mode runs (DP_EXECUTOR=celery) from the cpu and gpu queues")
    worker.add_argument("--queues", default=",".join(QUEUES), help="comma-separated queues to take steps from (default: cpu,gpu)")
    worker.add_argument(
        "--concurrency", type=int, default=None, help="steps at once from the non-gpu queues (default: DP_WORKERS); the gpu queue takes DP_GPU_MAX_CONCURRENT"
    )
    worker.add_argument("--name", default=None, help="name of this worker (default: random); its Celery nodes are <queues>-<name>@<host>")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dp_assets.scaleout.worker import run_worker

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    if args.concurrency is not None and args.concurrency < 1:
        return fail("--concurrency must be at least 1", EXIT_BAD_INPUT)
    try:
        return run_worker(current_settings(), queues, args.concurrency, args.name, args.loglevel)
    except SettingsError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
