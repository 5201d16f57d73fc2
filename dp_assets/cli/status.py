"""``dp status``: what is known about one video (latest run, cached components, what a request
would do), or the most recently registered videos. Answers from the databases alone: no Dagster."""

from __future__ import annotations

import argparse
from pathlib import Path

from dp_assets.cli.output import fail, render_table
from dp_resources.ids import InvalidIdError, VideoKey, check_id

DEFAULT_LIMIT = 20


def add_parser(sub) -> None:
    status = sub.add_parser("status", help="one video's latest run, cached components and cache verdict; without an id, the newest videos")
    status.add_argument("video_id", nargs="?", help="the video's id (omit it to list videos, newest first)")
    status.add_argument("--platform-id", help="the video's platform (needed when the id exists on several platforms)")
    status.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"videos listed without an id (default {DEFAULT_LIMIT})")
    status.add_argument("--profile", default=argparse.SUPPRESS, help="profile whose cache verdict is shown")
    status.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dp_resources.video_catalog import VideoCatalog

    try:
        if args.platform_id is not None:
            check_id("platform_id", args.platform_id)
        if args.video_id is not None:
            check_id("video_id", args.video_id)
    except InvalidIdError as exc:
        return fail(str(exc))
    catalog = VideoCatalog()
    if args.video_id is None:
        return _list(catalog, args.limit, args.platform_id)
    if args.platform_id is None:
        platforms = catalog.platforms_of(args.video_id)
        if not platforms:
            return fail(f"video_id {args.video_id!r} is unknown on every platform (never processed)")
        if len(platforms) > 1:
            return fail(f"video_id {args.video_id!r} exists on {len(platforms)} platforms ({', '.join(platforms)}): add --platform-id")
        args.platform_id = platforms[0]
    return _one(catalog, VideoKey(args.platform_id, args.video_id), args.profile)


def _list(catalog, limit: int, platform_id: str | None) -> int:
    if limit < 1:
        return fail(f"--limit must be at least 1, not {limit}")
    entries = catalog.newest(limit, platform_id)
    total = catalog.count(platform_id)
    where = f" on platform {platform_id}" if platform_id else ""
    if not entries:
        print(f"no videos registered{where}")
        return 0
    rows = [(e.video.platform_id, e.video.video_id, f"{e.registered_at:%Y-%m-%d %H:%M:%S}", e.video.uri) for e in entries]
    print(render_table(("platform", "video_id", "registered (UTC)", "file"), rows))
    print(f"{len(entries)} of {total} videos{where}, newest first")
    return 0


def _one(catalog, video: VideoKey, profile_name: str) -> int:
    from dp_assets.cache import request_verdict
    from dp_assets.profiles import ProfileError, load_profile
    from dp_resources.artifact_index import ArtifactIndex, utcnow
    from dp_resources.artifact_store import ArtifactStore
    from dp_resources.gpu import gpu_from_env

    ref = catalog.lookup(video)
    if ref is None:
        return fail(f"video {video} is unknown (never processed)")
    try:
        profile = load_profile(profile_name, runtime=gpu_from_env().runtime())
    except (ProfileError, RuntimeError, ValueError) as exc:
        return fail(str(exc))
    index, store = ArtifactIndex(database_url=catalog.database_url), ArtifactStore()
    print(f"video {video} · {ref.uri}")
    if not Path(ref.uri).is_file():
        print(f"the video file {ref.uri} is gone: a request for it would fail")
        return 0
    now = utcnow()
    verdict = request_verdict(store, index, profile, ref, catalog.inputs(ref), now)
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
