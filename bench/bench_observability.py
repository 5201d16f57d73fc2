"""Overhead of per-component observability (memory sampling, timings) on one clip.

Runs the profile's components directly, alternately with and without metric collection, and
prints the wall-time ratio (goal: under 2 % overhead).

Usage: python bench/bench_observability.py [VIDEO] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dp_assets.direct import run_profile_direct
from dp_assets.profiles import load_profile

DEFAULT_CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "bbb_intro_vp8_vorbis.webm"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("video", nargs="?", default=str(DEFAULT_CLIP))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", default="baseline")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    path = Path(args.video)
    timings: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmpdir:
        run_profile_direct(profile, path, Path(tmpdir) / "warmup")
        for i in range(args.repeat):
            for observe in (False, True) if i % 2 else (True, False):
                start = time.perf_counter()
                run_profile_direct(profile, path, Path(tmpdir) / f"{i}-{observe}", observe=observe)
                timings[observe].append(time.perf_counter() - start)
    off, on = statistics.median(timings[False]), statistics.median(timings[True])
    print(f"clip: {path.name}  repeats: {args.repeat}  (medians)")
    print(f"without metric collection  {off:7.3f} s")
    print(f"with metric collection     {on:7.3f} s   overhead {100 * (on / off - 1):+.1f} %  (goal < 2 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
