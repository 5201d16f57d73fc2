"""The two measured crash failures: a killed ``dp process`` wedged every later run (its ``gpu``
pool slot stayed taken), and concurrent first uses of a fresh DP_HOME died on Dagster's schema
creation. GPU slots are now file locks that die with their process (tests/resources/test_gpu.py)."""

import signal
import subprocess
import time
from pathlib import Path

import dagster as dg

from tests.faults.processes import dp, profile


def instance_of(home: Path, monkeypatch) -> dg.DagsterInstance:
    # Opened as dp opens it: under the init lock, so this test never races the run's first use.
    from dp_resources.instance import open_instance

    monkeypatch.setenv("DP_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return open_instance()


def runs_of(home: Path, monkeypatch) -> list[dg.DagsterRun]:
    with instance_of(home, monkeypatch) as instance:
        return instance.get_runs()


def test_a_killed_dp_process_never_wedges_the_next_one(tmp_path, media, monkeypatch):
    home = tmp_path / "home"
    holder = dp(home, "process", str(media("park_0p55s.mp4")), "--video-id", "held", "--profile", profile(tmp_path, "sleeps_on_gpu"))
    deadline = time.monotonic() + 120
    component_dir = home / "artifacts" / "local" / "held" / "sleeps_on_gpu"
    # killed while its sleeping component computes (its staging folder exists)
    while not (component_dir.is_dir() and list(component_dir.glob(".*.staging"))):
        assert holder.poll() is None, holder.communicate()
        assert time.monotonic() < deadline, "the first run never reached its sleeping component"
        time.sleep(0.5)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    (dead,) = runs_of(home, monkeypatch)
    assert dead.status == dg.DagsterRunStatus.STARTED  # what a killed process leaves behind

    nxt = dp(home, "process", str(media("park_0p55s.mp4")), "--video-id", "next", "--profile", profile(tmp_path, "quick_on_gpu"))
    try:
        out, err = nxt.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        nxt.kill()
        raise AssertionError("the next dp process waited for the killed one")
    assert nxt.returncode == 0, err
    with instance_of(home, monkeypatch) as instance:
        dead = instance.get_run_by_id(dead.run_id)
        assert dead.status == dg.DagsterRunStatus.FAILURE
        assert any("process died" in (event.message or "") for event in instance.all_logs(dead.run_id))
    # the same video again: its lock died with the process, and it is computed, not wedged
    again = dp(home, "process", str(media("park_0p55s.mp4")), "--video-id", "held", "--profile", profile(tmp_path, "quick_on_gpu"))
    assert again.communicate(timeout=120) and again.returncode == 0


def test_concurrent_first_uses_of_a_fresh_home(tmp_path, media):
    home = tmp_path / "fresh"
    clip = str(media("park_0p55s.mp4"))
    procs = [dp(home, "process", clip, "--video-id", f"v{i}", "--profile", "skeleton") for i in range(6)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert "Traceback" not in out + err, err
        assert proc.returncode == 0, err
