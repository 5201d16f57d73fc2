"""The ``dp`` command: ``dp process PATH`` runs one video through the graph; ``dp dev`` opens the UI."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings
from pathlib import Path

from dp_resources.settings import PROJECT_DIR, SettingsError, current_settings, ensure_dagster_home

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"dp: error: {message}", file=sys.stderr)
    return code


def _shorten(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def format_table(manifest) -> str:
    """One row per component: status, reason, wall/CPU seconds, peak memory growth, note."""
    header = ("component", "req", "status", "empty_reason", "seconds", "cpu_s", "mem_mb", "gpu_mb", "note")
    rows = []
    for entry in manifest.components:
        note = entry.error or ("; ".join(entry.warnings) if entry.warnings else "")
        if entry.cache_hit:
            note = "cache hit" + (f"; {note}" if note else "")
        status = entry.status.upper() if entry.status == "error" else entry.status
        if entry.status == "error" and entry.optional:
            status = "ERROR (partial)"
        rows.append(
            (
                entry.component,
                "opt" if entry.optional else "req",
                status,
                entry.empty_reason or "",
                _num(entry.wall_seconds, ".3f"),
                _num(entry.cpu_seconds, ".3f"),
                _num(entry.peak_rss_delta_mb, ".0f"),
                _num(entry.peak_gpu_mb, ".0f"),
                _shorten(note, 60),
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_process(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if not path.exists():
        return _fail(f"{path}: no such file")
    if not path.is_file():
        return _fail(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        return _fail(f"{path}: file is empty (0 bytes)")

    from dp_resources.ids import InvalidIdError, check_id, id_from_filename

    video_id = args.video_id or id_from_filename(path.stem)
    try:
        check_id("video_id", video_id)
        check_id("platform_id", args.platform_id)
    except InvalidIdError as exc:
        return _fail(str(exc))

    from dp_assets.profiles import ProfileError, load_profile
    from dp_resources.gpu import gpu_from_env

    try:
        profile = load_profile(args.profile, runtime=gpu_from_env().runtime())
    except (ProfileError, RuntimeError, ValueError) as exc:
        return _fail(str(exc))
    from dp_assets.runner import process_video

    # The summary table says what failed and why; Dagster's own event log stays in the run
    # (dp dev) unless asked for here with --verbose.
    outcome = process_video(path, video_id, args.platform_id, profile, dagster_log_level="DEBUG" if args.verbose else "CRITICAL")
    manifest = outcome.manifest
    origin = "served from cache (run " + outcome.run_id + ")" if outcome.served_from_cache else f"run {outcome.run_id}"
    print(f"video {manifest.video_id} (platform {manifest.platform_id}) · profile {manifest.profile} · {origin}")
    print(format_table(manifest))
    if manifest.partial_failures:
        print(f"PARTIAL FAILURE: optional component(s) failed: {', '.join(manifest.partial_failures)}")
    for platform_id, evicted in outcome.evicted:
        print(f"evicted least recently used video {platform_id}/{evicted} (cache limit)")
    print(f"manifest: {outcome.manifest_path}")
    if not outcome.ok:
        return _fail(manifest.run_error or "run failed", EXIT_RUN_FAILED)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dp_assets.cache import request_verdict
    from dp_assets.profiles import ProfileError, load_profile
    from dp_resources.artifact_index import ArtifactIndex, utcnow
    from dp_resources.artifact_store import ArtifactStore
    from dp_resources.gpu import gpu_from_env
    from dp_resources.video_catalog import VideoCatalog

    catalog = VideoCatalog()
    video = catalog.lookup(args.video_id)
    if video is None:
        return _fail(f"video_id {args.video_id!r} is unknown (never processed)")
    try:
        profile = load_profile(args.profile, runtime=gpu_from_env().runtime())
    except (ProfileError, RuntimeError, ValueError) as exc:
        return _fail(str(exc))
    index, store = ArtifactIndex(database_url=catalog.database_url), ArtifactStore()
    print(f"video {video.video_id} (platform {video.platform_id}) · {video.uri}")
    if not Path(video.uri).is_file():
        print(f"the video file {video.uri} is gone: a request for it would fail")
        return 0
    now = utcnow()
    verdict = request_verdict(store, index, profile, video, catalog.content_hash(video), now)
    entry = verdict.entry
    if entry is not None:
        age_h = entry.age(now).total_seconds() / 3600
        print(f"latest successful run {entry.latest_success_run_id} finished {entry.finished_at:%Y-%m-%d %H:%M:%S} UTC ({age_h:.1f} h ago)")
    for artifact in verdict.artifacts.values():
        state = "cached" if artifact.valid else f"{artifact.verdict.value}: {artifact.reason}"
        print(f"  {artifact.component:<18} {state}")
    if verdict.servable:
        print(f"a new request would serve from cache ({verdict.reason})")
    else:
        print(f"a new request would compute ({verdict.verdict.value}: {verdict.reason})")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    import signal

    from dp_resources.gpu import configure_gpu_pool, gpu_from_env
    from dp_resources.instance import open_instance

    with open_instance() as instance:
        limit = configure_gpu_pool(instance, gpu_from_env())
    home = ensure_dagster_home()
    print(f"dp: profile {args.profile}, DAGSTER_HOME {home}, gpu pool limit {limit}")
    # A shell starts background jobs with SIGINT ignored, and an ignored signal survives exec:
    # dagster dev would then not stop on SIGINT/SIGTERM. Give it the default dispositions.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    dagster = str(Path(sys.executable).with_name("dagster"))
    if not Path(dagster).exists():  # not installed in this interpreter's environment
        dagster = shutil.which("dagster") or dagster
    command = [dagster, "dev", "-w", str(PROJECT_DIR / "workspace.yaml"), "-p", str(args.port), "-h", args.host]
    # dagster dev loads the code location in processes of its own: the profile reaches them the
    # way every deployment setting does, through the environment they inherit.
    os.execve(command[0], command, {**os.environ, "DP_PROFILE": args.profile})
    return 0  # not reached


def build_parser(default_profile: str = "baseline") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dp", description="DataProcessor: video features through a Dagster asset graph.")
    sub = parser.add_subparsers(dest="command", required=True)

    process = sub.add_parser("process", help="process one video file through every component of a profile")
    process.add_argument("path", help="video (or audio) file")
    process.add_argument("--video-id", help="partition key (default: derived from the file name)")
    process.add_argument("--platform-id", default="local", help="platform the video comes from (default: local)")
    process.add_argument("--profile", default=default_profile, help="profile name in profiles/ or a YAML path")
    process.add_argument("--verbose", action="store_true", help="also print Dagster's event log")
    process.set_defaults(func=cmd_process)

    status = sub.add_parser("status", help="latest run, cached components and cache verdict for one video")
    status.add_argument("video_id")
    status.add_argument("--profile", default=default_profile)
    status.set_defaults(func=cmd_status)

    dev = sub.add_parser("dev", help="open the Dagster UI (dagster dev with workspace.yaml)")
    dev.add_argument("--profile", default=default_profile)
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument("--host", default="127.0.0.1")
    dev.set_defaults(func=cmd_dev)
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
        return _fail(f"invalid settings\n  {exc}")
    args = build_parser(settings.profile).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
