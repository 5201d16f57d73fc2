"""The ``dp`` command: ``process`` videos, ``status`` of videos, ``export`` the dataset, ``dev`` UI,
``worker`` for Celery mode.

Each subcommand lives in its own module; this one builds the parser and dispatches. Imports stay
inside the subcommands so that a quick command (a cached ``dp process``, ``dp status``) never
pays for Dagster or a model library.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from dp_assets.cli import dev, export, process, status, worker
from dp_assets.cli.output import fail
from dp_resources.settings import SettingsError, current_settings


def build_parser(default_profile: str = "baseline") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dp", description="DataProcessor: video features through a Dagster asset graph.")
    parser.set_defaults(profile=default_profile)
    sub = parser.add_subparsers(dest="command", required=True)
    process.add_parser(sub)
    status.add_parser(sub)
    export.add_parser(sub)
    dev.add_parsers(sub)
    worker.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Dagster flags preview/beta APIs with Python warnings; they are noise in a CLI summary.
    # Model libraries draw progress bars on stderr while loading weights; the table is the output.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", module=r"dagster(\..*)?")
    warnings.filterwarnings("ignore", message=r".*is currently (in beta|in preview|preview)")
    try:
        settings = current_settings()
    except SettingsError as exc:
        return fail(f"invalid settings\n  {exc}")
    args = build_parser(settings.profile).parse_args(argv)
    if settings.executor == "celery":
        if args.command == "process":
            # dp process executes its runs in this process (batches, models loaded once here);
            # Celery workers take the runs launched through the instance (daemon, UI).
            print("dp: DP_EXECUTOR=celery: dp process computes on this machine; runs of the daemon and the UI go to the Celery workers", file=sys.stderr)
            os.environ["DP_EXECUTOR"] = "in_process"
        elif args.command == "dev":
            from dp_assets.scaleout.config import check_shared_state

            try:
                check_shared_state(settings)
            except SettingsError as exc:
                return fail(str(exc))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
