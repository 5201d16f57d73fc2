"""Bucket sensor throughput: ticks over 10,000 new objects in a local bucket, SQLite and PostgreSQL.

Every object is a hard link of one real clip, so each passes the real checks (extension, id,
container signature). Ticks run back to back through ``evaluate_tick`` on a real instance, the
way the code server runs them; the daemon would space them by the sensor interval. Printed per
backend: the observation tick, the requesting ticks (count, max, total), partitions registered
per second, and an idle tick once everything is decided (the steady-state cost of each tick).

The catalog registers a tick's videos in one transaction (``VideoCatalog.register_many``).

Usage: python bench/bench_sensor.py [--objects 10000] [--cap 1000] [--backend sqlite postgres]
       [--postgres ADMIN_URL]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from dp_assets.assembly import build_definitions
from dp_assets.ingest.sensor import BUCKET_SENSOR
from dp_assets.partitions import VIDEO_PARTITIONS_NAME
from dp_assets.profiles import load_profile
from dp_resources import ArtifactStore, VideoCatalog
from dp_resources.database import engine_for
from dp_resources.video_bucket import VideoBucket

CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "park_0p55s.mp4"
GOAL_SECONDS = 30.0
DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def fill_bucket(root: Path, count: int) -> None:
    folder = root / "bench"
    folder.mkdir(parents=True)
    first = folder / "v000000.mp4"
    shutil.copyfile(CLIP, first)
    for i in range(1, count):
        os.link(first, folder / f"v{i:06d}.mp4")


@contextlib.contextmanager
def backend(name: str, tmp: Path, admin_url: str):
    """(instance, DataProcessor database URL) on SQLite files or a throwaway PostgreSQL database."""
    if name == "sqlite":
        (tmp / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp / "dagster")) as instance:
            yield instance, f"sqlite:///{tmp / 'dp.db'}"
        return
    db = f"dp_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{db}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{db}"
    try:
        with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as instance:
            yield instance, url
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.dispose()


def run(name: str, count: int, cap: int, admin_url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_sensor_") as tmp_name:
        tmp = Path(tmp_name)
        fill_bucket(tmp / "bucket", count)
        with backend(name, tmp, admin_url) as (instance, database_url):
            # Fresh uploads: every object is observed by one tick and decided by later ones (a
            # settled object, DP_BUCKET_SETTLE_S, skips the observation tick).
            bucket = VideoBucket(url=str(tmp / "bucket"), cache_dir=str(tmp / "cache"), max_objects_per_tick=cap, settle_s=3600.0)
            catalog = VideoCatalog(database_url=database_url)
            store = ArtifactStore(root=str(tmp / "artifacts"), frames_root=str(tmp / "frames"))
            defs = build_definitions(load_profile("skeleton"), store=store, catalog=catalog, bucket=bucket)
            sensor = defs.get_sensor_def(BUCKET_SENSOR)
            cursor = None

            def tick():
                nonlocal cursor
                start = time.perf_counter()
                with dg.build_sensor_context(
                    instance_ref=instance.get_ref(), cursor=cursor, definitions=defs, resources={"bucket": bucket, "catalog": catalog}
                ) as context:
                    data = sensor.evaluate_tick(context)
                cursor = data.cursor
                return time.perf_counter() - start, len(data.run_requests)

            observe, requested = tick()
            assert requested == 0
            times, total = [], 0
            while total < count:
                seconds, requested = tick()
                assert requested, "a tick requested nothing before every object was decided"
                times.append(seconds)
                total += requested
            idle, requested = tick()
            assert requested == 0
            registered = len(instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME))
            assert registered == count, (registered, count)
            spent = sum(times)
            print(
                f"[{name:8}] {count} objects, cap {cap}/tick: observation tick {observe:.2f} s; "
                f"{len(times)} requesting ticks, max {max(times):.2f} s, total {spent:.2f} s -> "
                f"{count / spent:.0f} partitions registered/s ({'within' if spent <= GOAL_SECONDS else 'OVER'} the {GOAL_SECONDS:.0f} s goal); "
                f"idle tick with {count} decided objects {idle:.2f} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--cap", type=int, default=1000, help="max_objects_per_tick")
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    parser.add_argument("--postgres", default=DEFAULT_ADMIN_URL, help="admin URL of the PostgreSQL server")
    args = parser.parse_args()
    if not CLIP.is_file():
        sys.exit(f"missing {CLIP}: the benchmark needs ../shared/media")
    for name in args.backend:
        run(name, args.objects, args.cap, args.postgres)


if __name__ == "__main__":
    main()
