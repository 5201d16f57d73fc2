"""Backlog throughput, side by side in one run: the same clips computed directly with warm models,
by ``dp process`` with every path in one command (from a shell: start-up and model loading
included), by the same command while ``dp serve`` runs (models loaded and warm in the server),
and through the bucket sensor and the real ``dagster-daemon`` with warm workers.

The daemon path is timed from the first run created to the last run ended (the issue's
measure), and from the drop into the bucket to the last run ended; its workers are started,
and their models loaded, before the clips are dropped (as in a deployment that runs all day).
Printed: wall seconds, the ratio to direct, the fixed cost per video ((path - direct) / videos),
and peak memory (dp process; dp process and dp serve; the workers together); then, from each
path's manifests, how long its components took and what the rest (the path's own overhead) is
per video, which does not move with the machine's speed between the direct measurement and the
path's. Each path starts from an empty DP_HOME, so nothing is served from cache; only the model
folders derived once from the installed packages (Whisper's joined copy, the EfficientNet IR,
``DP_HOME/models``) are shared with this process's DP_HOME, where the direct path prepared them,
as on a machine that has run before (a new DP_HOME pays them once, about 5 s).

Usage: python bench/bench_backlog.py [--profile baseline] [--workers 1] [--copies 1] [--skip-daemon] [CLIP ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from dp_resources.settings import dp_home, install_instance_yaml

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
PROJECT = Path(__file__).resolve().parents[1]
CLIPS = [
    "obama_statement_face_speech.mp4",
    "carphone_qcif_face_noaudio.mp4",
    "park_0p55s.mp4",
    "bbb_h264_aac51.mp4",
    "screenrec_vfr_3026x1386.mp4",
    "phone_rot180_vfr.mp4",
]
GOAL_RATIO, GOAL_FIXED_S = 1.3, 0.5


class PeakRss(threading.Thread):
    """Peak resident memory of a set of processes (and their children), sampled every 100 ms."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak, self._halt = pids, 0, threading.Event()

    def run(self):
        while not self._halt.wait(0.1):
            total = 0
            for pid in self.pids():
                try:
                    process = psutil.Process(pid)
                    total += sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak / 2**20


def distinct_copies(clips: list[Path], copies: int, folder: Path) -> list[Path]:
    """Each MP4/MOV clip ``copies`` times as ``<stem>_<n>``, each a different file: the clip with an
    MP4 ``free`` box appended (decoders skip it). Same-content copies would be reposts, whose
    artifacts are reused instead of computed, which is not the backlog this measures."""
    folder.mkdir(parents=True)
    made = []
    for n in range(copies):
        for clip in clips:
            if clip.suffix.lower() not in (".mp4", ".mov", ".m4v"):
                sys.exit(f"--copies needs MP4/MOV clips (it appends an MP4 free box): {clip}")
            payload = f"bench copy {n}".encode()
            copy = folder / f"{clip.stem}_{n}{clip.suffix}"
            copy.write_bytes(clip.read_bytes() + (8 + len(payload)).to_bytes(4, "big") + b"free" + payload)
            made.append(copy)
    return made


def direct(clips: list[Path], profile_name: str, tmp: Path) -> float:
    from dp_assets.direct import run_profile_direct
    from dp_assets.profiles import load_profile

    profile = load_profile(profile_name)
    run_profile_direct(profile, clips[0], tmp / "warmup")  # imports and models
    start = time.perf_counter()
    for clip in clips:
        run_profile_direct(profile, clip, tmp / clip.stem)
    return time.perf_counter() - start


def component_seconds(home: Path) -> float:
    """Wall seconds the components themselves took in a path's runs (from its manifests): the
    path's wall minus this is its own overhead, whatever the machine's speed at that moment."""
    import json

    return sum(
        component.get("wall_seconds") or 0.0
        for manifest in (home / "artifacts").rglob("manifest.json")
        for component in json.loads(manifest.read_text())["components"]
    )


