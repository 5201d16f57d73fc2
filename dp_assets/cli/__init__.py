"""The ``dp`` command: ``process`` videos, ``status`` of videos, ``export`` the dataset, ``dev`` UI,
``serve`` to keep the models loaded for ``process``, ``worker`` for Celery mode.

Each subcommand lives in its own module; this one builds the parser and dispatches. Imports stay
inside the subcommands so that a quick command (a cached ``dp process``, ``dp status``) never
pays for Dagster or a model library.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from dp_assets.cli import dev, doctor, export, process, serve, status, worker
from dp_assets.cli.output import EXIT_RUN_FAILED, fail
from dp_resources.settings import SettingsError, current_settings


def build_parser(default_profile: str = "baseline") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dp", description="DataProcessor: video features through a Dagster asset graph.")
    parser.set_defaults(profile=default_profile)
    sub = parser.add_subparsers(dest="command", required=True)
    process.add_parser(sub)
    status.add_parser(sub)
    export.add_parser(sub)
    doctor.add_parser(sub)
    dev.add_parsers(sub)
    serve.add_parser(sub)
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
    # The table and the summary say what happened; the library's own log lines (a record that
    # could not be written, a model loaded) show with --verbose only.
    library_log = logging.getLogger("dataprocessor")
    if getattr(args, "verbose", False):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    else:
        library_log.addHandler(logging.NullHandler())
        library_log.propagate = False
    if settings.executor == "celery":
        if args.command == "process":
            # dp process executes its runs in this process (batches, models loaded once here);
            # Celery workers take the runs launched through the instance (daemon, UI).
            print("dp: DP_EXECUTOR=celery: dp process computes on this machine; runs of the daemon and the UI go to the Celery workers", file=sys.stderr)
        elif args.command == "dev":
            from dp_assets.scaleout.config import check_shared_state

            try:
                check_shared_state(settings)
            except SettingsError as exc:
                return fail(str(exc))
    try:
        return args.func(args)
    except Exception as exc:
        message = database_problem(exc, settings)
        if message is None:
            raise
        return fail(message, EXIT_RUN_FAILED)


def _shown(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _raised_by_dagster_storage(exc: BaseException) -> bool:
    """Whether the failing query came from Dagster's storage rather than DataProcessor's: the
    deepest frame of either before SQLAlchemy's own."""
    import traceback

    owner = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if "/dagster/_core/storage/" in frame.filename:
            owner = "dagster"
        elif "/dp_resources/" in frame.filename or "/dp_assets/" in frame.filename:
            owner = "dataprocessor"
    return owner == "dagster"


def database_problem(exc: BaseException, settings) -> str | None:
    """One line for a database that is down or damaged, naming it; None for any other error."""
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if _raised_by_dagster_storage(exc):
        what = "the Dagster instance's database"
        url = _shown(settings.dagster_pg_url.get_secret_value()) if settings.dagster_pg_url else str(settings.dagster_home)
    else:
        what, url = "the DataProcessor database", _shown(settings.database_url)
    if "file is not a database" in reason or "malformed" in reason:
        return (
            f"{what} {url} is damaged ({reason}): move the file aside, then run `dp doctor --rebuild` "
            "to rebuild the catalog and the artifact index from the artifacts"
        )
    return f"{what} {url} is unreachable or failed: {reason}"


if __name__ == "__main__":
    sys.exit(main())
