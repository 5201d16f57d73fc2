"""``dp export OUT``: the training dataset of every video processed with a profile, as Parquet."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from dp_assets.cli.output import fail


def add_parser(sub) -> None:
    export = sub.add_parser("export", help="write one Parquet dataset (hive-partitioned by platform_id) of every processed video")
    export.add_argument("out", help="the dataset folder (created, or replaced when it holds an earlier export)")
    export.add_argument("--profile", default=argparse.SUPPRESS, help="the profile whose results are exported")
    export.add_argument("--tables", default="features", help="comma-separated tables: features and per-frame/per-segment component tables")
    export.add_argument("--since", help="only videos whose latest run finished at or after this date (YYYY-MM-DD or ISO time, UTC)")
    export.add_argument("--overwrite", action="store_true", help="replace OUT even when it is not an earlier export")
    export.set_defaults(func=run)


def _since(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    value = dt.datetime.fromisoformat(text)  # ValueError names the text
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def run(args: argparse.Namespace) -> int:
    from dp_assets.export.dataset import ExportError, export_dataset, parse_tables
    from dp_assets.profiles import ProfileError, load_profile
    from dp_resources.artifact_index import ArtifactIndex
    from dp_resources.artifact_store import ArtifactStore
    from dp_resources.gpu import gpu_from_env

    try:
        since = _since(args.since)
    except ValueError:
        return fail(f"--since {args.since!r} is not a date (YYYY-MM-DD) or an ISO time")
    try:
        profile = load_profile(args.profile, runtime=gpu_from_env().runtime())
        tables = parse_tables(profile, args.tables)
    except (ProfileError, ExportError, RuntimeError) as exc:
        return fail(str(exc))

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rexporting {done}/{total} videos", end="" if done < total else "\n", file=sys.stderr, flush=True)

    try:
        result = export_dataset(
            Path(args.out), profile, ArtifactStore(), ArtifactIndex(), tables, since=since, overwrite=args.overwrite, progress=progress
        )
    except ExportError as exc:
        return fail(str(exc))
    rows = ", ".join(f"{table} {count} rows" for table, count in result.rows.items())
    print(f"exported {result.videos} videos (profile {profile.name}) to {result.path}: {rows}")
    for video, reason in result.skipped:
        print(f"left out {video}: {reason} (run dp process on it again)")
    return 0
