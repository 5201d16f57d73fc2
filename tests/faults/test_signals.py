"""Signals end ``dp process`` within 20 s at any point, the run it was executing marked failed, and
first use of a fresh home is race-free with the daemon starting at the same moment."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.faults.processes import PROJECT, dp, env_for, profile, signal_state, wait_for_staging

# What the issue allows between the signal and the end of the process.
WITHIN_S = 20


def runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return instance.get_runs()


@pytest.mark.parametrize("signo, code", [(signal.SIGTERM, 1), (signal.SIGINT, 130)])
def test_a_signal_during_a_minute_long_component_ends_within_20_s(tmp_path, media, signo, code):
    home = tmp_path / "home"
    proc = dp(home, "process", str(media("park_0p55s.mp4")), "--video-id", "v", "--profile", profile(tmp_path, "sleeps_on_gpu"))
    wait_for_staging(home, "v", "sleeps_on_gpu", proc)
    sent = time.monotonic()
    proc.send_signal(signo)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < WITHIN_S + 5, "the process outlived the grace period"
    assert proc.returncode == code, out + err
    assert "Traceback" not in out + err
    (run,) = runs(home)
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert "interrupted" in err


def test_sigterm_while_waiting_for_the_video_lock(tmp_path, media):
    """A second request for a video being computed waits for its lock; SIGTERM ends the wait."""
    home = tmp_path / "home"
    clip = str(media("park_0p55s.mp4"))
    holder = dp(home, "process", clip, "--video-id", "v", "--profile", profile(tmp_path, "sleeps_on_gpu"))
    wait_for_staging(home, "v", "sleeps_on_gpu", holder)
    waiter = dp(home, "process", clip, "--video-id", "v", "--profile", profile(tmp_path, "sleeps_on_gpu"))
    time.sleep(3)
    assert waiter.poll() is None, "the second request did not wait"
    state = f"waiter {signal_state(waiter.pid)}; this test process {signal_state(os.getpid())}"
    sent = time.monotonic()
    waiter.send_signal(signal.SIGTERM)
    out, err = waiter.communicate(timeout=60)
    assert time.monotonic() - sent < WITHIN_S, f"{state}; exit {waiter.returncode}\n{out}{err}"
    holder.kill()
    holder.wait()


def test_eight_first_uses_of_a_fresh_home_with_the_daemon_starting(tmp_path, media):
    home = tmp_path / "fresh"
    clip = str(media("park_0p55s.mp4"))
    env = {**env_for(home), "DP_BUCKET_SENSOR_INTERVAL_S": "1", "DP_PROFILE": "skeleton", "DP_WORKERS": "1"}
    daemon_log = open(tmp_path / "daemon.log", "wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dp_assets.cli", "daemon"], cwd=PROJECT, env=env, stdout=daemon_log, stderr=subprocess.STDOUT, start_new_session=True
    )
    procs = [dp(home, "process", clip, "--video-id", f"v{i}", "--profile", "skeleton") for i in range(7)]
    try:
        results = [p.communicate(timeout=300) for p in procs]
        for proc, (out, err) in zip(procs, results):
            assert "Traceback" not in out + err, err
            assert proc.returncode == 0, err
        time.sleep(5)  # the daemon has opened the instance and ticked
        assert daemon.poll() is None, "the daemon died"
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        daemon_log.close()
    log = (tmp_path / "daemon.log").read_text(errors="replace")
    assert "Traceback" not in log and "UNIQUE constraint failed" not in log, log[-3000:]
