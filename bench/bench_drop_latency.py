"""The bucket sensor's latency under the real ``dagster-daemon``: from a file copied into the bucket
to its run created, for each ``DP_BUCKET_SETTLE_S`` given, side by side in one run.

Skeleton profile, one warm worker, the sensor asked to tick every second (Dagster's sensor
daemon evaluates it at most every 5 s). Each drop waits a random 0-5 s first, so drops land at
every phase of the sensor's cycle, and the next drop waits for the previous run to end. A large
settling time (3600) is the rule before settled files: every file waits for a second tick.

Usage: python bench/bench_drop_latency.py [--drops 8] [SETTLE_S ...]   (default: 3600 2)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_backlog import start_daemon  # noqa: E402  (the same daemon start)
from dp_assets import run_tags  # noqa: E402
from dp_resources.settings import install_instance_yaml  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
CLIP = PROJECT.parent / "shared" / "media" / "park_0p55s.mp4"


def measure(settle_s: str, drops: int, tmp: Path) -> list[float]:
    home, bucket, dagster_home = tmp / "home", tmp / "bucket", tmp / "home" / "dagster"
    (bucket / "bench").mkdir(parents=True)
    install_instance_yaml(PROJECT / "dagster.yaml", dagster_home)
    env = {
        **os.environ,
        "DP_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "DP_PROFILE": "skeleton",
        "DP_WORKERS": "1",
        "DP_BUCKET_URL": str(bucket),
        "DP_BUCKET_SENSOR_INTERVAL_S": "1",
        "DP_BUCKET_SETTLE_S": settle_s,
        "PYTHONWARNINGS": "ignore",
    }
    log = open(tmp / "daemon.log", "wb")
    daemon = start_daemon(env, log, dagster_home, workers=1)
    try:
        deadline = time.monotonic() + 300
        time.sleep(8)  # the sensor's first ticks, on an empty bucket
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        latencies = []
        for i in range(drops):
            time.sleep(random.uniform(0, 5))
            dropped = time.time()
            shutil.copyfile(CLIP, bucket / "bench" / f"v{i}.mp4")
            while True:
                runs = [r for r in instance.get_run_records() if r.dagster_run.tags.get(run_tags.VIDEO_ID) == f"v{i}"]
                if runs:
                    latencies.append(runs[0].create_timestamp.timestamp() - dropped)
                    break
                if time.monotonic() > deadline + 60 * (i + 1):
                    sys.exit(f"no run for v{i}; see {tmp / 'daemon.log'}")
                time.sleep(0.1)
            while not all(r.dagster_run.is_finished for r in instance.get_run_records()):
                time.sleep(0.2)
        instance.dispose()
        return latencies
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settle", nargs="*", default=["3600", "2"], help="DP_BUCKET_SETTLE_S values to compare")
    parser.add_argument("--drops", type=int, default=8)
    args = parser.parse_args()
    for settle_s in args.settle:
        random.seed(1)  # the same waits for every setting
        with tempfile.TemporaryDirectory(prefix="bench_drop_") as tmp:
            latencies = measure(settle_s, args.drops, Path(tmp))
        print(
            f"DP_BUCKET_SETTLE_S={settle_s}: drop -> run created over {args.drops} drops: median {statistics.median(latencies):.1f} s, "
            f"{min(latencies):.1f}-{max(latencies):.1f} ({' '.join(f'{x:.1f}' for x in latencies)})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