def empty_home(home: Path) -> Path:
    """A new DP_HOME whose ``models`` folder is this process's (see the module's docstring)."""
    home.mkdir(parents=True)
    (home / "models").symlink_to((dp_home() / "models").resolve(), target_is_directory=True)
    return home


def env_for(home: Path, profile: str, workers: int) -> dict[str, str]:
    env = {**os.environ, "DP_HOME": str(home), "DP_PROFILE": profile, "DP_WORKERS": str(workers), "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)
    return env


def cli(clips: list[Path], profile: str, home: Path, workers: int) -> tuple[float, float, str]:
    dp = str(Path(sys.executable).with_name("dp"))
    start = time.perf_counter()
    proc = subprocess.Popen([dp, "process", *map(str, clips)], env=env_for(home, profile, workers), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = PeakRss(lambda: [proc.pid])
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    peak = sampler.stop()
    if proc.returncode != 0:
        sys.exit(f"dp process failed ({proc.returncode}):\n{out}\n{err}")
    return wall, peak, out.strip().splitlines()[-1]


def served(clips: list[Path], profile: str, home: Path, workers: int) -> tuple[float, float, str]:
    """``dp process`` from a shell while ``dp serve`` runs on its home, started (and its models
    loaded and warmed) before the command, as it would have been all day."""
    dp = str(Path(sys.executable).with_name("dp"))
    env = env_for(home, profile, workers)
    log = open(home.parent / f"{home.name}_serve.log", "w+")
    server = subprocess.Popen([dp, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while "dp serve: ready" not in Path(log.name).read_text():
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"dp serve did not start:\n{Path(log.name).read_text()}")
            time.sleep(0.2)
        start = time.perf_counter()
        proc = subprocess.Popen([dp, "process", *map(str, clips)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler = PeakRss(lambda: [proc.pid, server.pid])
        sampler.start()
        out, err = proc.communicate()
        wall = time.perf_counter() - start
        peak = sampler.stop()
        if proc.returncode != 0 or "computed by dp serve" not in out:
            sys.exit(f"dp process through dp serve failed ({proc.returncode}):\n{out}\n{err}")
        return wall, peak, out.strip().splitlines()[-1]
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def start_daemon(env: dict[str, str], log, dagster_home: Path, workers: int) -> subprocess.Popen:
    """The real ``dagster-daemon`` on ``env``'s instance, returned once ``workers`` warm workers
    are ready (models loaded), as in a deployment that runs all day."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(PROJECT / "workspace.yaml")],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while sum("ready in" in p.read_text(errors="replace") for p in (dagster_home / "workers").glob("*.log")) < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            sys.exit(f"the daemon's workers never got ready; see {log.name}")
        time.sleep(0.5)
    return proc


def daemon(clips: list[Path], profile: str, home: Path, workers: int) -> tuple[float, float, float, int]:
    import dagster as dg

    bucket, dagster_home = home / "bucket", home / "dagster"
    (bucket / "bench").mkdir(parents=True)
    dagster_home.mkdir(parents=True)
    install_instance_yaml(PROJECT / "dagster.yaml", dagster_home)
    env = {**env_for(home, profile, workers), "DAGSTER_HOME": str(dagster_home), "DP_BUCKET_URL": str(bucket), "DP_BUCKET_SENSOR_INTERVAL_S": "1"}
    log = open(home / "daemon.log", "wb")
    proc = start_daemon(env, log, dagster_home, workers)
    try:
        deadline = time.monotonic() + 600
        sampler = PeakRss(lambda: [c.pid for c in psutil.Process(proc.pid).children() if "dp_assets.workers.worker" in " ".join(c.cmdline())])
        sampler.start()
        dropped = time.time()
        for clip in clips:
            shutil.copyfile(clip, bucket / "bench" / clip.name)
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        while True:
            # Runs first, partitions only once every run has ended: this loop shares the two cores
            # with what it measures, so it looks at as little as it can.
            runs = instance.get_runs()
            if runs and all(r.is_finished for r in runs) and len(instance.get_materialized_partitions(dg.AssetKey("features"))) == len(clips):
                break
            if any(r.status == dg.DagsterRunStatus.FAILURE for r in runs):
                sys.exit(f"a run failed: see {home / 'daemon.log'} and {dagster_home / 'workers'}")
            if time.monotonic() > deadline:
                sys.exit(f"the runs did not finish in time; see {home / 'daemon.log'}")
            time.sleep(0.5)
        records = instance.get_run_records()
        failed = [r.dagster_run.run_id for r in records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
        if failed:
            sys.exit(f"runs failed: {failed}")
        created = min(r.create_timestamp.timestamp() for r in records)
        ended = max(r.end_time for r in records)
        peak = sampler.stop()
        instance.dispose()
        return ended - created, ended - dropped, peak, len(records)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", default=[str(MEDIA / c) for c in CLIPS])
    parser.add_argument("--profile", default="baseline")
    parser.add_argument("--workers", type=int, default=1, help="DP_WORKERS for the daemon path")
    parser.add_argument("--skip-daemon", action="store_true")
    parser.add_argument(
        "--copies", type=int, default=1, help="each clip this many times, as distinct videos (see distinct_copies): a longer backlog"
    )
    args = parser.parse_args()
    clips = [Path(c) for c in args.clips]
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_backlog_") as tmp_name:
        tmp = Path(tmp_name)
        if args.copies > 1:
            clips = distinct_copies(clips, args.copies, tmp / "clips")
        base = direct(clips, args.profile, tmp / "direct")
        print(f"{len(clips)} clips · profile {args.profile} · load average {load[0]:.1f} at start")
        print(f"{'path':<58}{'wall':>9}{'vs direct':>11}{'fixed/video':>13}{'peak RSS':>11}")
        print(f"{'components called directly, one process, models warm':<58}{base:>8.1f}s{1.0:>10.2f}x{'':>13}{'':>11}")

        def row(label: str, wall: float, peak: float) -> None:
            fixed = (wall - base) / len(clips)
            verdict = "met" if wall / base <= GOAL_RATIO and fixed <= GOAL_FIXED_S else "NOT met"
            print(f"{label:<58}{wall:>8.1f}s{wall / base:>10.2f}x{fixed:>12.2f}s{peak:>9.0f}MB   goal {GOAL_RATIO}x / {GOAL_FIXED_S} s: {verdict}")

        def inside(wall: float, home: Path) -> None:
            computed = component_seconds(home)
            print(f"    its components took {computed:.1f} s (direct: {base:.1f} s); the rest, {wall - computed:.1f} s, is "
                  f"{(wall - computed) / len(clips):.2f} s per video")

        wall, peak, summary = cli(clips, args.profile, empty_home(tmp / "cli"), args.workers)
        row(f"dp process with {len(clips)} paths (shell, cold start)", wall, peak)
        print(f"    {summary}")
        inside(wall, tmp / "cli")
        wall, peak, summary = served(clips, args.profile, empty_home(tmp / "served"), args.workers)
        row(f"dp process with {len(clips)} paths (shell), dp serve running", wall, peak)
        print(f"    {summary}")
        inside(wall, tmp / "served")
        if not args.skip_daemon:
            in_runs, from_drop, peak, runs = daemon(clips, args.profile, empty_home(tmp / "daemon"), args.workers)
            row(f"daemon path, {args.workers} warm worker(s), first run created to last ended", in_runs, peak)
            inside(in_runs, tmp / "daemon")
            row(f"daemon path, drop into the bucket to last run ended ({runs} run(s))", from_drop, peak)
        again = direct(clips, args.profile, tmp / "direct_again")
        print(f"{'components called directly again, after the other paths':<58}{again:>8.1f}s{again / base:>10.2f}x"
              "   (a drift from the first line means the machine's load changed during the run)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
