"""The instant CLI: a cached ``dp process`` and ``dp status`` from a shell, next to ``python -c pass``.

Runs the real console script in fresh processes (start-up included, as a user pays it) against a
DP_HOME where the video was processed once and the catalog holds ``--catalog`` more videos.
Goals (issue "Identity"): a cached request and ``dp status ID`` at most 0.8 s, ``dp status``
listing at most 1 s with 100k catalog rows.

Usage: python bench/bench_cli.py [--repeat 7] [--catalog 100000] [--profile skeleton]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "park_0p55s.mp4"
GOALS = {"dp process (cached)": 0.8, "dp status ID": 0.8, "dp status (list)": 1.0, "dp status --platform-id (list)": 1.0}


def fill_catalog(database_url: str, count: int) -> None:
    from dp_resources.database import engine_for, videos

    now = dt.datetime.now(dt.timezone.utc)
    rows = [
        dict(platform_id=f"p{i % 7}", video_id=f"v{i:07d}", uri=f"/data/v{i:07d}.mp4", registered_at=now - dt.timedelta(seconds=i))
        for i in range(count)
    ]
    with engine_for(database_url).begin() as conn:
        for start in range(0, count, 10_000):
            conn.execute(sa.insert(videos), rows[start : start + 10_000])


def timed(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
        out = result.stdout
    return statistics.median(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--catalog", type=int, default=100_000, help="extra catalog rows")
    parser.add_argument("--profile", default="skeleton")
    args = parser.parse_args()
    dp = str(Path(sys.executable).with_name("dp"))
    with tempfile.TemporaryDirectory(prefix="bench_cli_") as home:
        env = {**os.environ, "DP_HOME": home, "PYTHONWARNINGS": "ignore"}
        env.pop("DAGSTER_HOME", None)
        subprocess.run([dp, "process", str(CLIP), "--video-id", "park", "--profile", args.profile], env=env, check=True, capture_output=True)
        fill_catalog(f"sqlite:///{Path(home) / 'dataprocessor.db'}", args.catalog)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "dp process (cached)": [dp, "process", str(CLIP), "--video-id", "park", "--profile", args.profile],
            "dp status ID": [dp, "status", "park", "--profile", args.profile],
            "dp status (list)": [dp, "status"],
            "dp status --platform-id (list)": [dp, "status", "--platform-id", "p3", "--limit", "50"],
        }
        print(f"catalog: {args.catalog + 1} videos  profile: {args.profile}  repeats: {args.repeat} (medians, fresh processes)")
        for label, command in commands.items():
            seconds, out = timed(command, env, args.repeat)
            if label == "dp process (cached)":
                assert "served from cache" in out.splitlines()[0], out
            goal = GOALS.get(label)
            verdict = "" if goal is None else f"   goal <= {goal:.1f} s: {'met' if seconds <= goal else 'NOT met'}"
            print(f"{label:<32} {seconds:6.3f} s{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
