"""The daemon's runs on warm workers: a worker killed mid-run fails that run with its exit status
and is replaced by a fresh one, which runs the next video; the run queue holds as many runs in
flight as there are workers."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest

from dp_assets.workers.coordinator import WorkerRunCoordinator

PROJECT = Path(__file__).resolve().parents[2]
NAPS = """name: naps
sampling: {version: '1', fps: 1.0, max_frames: 10, max_side: 64}
component_modules: [tests.fixtures.naps_on_gpu]
components: {video_probe: {}, naps_on_gpu: {}}
"""


def wait_for(what, predicate, timeout, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n" + (log.read_text(errors="replace")[-3000:] if log.exists() else ""))


def workers_of(daemon: subprocess.Popen) -> list[psutil.Process]:
    return [p for p in psutil.Process(daemon.pid).children(recursive=True) if "dp_assets.workers.worker" in " ".join(p.cmdline())]


def test_a_killed_worker_fails_its_run_and_a_fresh_one_takes_the_next(tmp_path, media):
    home, bucket = tmp_path / "home", tmp_path / "bucket"
    (bucket / "yt").mkdir(parents=True)
    (tmp_path / "naps.yaml").write_text(NAPS)
    env = {
        **os.environ,
        "DP_HOME": str(home),
        "DP_BUCKET_URL": str(bucket),
        "DP_BUCKET_SENSOR_INTERVAL_S": "1",
        "DP_PROFILE": str(tmp_path / "naps.yaml"),
        "DP_WORKERS": "1",
        "PYTHONPATH": str(PROJECT),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("DAGSTER_HOME", None)
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "dp_assets.cli", "daemon"], cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    dagster_home = home / "dagster"
    try:
        def ready_worker():
            logs = (dagster_home / "workers").glob("*.log")
            return workers_of(daemon) if any("ready in" in p.read_text(errors="replace") for p in logs) else None

        (first_worker,) = wait_for("a ready worker", ready_worker, 120, log)
        shutil.copyfile(media("park_0p55s.mp4"), bucket / "yt" / "first.mp4")
        napping = home / "artifacts" / "yt" / "first" / "naps_on_gpu"
        wait_for("the first run's napping component", lambda: napping.is_dir() and any(napping.glob(".*.staging")), 120, log)
        first_worker.kill()  # kill -9 mid-run

        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            failed = wait_for("the first run to fail", lambda: [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE], 60, log)
            messages = [e.message or "" for e in instance.all_logs(failed[0].run_id)]
            assert any(f"(pid {first_worker.pid}) died with exit status -9" in m for m in messages), messages[-5:]

            shutil.copyfile(media("carphone_qcif_face_noaudio.mp4"), bucket / "yt" / "second.mp4")
            done = wait_for(
                "the second run",
                lambda: [r for r in instance.get_runs() if r.tags.get("dataprocessor/video_id") == "second" and r.is_finished],
                120,
                log,
            )
            assert done[0].status == dg.DagsterRunStatus.SUCCESS
            (replacement,) = workers_of(daemon)
            assert replacement.pid != first_worker.pid
            assert done[0].tags["dataprocessor/owner_pid"] == str(replacement.pid), "the fresh worker ran it"
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)


def test_the_run_queue_keeps_as_many_runs_in_flight_as_there_are_workers(monkeypatch):
    monkeypatch.setenv("DP_WORKERS", "3")
    assert WorkerRunCoordinator().get_run_queue_config().max_concurrent_runs == 3
    monkeypatch.setenv("DP_WORKERS", "1")
    assert WorkerRunCoordinator().get_run_queue_config().max_concurrent_runs == 1
    assert WorkerRunCoordinator(max_concurrent_runs=5).get_run_queue_config().max_concurrent_runs == 5  # dagster.yaml wins


def test_the_queue_is_served_every_half_second_as_dagster_yaml_says(tmp_path):
    """Dagster's own dequeue_interval_seconds takes whole seconds; the project's dagster.yaml asks for
    0.5 s, which Dagster's daemon reads from the coordinator it builds from that file."""
    from dp_resources.settings import PROJECT_DIR, install_instance_yaml

    install_instance_yaml(PROJECT_DIR / "dagster.yaml", tmp_path)
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        assert isinstance(instance.run_coordinator, WorkerRunCoordinator)
        assert instance.run_coordinator.dequeue_interval_seconds == 0.5
    finally:
        instance.dispose()
    assert WorkerRunCoordinator(dequeue_interval_seconds=2).dequeue_interval_seconds == 2  # Dagster's key still works


def test_a_dequeue_interval_of_zero_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="dequeue_interval_s must be above 0"):
        WorkerRunCoordinator.from_config_value(None, {"dequeue_interval_s": 0.0})
