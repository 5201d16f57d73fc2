"""Artifact-index benchmarks (docs/design.md §5), each measured side by side in one run.

1. A repeated request of a cached video, end to end (``process_video``), vs computing it.
2. Index lookup latency (p50, p99) with 10k and 100k videos indexed.
3. Eviction of 1,000 videos (artifacts on disk + index rows).

Usage: python bench/bench_cache.py [--postgres ADMIN_URL] [--sizes 10000 100000] [--evict 1000]
(SQLite in a temporary folder by default; with --postgres a throwaway database is created on
that server and dropped afterwards.)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from dp_assets.profiles import load_profile
from dp_assets.runner import process_video
from dp_resources.ids import VideoKey
from dp_resources import ArtifactStore, VideoCatalog
from dp_resources.artifact_index import ArtifactIndex, IndexKey
from dp_resources.database import artifact_runs, engine_for, video_usage

CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "bbb_intro_vp8_vorbis.webm"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def bench_repeat(tmp: Path, database_url: str) -> None:
    profile = load_profile("baseline")
    store = ArtifactStore(root=str(tmp / "artifacts"), frames_root=str(tmp / "frames"))
    catalog = VideoCatalog(database_url=database_url)
    index = ArtifactIndex(database_url=database_url)
    with dg.instance_for_test() as instance:
        kwargs = dict(instance=instance, store=store, catalog=catalog, index=index)
        process_video(CLIP, VideoKey("bench", "warmup"), profile, **kwargs)
        computed, cached = [], []
        for i in range(3):
            start = time.perf_counter()
            first = process_video(CLIP, VideoKey("bench", f"video{i}"), profile, **kwargs)
            computed.append(time.perf_counter() - start)
            start = time.perf_counter()
            again = process_video(CLIP, VideoKey("bench", f"video{i}"), profile, **kwargs)
            cached.append(time.perf_counter() - start)
            assert first.ok and again.served_from_cache
    c, h = statistics.median(computed), statistics.median(cached)
    print(f"[repeat] {CLIP.name}: computed {c:.3f} s, served from cache {h * 1000:.1f} ms, {c / h:.0f}x faster (goal <= 0.5 s, >= 50x)")


def fill(index: ArtifactIndex, count: int, start: int) -> None:
    rows = [
        dict(
            platform_id="bench",
            video_id=f"v{i:07d}",
            config_hash="c" * 64,
            sampling_policy_version="1",
            dataprocessor_version="0.1.0",
            latest_success_run_id=f"run-{i}",
            finished_at=T0,
            video_content_sha256="0" * 64,
            profile="baseline",
            artifacts={"features": "x"},
        )
        for i in range(start, start + count)
    ]
    usage = [dict(platform_id="bench", video_id=r["video_id"], last_used_at=T0 + dt.timedelta(seconds=i)) for i, r in enumerate(rows, start)]
    with index.engine.begin() as conn:
        for chunk in range(0, count, 5000):
            conn.execute(sa.insert(artifact_runs), rows[chunk : chunk + 5000])
            conn.execute(sa.insert(video_usage), usage[chunk : chunk + 5000])


def bench_lookup(database_url: str, sizes: list[int]) -> None:
    index = ArtifactIndex(database_url=database_url)
    filled = 0
    for size in sizes:
        fill(index, size - filled, filled)
        filled = size
        latencies = []
        rng = random.Random(7)
        for i in range(2200):
            key = IndexKey("bench", f"v{rng.randrange(size):07d}", "c" * 64, "1", "0.1.0")
            start = time.perf_counter()
            entry = index.lookup(key)
            if i >= 200:  # the first lookups warm the connection pool and the page cache
                latencies.append(time.perf_counter() - start)
            assert entry is not None
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        print(f"[lookup] {size:>7} videos indexed: p50 {p50 * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms (goal p99 <= 2 ms, flat)")


def bench_evict(tmp: Path, database_url: str, count: int) -> None:
    store = ArtifactStore(root=str(tmp / "evict" / "artifacts"), frames_root=str(tmp / "evict" / "frames"))
    index = ArtifactIndex(database_url=database_url, max_videos=1)
    with index.engine.begin() as conn:
        conn.execute(sa.delete(artifact_runs))
        conn.execute(sa.delete(video_usage))
    fill(index, count + 1, 0)
    for i in range(count + 1):  # a small artifact per video, like a features row
        folder = store.artifact_dir("bench", f"v{i:07d}", "features", "x")
        folder.mkdir(parents=True)
        (folder / "data.parquet").write_bytes(b"\0" * 4096)
    start = time.perf_counter()
    evicted = index.evict_over_limit(store)
    elapsed = time.perf_counter() - start
    assert len(evicted) == count
    print(f"[evict] {count} videos (artifacts + rows): {elapsed:.2f} s, {elapsed / count * 1000:.2f} ms per video")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server, e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--evict", type=int, default=1000)
    parser.add_argument("--skip-repeat", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir, scratch_database(args.postgres, Path(tmpdir)) as url:
        tmp = Path(tmpdir)
        print(f"database: {engine_for(url).dialect.name}")
        if not args.skip_repeat:
            bench_repeat(tmp, url)
        bench_lookup(url, args.sizes)
        bench_evict(tmp, url, args.evict)
        engine_for(url).dispose()
    return 0


@contextlib.contextmanager
def scratch_database(admin_url: str | None, tmp: Path):
    """A database that exists only for this benchmark (never the user's own)."""
    if not admin_url:
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    name = f"dp_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
