"""``dp process PATH``: one video through every component of a profile, or served from cache.

The cached path decides from the artifact index before Dagster or any model library is imported
(``dp_assets.serving``); only a video that must be computed loads the runner.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dp_assets.cli.output import EXIT_RUN_FAILED, fail, format_table
from dp_resources.ids import InvalidIdError, VideoKey, id_from_filename


def add_parser(sub) -> None:
    process = sub.add_parser("process", help="process one video file through every component of a profile")
    process.add_argument("path", help="video (or audio) file")
    process.add_argument("--video-id", help="the video's id on its platform (default: derived from the file name)")
    process.add_argument("--platform-id", default="local", help="platform the video comes from (default: local)")
    process.add_argument("--profile", default=argparse.SUPPRESS, help="profile name in profiles/ or a YAML path")
    process.add_argument("--verbose", action="store_true", help="also print Dagster's event log")
    process.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if not path.exists():
        return fail(f"{path}: no such file")
    if not path.is_file():
        return fail(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        return fail(f"{path}: file is empty (0 bytes)")
    try:
        video = VideoKey(args.platform_id, args.video_id or id_from_filename(path.stem))
    except InvalidIdError as exc:
        return fail(str(exc))

    from dp_assets.profiles import ProfileError, load_profile
    from dp_resources.gpu import gpu_from_env

    try:
        profile = load_profile(args.profile, runtime=gpu_from_env().runtime())
    except (ProfileError, RuntimeError, ValueError) as exc:
        return fail(str(exc))

    from dp_assets.serving import serve_cached
    from dp_resources.artifact_index import ArtifactIndex
    from dp_resources.artifact_store import ArtifactStore
    from dp_resources.video_catalog import VideoCatalog

    store, catalog = ArtifactStore(), VideoCatalog()
    index = ArtifactIndex(database_url=catalog.database_url)
    with index.video_lock(video):
        outcome = serve_cached(path, video, profile, store, catalog, index)
    if outcome is None:
        from dp_assets.runner import process_video

        # The summary table says what failed and why; Dagster's own event log stays in the run
        # (dp dev) unless asked for here with --verbose.
        outcome = process_video(
            path, video, profile, store=store, catalog=catalog, index=index, dagster_log_level="DEBUG" if args.verbose else "CRITICAL"
        )
    manifest = outcome.manifest
    origin = f"served from cache (run {outcome.run_id})" if outcome.served_from_cache else f"run {outcome.run_id}"
    print(f"video {video} · profile {manifest.profile} · {origin}")
    print(format_table(manifest))
    if manifest.partial_failures:
        print(f"PARTIAL FAILURE: optional component(s) failed: {', '.join(manifest.partial_failures)}")
    for evicted in outcome.evicted:
        print(f"evicted least recently used video {evicted} (cache limit)")
    print(f"manifest: {outcome.manifest_path}")
    if not outcome.ok:
        return fail(manifest.run_error or "run failed", EXIT_RUN_FAILED)
    return 0
