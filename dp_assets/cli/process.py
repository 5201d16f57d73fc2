"""``dp process PATH...``: videos through every component of a profile, or served from cache.

PATH is a file, a folder (searched recursively for media files) or ``@list.txt`` (one path per
line, relative to the list's folder; ``#`` starts a comment). One process computes them all, so
every model is loaded once; videos not yet cached are computed in batch runs. One video prints its
component table; several print one line each as they finish, then a summary. The cached path
decides from the artifact index before Dagster or any model library is imported
(``dp_assets.serving``).

When ``dp serve`` runs on the same DP_HOME (and with the same settings), the videos that are not
cached are computed there, by a process whose models are loaded and warm (``dp_assets.resident``);
``--in-process`` (or ``--verbose``) computes them here.

Exit codes: 0 every video succeeded, 1 some failed (each listed with its reason), 2 bad input
(listed; the good inputs still run), 130 stopped by Ctrl-C (after the component it was computing).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dp_assets.cli.output import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED, fail, format_table, shorten
from dp_resources.ids import InvalidIdError, VideoKey, id_from_filename

EXIT_INTERRUPTED = 130
# What a folder is searched for: the containers FFmpeg reads for video, and audio-only files
# (their visual components say no_video_track). Explicit file paths are taken whatever their name.
MEDIA_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".3gp", ".mkv", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".ogv"}
    | {".flac", ".wav", ".mp3", ".m4a", ".aac", ".ogg", ".opus"}
)


def add_parser(sub) -> None:
    process = sub.add_parser("process", help="process video files, folders or @lists through every component of a profile")
    process.add_argument("paths", nargs="+", metavar="PATH", help="video or audio file, folder (recursive), or @list.txt")
    process.add_argument("--video-id", help="the video's id on its platform (one PATH only; default: derived from the file name)")
    process.add_argument("--platform-id", default="local", help="platform the videos come from (default: local)")
    process.add_argument("--profile", default=argparse.SUPPRESS, help="profile name in profiles/ or a YAML path")
    process.add_argument("--verbose", action="store_true", help="also print Dagster's event log (computes in this process)")
    process.add_argument("--in-process", action="store_true", help="compute in this process even when dp serve runs")
    process.set_defaults(func=run)


@dataclass
class Inputs:
    videos: list[tuple[Path, VideoKey]] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)  # (what was given, why it cannot run)


def _list_file(arg: str, inputs: Inputs) -> list[str]:
    path = Path(arg[1:]).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        inputs.bad.append((arg, f"cannot read the list: {exc.strerror if isinstance(exc, OSError) else exc}"))
        return []
    entries = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            entry = Path(line).expanduser()
            entries.append(str(entry if entry.is_absolute() else path.parent / entry))
    return entries


def _files(arg: str, inputs: Inputs) -> list[Path]:
    path = Path(arg).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS and not p.name.startswith("."))
        if not found:
            inputs.bad.append((arg, f"folder holds no media file ({', '.join(sorted(MEDIA_EXTENSIONS))})"))
        return found
    if not path.exists():
        inputs.bad.append((arg, "no such file"))
    elif not path.is_file():
        inputs.bad.append((arg, "not a regular file"))
    else:
        return [path]
    return []


def expand(paths: list[str], platform_id: str, video_id: str | None) -> Inputs:
    """The videos named by ``paths`` (files, folders, @lists) and the inputs that cannot run."""
    inputs = Inputs()
    files: list[Path] = []
    for arg in paths:
        for item in _list_file(arg, inputs) if arg.startswith("@") else [arg]:
            files += _files(item, inputs)
    if video_id is not None and len(files) + len(inputs.bad) > 1:
        inputs.bad.append(("--video-id", "names one video: give one PATH, or let the ids come from the file names"))
        return inputs
    seen_files: set[Path] = set()
    owner: dict[VideoKey, Path] = {}
    for path in files:
        resolved = path.resolve()
        if resolved in seen_files:
            continue  # named twice (a folder and a file in it): once is enough
        seen_files.add(resolved)
        try:
            video = VideoKey(platform_id, video_id or id_from_filename(path.stem))
        except InvalidIdError as exc:
            inputs.bad.append((str(path), str(exc)))
            continue
        if video in owner:
            inputs.bad.append((str(path), f"its id {video} is already taken by {owner[video]} in this batch; give it its own --video-id"))
            continue
        owner[video] = path
        inputs.videos.append((path, video))
    return inputs


class _Lines:
    """One line per finished video (and a progress bar on a terminal)."""

    def __init__(self, total: int, bar: bool):
        from dp_assets.progress import VideoProgress

        outer = self

        class Progress(VideoProgress):
            def video_started(self, video, components):
                outer.started(video, components)

            def component_progress(self, video, component, done, total, unit):
                outer.within(component, done, total, unit)

            def component_finished(self, video, component, status):
                outer.component(video, component)

            def video_finished(self, video, manifest, manifest_path, evicted=()):
                outer.finished(video, manifest, evicted)

        self.progress = Progress()
        self.start = time.perf_counter()
        self.results: dict[VideoKey, object] = {}
        self.bar = self.component_bar = None
        if bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="video", desc="videos", file=sys.stderr, dynamic_ncols=True)

    def started(self, video: VideoKey, components: int) -> None:
        if self.bar is not None:
            from tqdm import tqdm

            self.component_bar = tqdm(total=components, unit="component", desc=str(video), file=sys.stderr, leave=False, position=1)

    def within(self, component: str, done: int, total: int | None, unit: str) -> None:
        if self.component_bar is not None:
            self.component_bar.set_postfix_str(f"{component}: {done}{f'/{total}' if total else ''} {unit}")

    def component(self, video: VideoKey, component: str) -> None:
        if self.component_bar is not None:
            self.component_bar.set_postfix_str(component, refresh=False)
            self.component_bar.update()

    def finished(self, video: VideoKey, manifest, evicted) -> None:
        if self.component_bar is not None:
            self.component_bar.close()
            self.component_bar = None
        self.results[video] = manifest
        line = describe(video, manifest)
        for other in evicted:
            line += f"\n  evicted least recently used video {other} (cache limit)"
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
            self.bar.update()
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _state(manifest) -> str:
    if manifest.run_status != "ok":
        return "FAILED"
    if all(c.cache_hit for c in manifest.components):
        return "cached"
    return "partial" if manifest.partial_failures else "ok"


def describe(video: VideoKey, manifest) -> str:
    state = _state(manifest)
    seconds = sum(c.wall_seconds or 0 for c in manifest.components)
    computed = sum(1 for c in manifest.components if not c.cache_hit and c.status != "not_executed")
    if state == "FAILED":
        detail = shorten(manifest.run_error or "run failed", 100)
    elif state == "cached":
        detail = f"served from cache (run {manifest.run_id[:8]})"
    else:
        reused = sum(1 for c in manifest.components if c.reused_from is not None)
        detail = f"{computed - reused} computed, {reused} reused, {len(manifest.components) - computed} cached · {seconds:.1f} s"
        if manifest.partial_failures:
            detail += f" · optional failed: {', '.join(manifest.partial_failures)}"
    empty: dict[str, list[str]] = {}
    for c in manifest.components:
        if c.status == "empty":
            empty.setdefault(c.empty_reason or "no reason", []).append(c.component)
    if empty and state != "FAILED":
        detail += " · empty: " + "; ".join(f"{reason} ({', '.join(names)})" for reason, names in empty.items())
    return f"{state:<7} {str(video):<40} {detail}"


def _summary(results: dict, bad: list[tuple[str, str]], wall: float, interrupted: str | None, server: str | None = None) -> str:
    states = [_state(m) for m in results.values()]
    counts = {name: states.count(name) for name in ("ok", "partial", "FAILED", "cached")}
    rate = len(results) * 3600 / wall if wall > 0 else 0
    lines = [
        f"{len(results)} videos: {counts['ok']} ok, {counts['partial']} partial, {counts['FAILED']} failed, {counts['cached']} cached"
        f" · {wall:.1f} s · {rate:.0f} videos/hour" + (f" · computed by {server}" if server else "")
    ]
    failed = [(video, m.run_error) for video, m in results.items() if _state(m) == "FAILED"]
    if failed:
        lines.append("failed:")
        lines += [f"  {video}: {reason}" for video, reason in failed]
    if bad:
        lines.append("bad input (not run):")
        lines += [f"  {what}: {why}" for what, why in bad]
    if interrupted:
        lines.append(f"stopped: {interrupted}; the videos listed above finished, the others did not run")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    inputs = expand(args.paths, args.platform_id, args.video_id)
    try:
        VideoKey(args.platform_id, "x")
    except InvalidIdError as exc:
        return fail(str(exc))
    if not inputs.videos:
        for what, why in inputs.bad:
            print(f"dp: error: {what}: {why}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from dp_assets.profiles import ProfileError, load_profile
    from dp_resources.gpu import gpu_from_env

    try:
        profile = load_profile(args.profile, runtime=gpu_from_env().runtime())
    except (ProfileError, RuntimeError, ValueError) as exc:
        return fail(str(exc))
    single = len(inputs.videos) == 1 and not inputs.bad
    if single:
        return _one(inputs.videos[0], profile, args)
    return _many(inputs, profile, args)


def _stores():
    from dp_resources.artifact_index import ArtifactIndex
    from dp_resources.artifact_store import ArtifactStore
    from dp_resources.video_catalog import VideoCatalog

    catalog = VideoCatalog()
    return ArtifactStore(), catalog, ArtifactIndex(database_url=catalog.database_url)


@dataclass
class Computed:
    outcomes: list
    server: str | None = None  # the dp serve that computed them ("dp serve (pid N)"), None: this process


def _compute(requests: list[tuple[Path, VideoKey]], profile, args, stores, progress) -> Computed:
    """The outcomes of ``requests``: from ``dp serve`` when it runs and accepts them, else computed
    here. Ctrl-C stops after the current component either way (:data:`STOP`)."""
    from dp_assets.progress import stop_after_current_component

    if not (args.in_process or args.verbose):
        from dp_assets.resident.client import Refused, ServerError, connect
        from dp_resources.settings import current_settings

        client = connect(current_settings())
        if client is not None:

            def waiting(ahead: int) -> None:
                print(f"dp: dp serve (pid {client.pid}) is busy with {ahead} other request(s); waiting", file=sys.stderr, flush=True)

            try:
                with stop_after_current_component():
                    result = client.process(requests, args.profile, progress, waiting=waiting)
            except ServerError as exc:
                raise SystemExit(fail(str(exc), EXIT_RUN_FAILED))
            except KeyboardInterrupt:  # the second Ctrl-C: the connection closes, which stops the server's request too
                raise SystemExit(fail(f"stopped at once; dp serve (pid {client.pid}) ends the run after its current component", EXIT_INTERRUPTED))
            if not isinstance(result, Refused):
                return Computed(result, f"dp serve (pid {client.pid})")
            print(f"dp: {result.reason}; computing in this process", file=sys.stderr, flush=True)

    from dp_assets.runner import Processor

    store, catalog, index = stores
    # The summary says what failed and why; Dagster's own event log stays in the run (dp dev)
    # unless asked for here with --verbose.
    processor = Processor(profile, store=store, catalog=catalog, index=index, progress=progress, dagster_log_level="DEBUG" if args.verbose else "CRITICAL")
    with stop_after_current_component():
        return Computed(processor.process(requests))


def _one(request: tuple[Path, VideoKey], profile, args) -> int:
    from dp_assets.progress import NO_PROGRESS, STOP
    from dp_assets.serving import serve_cached

    path, video = request
    stores = store, catalog, index = _stores()
    with index.video_lock(video):
        outcome = serve_cached(path, video, profile, store, catalog, index)
    server = None
    if outcome is None:
        # computed under the video's lock, which the processor takes again, with the cache
        # checked again under it: a request that computed this video meanwhile is reused
        computed = _compute([request], profile, args, stores, NO_PROGRESS)
        if not computed.outcomes:
            return fail(f"{STOP.reason}: {video} did not run", EXIT_INTERRUPTED)
        outcome, server = computed.outcomes[0], computed.server
    manifest = outcome.manifest
    origin = f"served from cache (run {outcome.run_id})" if outcome.served_from_cache else f"run {outcome.run_id}"
    if server is not None:
        origin += f" · computed by {server}"
    print(f"video {video} · profile {manifest.profile} · {origin}")
    print(format_table(manifest))
    if manifest.partial_failures:
        print(f"PARTIAL FAILURE: optional component(s) failed: {', '.join(manifest.partial_failures)}")
    for evicted in outcome.evicted:
        print(f"evicted least recently used video {evicted} (cache limit)")
    print(f"manifest: {outcome.manifest_path}" if outcome.manifest_path.is_file() else "manifest: not written (see the error below)")
    if STOP.requested:
        return fail(f"{STOP.reason}: {manifest.run_error}", EXIT_INTERRUPTED)
    if not outcome.ok:
        return fail(manifest.run_error or "run failed", EXIT_RUN_FAILED)
    return EXIT_OK


def _many(inputs: Inputs, profile, args) -> int:
    from dp_assets.progress import STOP

    stores = _stores()
    lines = _Lines(len(inputs.videos), bar=sys.stdout.isatty())
    print(f"{len(inputs.videos)} videos · profile {profile.name}" + (f" · {len(inputs.bad)} bad input(s) left out" if inputs.bad else ""))
    try:
        computed = _compute(inputs.videos, profile, args, stores, lines.progress)
    finally:
        lines.close()
    print(_summary(lines.results, inputs.bad, time.perf_counter() - lines.start, STOP.reason, computed.server))
    if STOP.requested:
        return EXIT_INTERRUPTED
    if inputs.bad:
        return EXIT_BAD_INPUT
    if any(_state(m) == "FAILED" for m in lines.results.values()):
        return EXIT_RUN_FAILED
    return EXIT_OK
