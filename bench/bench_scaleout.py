"""Scale-out in Celery mode: throughput of one vs two ``dp worker`` processes, the cost of a step as
a Celery task, and a worker's first step vs its later ones.

1. **Throughput.** The six-clip backlog of ``bench_backlog.py`` through the real daemon (bucket
   sensor, warm run workers that orchestrate) on PostgreSQL and RabbitMQ, with one ``dp worker``
   pinned to core 0 (``taskset -c 0``), then two pinned to cores 0 and 1; each worker has a
   ``cpu`` and a ``gpu`` node of concurrency 1. Timed from the first run created to the last run
   ended, once every worker process has loaded its models. Printed: wall time, videos per hour,
   the ratio (goal >= 1.8x, stretch 1.95x), steps per worker, and model loads vs tasks per process.
2. **Per-step overhead.** One clip through the skeleton profile split into stages (4 steps),
   executed in-process and with the Celery executor and one warm worker (alternately, ``--repeat``
   times each, recomputing every time), on the same PostgreSQL instance: (Celery run - in-process
   run) / steps, medians.
3. **First vs second task.** A fresh worker, one clip through the profile twice (recomputed):
   each step's task time the first time a worker process executes it and the second time.

Each part starts from empty databases, a fresh RabbitMQ vhost and an empty DP_HOME. The harness
(broker vhost, databases, worker and daemon processes) is the tests' (``tests/scaleout/harness.py``).

Usage: python bench/bench_scaleout.py [--profile baseline] [--repeat 3] [--run-workers 3] [--skip PART]... [CLIP ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.scaleout.harness import (  # noqa: E402
    Database,
    Vhost,
    celery_env,
    dagster_daemon,
    dp_worker,
    register_and_launch,
    wait_until,
    worker_ready,
)

from bench.bench_backlog import CLIPS, MEDIA  # noqa: E402  (the six-clip backlog of "Backlog throughput")
GOAL_RATIO, STRETCH_RATIO = 1.8, 1.95
RUN_WORKERS = 3  # runs orchestrated at once (default): enough to keep two workers' four slots busy
TIMEOUT = 1800
TASK_LINE = re.compile(r"pid=(\d+)\] dataprocessor\.celery: step (\S+) of run (\S+) done in ([\d.]+) s, ([\d.]+) s of CPU")
LOAD_LINE = re.compile(r"pid=(\d+)\] dataprocessor\.models: loaded model (\S+)")
READY_LINE = re.compile(r"pid=(\d+)\] dataprocessor\.celery: process ready in ([\d.]+) s for queues (\S+)")


def _cpu_seconds(roots: list[int]) -> float:
    """User + system CPU seconds of processes ``roots`` and their descendants, so far."""
    total, seen = 0.0, set()
    for pid in roots:
        try:
            process = psutil.Process(pid)
            family = [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
        for member in family:
            if member.pid in seen:
                continue
            seen.add(member.pid)
            try:
                times = member.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
    return total


def _service_pids(name: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["name", "username"]) if p.info["username"] == name]


class CpuAccount:
    """CPU seconds spent by the workers, the daemon (with its run workers), RabbitMQ and PostgreSQL."""

    def __init__(self, deployment: "Deployment"):
        self.groups = {
            "dp workers": lambda: [w.process.pid for w in deployment.workers],
            "daemon and run workers": lambda: [deployment.daemon.process.pid],
            "rabbitmq": lambda: _service_pids("rabbitmq"),
            "postgres": lambda: _service_pids("postgres"),
        }
        self.start = {name: _cpu_seconds(pids()) for name, pids in self.groups.items()}

    def report(self, wall: float) -> str:
        spent = {name: _cpu_seconds(pids()) - self.start[name] for name, pids in self.groups.items()}
        return "CPU seconds in the window: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in spent.items()) + f" (wall {wall:.1f} s)"


class Deployment:
    """One Celery-mode deployment on this machine: vhost, database, DP_HOME, workers, daemon."""

    def __init__(self, root: Path, profile: str, **extra: str):
        self.root = root
        root.mkdir(parents=True)
        self.vhost, self.db = Vhost("dp_bench"), Database("dp_bench")
        self.env = celery_env(root, self.vhost.url, self.db.url, profile, **extra)
        os.environ["DAGSTER_PG_URL"] = self.db.url  # this process reads the instance
        self.workers, self.daemon, self._instance = [], None, None

    @property
    def instance(self):
        import dagster as dg

        if self._instance is None:
            self._instance = dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])
        return self._instance

    def start_workers(self, count: int, pin: bool) -> None:
        for i in range(count):
            prefix = ["taskset", "-c", str(i)] if pin else []
            self.workers.append(dp_worker(f"w{i}", self.env, self.root, concurrency=1, prefix=prefix))
        # every worker process (a cpu and a gpu child per worker) has loaded its models
        wait_until(
            "the workers' processes",
            lambda: all(worker_ready(w) and len(READY_LINE.findall(w.text())) >= 2 for w in self.workers),
            TIMEOUT,
            on_timeout=lambda: "\n".join(w.tail() for w in self.workers),
        )

    def start_daemon(self) -> None:
        self.daemon = dagster_daemon(self.env, self.root)
        logs = Path(self.env["DAGSTER_HOME"]) / "workers"
        wait_until(
            "the daemon's run workers",
            lambda: sum("ready in" in p.read_text(errors="replace") for p in logs.glob("*.log")) >= int(self.env["DP_WORKERS"]),
            TIMEOUT,
            on_timeout=self.daemon.tail,
        )

    def worker_log(self) -> str:
        return "\n".join(w.text() for w in self.workers)

    def stop(self) -> None:
        for process in [self.daemon, *self.workers]:
            if process is not None:
                process.stop(timeout=60)
        if self._instance is not None:
            self._instance.dispose()
        self.vhost.delete()
        self.db.drop()


def _busy(deployment: "Deployment", wall: float) -> str:
    """Per worker process: tasks, seconds spent in them, the share of the wall time, the longest."""
    parts = []
    for worker in deployment.workers:
        text = worker.text()
        queues = {m.group(1): m.group(3) for m in READY_LINE.finditer(text)}
        times: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for match in TASK_LINE.finditer(text):
            times[match.group(1)].append((float(match.group(4)), float(match.group(5))))
        for pid, tasks in sorted(times.items()):
            busy, cpu = sum(t for t, _ in tasks), sum(c for _, c in tasks)
            parts.append(
                f"{worker.name.split()[-1]}/{queues.get(pid, '?')}: {len(tasks)} tasks, busy {busy:.1f} s "
                f"({100 * busy / wall:.0f} % of the wall time) using {cpu:.1f} s of CPU, longest {max(t for t, _ in tasks):.1f} s"
            )
    return "; ".join(parts)


def _loads_vs_tasks(log: str) -> str:
    tasks = Counter(m.group(1) for m in TASK_LINE.finditer(log))
    loads = Counter(m.group(1) for m in LOAD_LINE.finditer(log))
    queues = {m.group(1): m.group(3) for m in READY_LINE.finditer(log)}
    return ", ".join(f"{queues.get(pid, '?')} process {pid}: {tasks[pid]} tasks, {loads[pid]} model loads" for pid in sorted(tasks))


def throughput(clips: list[Path], profile: str, tmp: Path, run_workers: int) -> None:
    walls = {}
    for count in (1, 2):
        deployment = Deployment(tmp / f"workers{count}", profile, DP_WORKERS=str(run_workers))
        try:
            deployment.start_workers(count, pin=True)
            deployment.start_daemon()
            bucket = Path(deployment.env["DP_BUCKET_URL"]) / "bench"
            bucket.mkdir(parents=True)
            load = os.getloadavg()[0]
            account = CpuAccount(deployment)
            for clip in clips:
                shutil.copyfile(clip, bucket / clip.name)

            def finished():
                records = deployment.instance.get_run_records()
                return records if len(records) == len(clips) and all(r.dagster_run.is_finished for r in records) else None

            records = wait_until("the backlog", finished, TIMEOUT, 1.0, on_timeout=lambda: deployment.daemon.tail() + deployment.workers[0].tail())
            failed = [r.dagster_run.run_id for r in records if r.dagster_run.status.value != "SUCCESS"]
            if failed:
                sys.exit(f"runs failed: {failed}; see {deployment.root}")
            wall = max(r.end_time for r in records) - min(r.create_timestamp.timestamp() for r in records)
            walls[count] = wall
            spans = sorted(((r.end_time - r.start_time, r.dagster_run.tags.get("dagster/partition", "")) for r in records), reverse=True)
            print(
                f"{count} worker(s) pinned to {count} core(s): {wall:7.1f} s for {len(clips)} videos, "
                f"{len(clips) * 3600 / wall:6.0f} videos/h (load average {load:.1f} at the drop, {os.getloadavg()[0]:.1f} at the end)"
            )
            print(f"    {_busy(deployment, wall)}")
            print(f"    {account.report(wall)}")
            print(f"    longest run {spans[0][0]:.1f} s ({spans[0][1]}); runs: {', '.join(f'{p} {t:.1f} s' for t, p in spans[1:])}")
            print(f"    {_loads_vs_tasks(deployment.worker_log())}")
        finally:
            deployment.stop()
    ratio = walls[1] / walls[2]
    verdict = "stretch met" if ratio >= STRETCH_RATIO else "met" if ratio >= GOAL_RATIO else "NOT met"
    print(f"throughput ratio, two workers vs one: {ratio:.2f}x (goal {GOAL_RATIO}x, stretch {STRETCH_RATIO}x): {verdict}")


def _run_seconds(deployment: Deployment, clip: Path, partition: str) -> tuple[float, int]:
    run = register_and_launch(deployment.env, deployment.root, clip, partition, {"dataprocessor/recompute": "true"})
    wait_until("the run", lambda: not run.alive(), TIMEOUT, on_timeout=run.tail)
    if run.process.returncode != 0:
        sys.exit(f"run failed:\n{run.tail()}")
    run_id = run.text().strip().splitlines()[-1].split()[1]
    record = deployment.instance.get_run_records(filters=__import__("dagster").RunsFilter(run_ids=[run_id]))[0]
    steps = len({e.dagster_event.step_key for e in deployment.instance.all_logs(run_id) if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"})
    return record.end_time - record.start_time, steps


def overhead(clip: Path, tmp: Path, repeat: int) -> None:
    profile = tmp / "skeleton_stages.yaml"
    text = (PROJECT / "profiles" / "skeleton.yaml").read_text().replace("name: skeleton", "name: skeleton_stages")
    profile.write_text(text + "execution: {granularity: stage}\n")
    deployment = Deployment(tmp / "overhead", str(profile))
    try:
        deployment.start_workers(1, pin=False)
        in_process = {**deployment.env, "DP_EXECUTOR": "in_process"}
        celery_runs, local_runs, steps = [], [], 0
        _run_seconds(deployment, clip, "bench/warmup")  # the worker's first task of each step
        for i in range(repeat):
            seconds, steps = _run_seconds(deployment, clip, "bench/clip")
            celery_runs.append(seconds)
            env, deployment.env = deployment.env, in_process
            try:
                local_runs.append(_run_seconds(deployment, clip, "bench/clip")[0])
            finally:
                deployment.env = env
        celery, local = statistics.median(celery_runs), statistics.median(local_runs)
        print(
            f"skeleton in {steps} stage steps, {clip.name}, medians of {repeat}: in-process run {local:.2f} s, "
            f"Celery run {celery:.2f} s -> {(celery - local) / steps:.2f} s per step as a Celery task (load average {os.getloadavg()[0]:.1f})"
        )
        print(f"    runs: in-process {[round(s, 2) for s in local_runs]}, Celery {[round(s, 2) for s in celery_runs]}")
    finally:
        deployment.stop()


def first_vs_second(clip: Path, profile: str, tmp: Path) -> None:
    deployment = Deployment(tmp / "warm", profile)
    try:
        deployment.start_workers(1, pin=False)
        ready = {m.group(3): float(m.group(2)) for m in READY_LINE.finditer(deployment.worker_log())}
        for _ in range(2):
            _run_seconds(deployment, clip, "bench/clip")
        times: dict[str, list[float]] = defaultdict(list)
        for match in TASK_LINE.finditer(deployment.worker_log()):
            times[match.group(2)].append(float(match.group(4)))
        print(f"{profile}, {clip.name}, one fresh worker (load average {os.getloadavg()[0]:.1f}); its processes loaded their models "
              f"as they started: {', '.join(f'{q} {s:.1f} s' for q, s in sorted(ready.items()))}")  # fmt: skip
        print(f"    {'step':<30}{'first task':>12}{'second':>10}")
        for step, seconds in times.items():
            print(f"    {step:<30}{seconds[0]:>11.2f}s{seconds[1] if len(seconds) > 1 else float('nan'):>9.2f}s")
        print(f"    {_loads_vs_tasks(deployment.worker_log())}")
    finally:
        deployment.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", default=[str(MEDIA / c) for c in CLIPS])
    parser.add_argument("--profile", default="baseline")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--run-workers", type=int, default=RUN_WORKERS, help="DP_WORKERS of the daemon: runs orchestrated at once")
    parser.add_argument("--skip", action="append", default=[], choices=["throughput", "overhead", "warm"])
    args = parser.parse_args()
    clips = [Path(c) for c in args.clips]
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench_scaleout_") as name:
        tmp = Path(name)
        if "throughput" not in args.skip:
            throughput(clips, args.profile, tmp, args.run_workers)
        if "overhead" not in args.skip:
            overhead(clips[2] if len(clips) > 2 else clips[0], tmp, args.repeat)
        if "warm" not in args.skip:
            first_vs_second(clips[0], args.profile, tmp)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
