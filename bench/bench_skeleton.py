"""Skeleton benchmarks, measured side by side in one run on one shared clip.

1. ``frames`` component time / a plain PyAV decode of the same file (goal <= 1.2).
2. Whole Dagster run (``dp process`` path, SQLite instance) / the sum of the same component
   functions called directly (goal <= 1.10), for each execution granularity (steps per video).

Usage: python bench/bench_skeleton.py [VIDEO] [--repeat N]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import dagster as dg

from dp_assets.contract import ComponentContext
from dp_assets.direct import run_profile_direct
from dp_assets.execution import run_component
from dp_assets.factory import build_component_assets
from dp_assets.profiles import load_profile
from dp_assets.runner import process_video
from dp_resources.ids import VideoKey
from dp_resources import ArtifactStore, VideoCatalog

DEFAULT_CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "bbb_intro_vp8_vorbis.webm"


def plain_decode(path: Path) -> float:
    """Every frame decoded (threaded, as ``frames`` decodes), nothing converted."""
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - start


def decode_and_convert(path: Path, frames_dir: Path) -> float:
    """The least work ``frames`` can do: every frame decoded as above, and the frames it stored
    (read from its index in ``frames_dir``) scaled and converted by swscale as it converts them,
    one after another on this thread, nothing written. ``frames`` over this is its own overhead;
    this over ``plain_decode`` is the cost of the tiers the profile asks for. (Rotation is left
    out: the benchmark clips are upright.)"""
    from av.video.reformatter import VideoReformatter

    from dp_assets.media.frames_store import INDEX_FILE
    from dp_core.contract import parquet

    wanted: dict[float, list[tuple[int, int]]] = {}
    for row in parquet().read_table(frames_dir / INDEX_FILE).to_pylist():
        wanted.setdefault(round(row["pts_s"], 6), []).append((row["width"], row["height"]))
    reformatters: dict[tuple[int, int], VideoReformatter] = {}
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time is None:  # frames dates these itself; the benchmark clips have times
                continue
            for width, height in wanted.get(round(float(frame.time), 6), ()):
                reformatter = reformatters.setdefault((width, height), VideoReformatter())
                reformatter.reformat(frame, width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
    return time.perf_counter() - start


def frames_component(profile, path: Path, tmp: Path) -> float:
    probe = profile["video_probe"]
    frames = profile["frames"]
    ctx = ComponentContext(path, "bench", "bench", tmp / "w", tmp / "frames", profile.sampling, logging.getLogger("bench"))
    probe_result, _ = run_component(probe.spec, ctx, probe.config, {})
    result, metrics = run_component(frames.spec, ctx, frames.config, {"video_probe": probe_result})
    assert result.status.value == "ok", result.error
    return metrics.wall_s


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("video", nargs="?", default=str(DEFAULT_CLIP))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", default="baseline")
    parser.add_argument("--granularity", nargs="+", default=["stage", "component", "video"])
    args = parser.parse_args()
    path = Path(args.video)
    profile = load_profile(args.profile)

    profiles = {g: dataclasses.replace(profile, granularity=g) for g in args.granularity}
    decode, frames, direct = [], [], []
    run: dict[str, list[float]] = {g: [] for g in profiles}
    with tempfile.TemporaryDirectory() as tmpdir, dg.instance_for_test() as instance:
        tmp = Path(tmpdir)
        store = ArtifactStore(root=str(tmp / "artifacts"), frames_root=str(tmp / "frames"))
        catalog = VideoCatalog(database_url=f"sqlite:///{tmp / 'dp.db'}")
        for g, p in profiles.items():  # imports, caches
            process_video(path, VideoKey("bench", f"warmup-{g}"), p, instance=instance, store=store, catalog=catalog)
        for i in range(args.repeat):
            # Interleaved so drift on the machine hits every measurement alike.
            decode.append(plain_decode(path))
            frames.append(frames_component(profile, path, tmp / f"f{i}"))
            results = run_profile_direct(profile, path, tmp / f"d{i}")
            direct.append(sum(metrics.wall_s for _, metrics in results.values()))
            for g, p in profiles.items():
                start = time.perf_counter()
                outcome = process_video(path, VideoKey("bench", f"run{i}-{g}"), p, instance=instance, store=store, catalog=catalog)
                run[g].append(time.perf_counter() - start)
                assert outcome.ok and not outcome.served_from_cache, outcome.manifest.run_error

    med = statistics.median
    print(f"clip: {path.name}  repeats: {args.repeat}  (medians)")
    print(f"plain PyAV decode          {med(decode):7.3f} s")
    print(f"frames component           {med(frames):7.3f} s   ratio {med(frames) / med(decode):.2f}  (goal <= 1.2)")
    print(f"components called directly {med(direct):7.3f} s")
    for g, times in run.items():
        steps = len(build_component_assets(profiles[g]))
        print(
            f"dagster run, {g:<9} ({steps} steps) {med(times):7.3f} s   ratio {med(times) / med(direct):.2f}  (goal <= 1.10)"
            f"   fixed cost {med(times) - med(direct):.3f} s (goal <= 0.5)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
