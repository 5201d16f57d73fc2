"""``dp dev``: the Dagster UI and daemon (``dagster dev``) on this deployment's instance;
``dp daemon``: the daemon alone (sensors, schedules, the run queue and its warm workers);
``dp migrate``: bring a DP_HOME made by an earlier version up to date (its databases, its
partitions, and its instance file: an edited or unrecorded ``dagster.yaml`` is replaced by this
version's template, the old one kept beside it).

Each first opens the instance under DataProcessor's init lock, so its storage is created once
even when several processes start on a fresh home at the same moment (Dagster's own start-up
would race: ``UNIQUE constraint failed: alembic_version``, measured)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from pathlib import Path

from dp_resources.settings import PROJECT_DIR, ensure_dagster_home


def add_parsers(sub) -> None:
    dev = sub.add_parser("dev", help="open the Dagster UI (dagster dev with workspace.yaml)")
    dev.add_argument("--profile", default=argparse.SUPPRESS)
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument("--host", default="127.0.0.1")
    dev.set_defaults(func=run_dev)

    daemon = sub.add_parser("daemon", help="run the Dagster daemon alone (dagster-daemon run -w workspace.yaml)")
    daemon.add_argument("--profile", default=argparse.SUPPRESS)
    daemon.set_defaults(func=run_daemon)

    migrate = sub.add_parser("migrate", help="migrate the databases and the Dagster partitions of DP_HOME to this version")
    migrate.set_defaults(func=run_migrate)


def _open_and_sync():
    """The instance, with every registered video's partition present."""
    from dp_assets.partitions import sync_video_partitions
    from dp_resources.instance import open_instance
    from dp_resources.video_catalog import VideoCatalog

    instance = open_instance()
    added = sync_video_partitions(instance, VideoCatalog())
    return instance, added


def _replace_instance_yaml() -> None:
    """This version's instance template in place of an edited (or unrecorded) ``dagster.yaml``,
    the old file kept next to it."""
    import time

    from dp_resources.settings import INSTANCE_TEMPLATES, current_settings, install_instance_yaml, instance_yaml_state

    settings = current_settings()
    if instance_yaml_state(settings) != "edited":
        return
    template, home = INSTANCE_TEMPLATES[settings.instance], settings.dagster_home
    kept = home / f"dagster.yaml.{time.strftime('%Y%m%d-%H%M%S')}.bak"
    os.replace(home / "dagster.yaml", kept)
    install_instance_yaml(template, home)
    print(f"dp: {home / 'dagster.yaml'} is now this version's template {template.name}; the previous file is {kept}")


def run_migrate(args: argparse.Namespace) -> int:
    from dp_assets.partitions import sync_video_partitions
    from dp_resources.video_catalog import VideoCatalog

    _replace_instance_yaml()
    instance, added = _open_and_sync()
    with instance:
        added += sync_video_partitions(instance, VideoCatalog(), force=True)
    print(f"dp: DP_HOME is up to date; {added} video partition(s) added")
    return 0


def _warn_if_not_current_instance_yaml() -> None:
    """The daemon and the UI run what dagster.yaml says (the warm workers, the queue): one line
    when it is not this version's template, which ``dp migrate`` would install."""
    from dp_resources.settings import current_settings, instance_yaml_state

    settings = current_settings()
    if instance_yaml_state(settings) == "edited":
        print(
            f"dp: note: {settings.dagster_home / 'dagster.yaml'} is not this version's instance template (edited, or from an "
            "older version); `dp migrate` replaces it, keeping a copy",
            file=sys.stderr,
            flush=True,
        )


def _exec(program: str, *arguments: str, profile: str) -> int:
    """Replace this process by a Dagster program on the opened, up-to-date instance."""
    instance, _ = _open_and_sync()
    _warn_if_not_current_instance_yaml()
    instance.dispose()
    ensure_dagster_home()
    # A shell starts background jobs with SIGINT ignored, and an ignored signal survives exec:
    # the program would then not stop on SIGINT/SIGTERM. Give it the default dispositions.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    path = str(Path(sys.executable).with_name(program))
    if not Path(path).exists():  # not installed in this interpreter's environment
        path = shutil.which(program) or path
    command = [path, *arguments]
    # Dagster loads the code location in processes of its own: the profile reaches them the way
    # every deployment setting does, through the environment they inherit.
    os.execve(command[0], command, {**os.environ, "DP_PROFILE": profile})
    return 0  # not reached


def run_dev(args: argparse.Namespace) -> int:
    from dp_resources.gpu import gpu_from_env

    print(f"dp: profile {args.profile}, DAGSTER_HOME {ensure_dagster_home()}, GPU components at once: {gpu_from_env().max_concurrent()}")
    return _exec("dagster", "dev", "-w", str(PROJECT_DIR / "workspace.yaml"), "-p", str(args.port), "-h", args.host, profile=args.profile)


def run_daemon(args: argparse.Namespace) -> int:
    print(f"dp: profile {args.profile}, DAGSTER_HOME {ensure_dagster_home()}", flush=True)
    return _exec("dagster-daemon", "run", "-w", str(PROJECT_DIR / "workspace.yaml"), profile=args.profile)
