"""Peak memory of one video through a profile: the whole process and each component.

Two ways, each in a fresh process so one measurement cannot inherit another's heap:

- ``direct``: the profile's components called in order (``dp_assets.direct``), each through
  ``run_component``, which samples RSS; prints every component's peak RSS and its growth
  (``peak_rss_delta_mb``, the figure the manifest records) and the process's ``ru_maxrss``.
- ``cli``: ``dp process VIDEO --profile P`` under ``/usr/bin/time -v`` with a fresh ``DP_HOME``;
  prints the maximum RSS of the process tree and the per-component growth from the run's
  manifest.

Videos are synthesized once (``tests/faults/corpus.py``) into ``--media-dir`` and reused, so
"before" and "after" runs see the same bytes:

- ``720p-10min``: 10 min, 1280x720, 25 fps H.264 (x264 ultrafast) with a sliding texture, and an
  8 kHz tone;
- ``1h-lowres``: 1 h, 320x180, 10 fps H.264, and an 8 kHz tone.

Usage: python bench/bench_memory.py {720p-10min,1h-lowres,PATH} [--profile skeleton] [--mode direct cli]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
CASES = {
    "720p-10min": dict(duration_s=600.0, fps=25.0, size=(1280, 720), codec="libx264", textured=True, amplitude=0.25),
    "1h-lowres": dict(duration_s=3600.0, fps=10.0, size=(320, 180), codec="libx264", textured=True, amplitude=0.25),
}


def synthesize(case: str, media_dir: Path) -> Path:
    sys.path.insert(0, str(PROJECT))
    from tests.faults.corpus import long_video

    media_dir.mkdir(parents=True, exist_ok=True)
    path = media_dir / f"{case}.mkv"
    if not path.exists():
        start = time.perf_counter()
        partial = long_video(media_dir, name=f"{case}.partial.mkv", **CASES[case]).path
        partial.rename(path)
        print(f"synthesized {path} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return path


def run_direct(video: Path, profile_name: str) -> dict:
    """In this (fresh) process: the profile's components in order; figures as a dict."""
    import resource

    from dp_assets.direct import run_profile_direct
    from dp_assets.profiles import load_profile

    profile = load_profile(profile_name)
    with tempfile.TemporaryDirectory(prefix="dp-bench-") as tmp:
        results = run_profile_direct(profile, video, Path(tmp))
    return {
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "components": {
            name: {
                "status": result.status.value,
                "reason": result.empty_reason or result.error,
                "wall_s": metrics.wall_s,
                "peak_rss_mb": metrics.peak_rss_mb,
                "peak_rss_delta_mb": metrics.peak_rss_delta_mb,
                "summary": {k: result.summary.get(k) for k in ("stored_frames", "decoded_frames", "frame_count", "duration_s")},
            }
            for name, (result, metrics) in results.items()
        },
    }


def run_cli(video: Path, profile_name: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="dp-bench-home-") as home:
        env = {**os.environ, "DP_HOME": home, "PYTHONPATH": str(PROJECT)}
        env.pop("DAGSTER_HOME", None)
        cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "dp_assets.cli", "process", str(video)]
        cmd += ["--video-id", "bench", "--profile", profile_name]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        maxrss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        manifests = list(Path(home).glob("artifacts/*/*/runs/*/manifest.json"))
        components = {}
        if manifests:
            for entry in json.loads(manifests[0].read_text())["components"]:
                components[entry["component"]] = {
                    "status": entry["status"],
                    "reason": entry.get("empty_reason") or entry.get("error"),
                    "wall_s": entry.get("wall_seconds"),
                    "peak_rss_mb": entry.get("peak_rss_mb"),
                    "peak_rss_delta_mb": entry.get("peak_rss_delta_mb"),
                }
        return {
            "exit_code": proc.returncode,
            "wall_s": wall,
            "maxrss_mb": int(maxrss.group(1)) / 1024 if maxrss else None,
            "components": components,
            "stderr_tail": proc.stderr.strip().splitlines()[-1:] if proc.returncode else [],
        }


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def report(label: str, figures: dict) -> None:
    print(f"{label}: peak RSS {_fmt(figures['maxrss_mb'], '.0f')} MB" + (f", exit {figures['exit_code']}" if "exit_code" in figures else ""))
    for name, c in figures["components"].items():
        print(
            f"  {name:<16} {c['status']:<6} {_fmt(c['wall_s'], '8.2f')} s  peak {_fmt(c['peak_rss_mb'], '6.0f')} MB"
            f"  growth {_fmt(c['peak_rss_delta_mb'], '6.0f')} MB  {c.get('reason') or ''}"
        )
    for line in figures.get("stderr_tail", []):
        print(f"  {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", help=f"one of {', '.join(CASES)} (synthesized) or a path")
    parser.add_argument("--profile", default="skeleton")
    parser.add_argument("--mode", nargs="+", choices=("direct", "cli"), default=["direct", "cli"])
    parser.add_argument("--media-dir", default=os.path.join(tempfile.gettempdir(), "dp-bench-media"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    video = synthesize(args.video, Path(args.media_dir)) if args.video in CASES else Path(args.video)
    if args.child:
        print(json.dumps(run_direct(video, args.profile)))
        return 0
    print(f"video: {video} ({video.stat().st_size / 2**20:.0f} MiB)  profile: {args.profile}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "direct" in args.mode:
        cmd = [sys.executable, __file__, str(video), "--profile", args.profile, "--child"]
        env = {**os.environ, "PYTHONPATH": str(PROJECT)}
        proc = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, check=True)
        report("direct (components in order, one process)", json.loads(proc.stdout.strip().splitlines()[-1]))
    if "cli" in args.mode:
        report(f"dp process --profile {args.profile}", run_cli(video, args.profile))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
