"""``dp`` started as a user starts it, on a home of its own, for the fault tests that interrupt it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
# video_probe and one test component (tests/fixtures/<name>.py): the component is where a test
# waits, kills or signals.
PROFILE = """name: {name}
sampling: {{version: "1", fps: 1.0, max_frames: 10, max_side: 64}}
component_modules: [tests.fixtures.{name}]
components:
  video_probe: {{}}
  {name}: {{}}
"""


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "DP_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)
    return env


def _as_a_shell_starts_it() -> None:
    # A child inherits its parent's blocked and ignored signals. A user's shell starts dp with
    # none; the test process may not be in that state after what earlier tests loaded into it.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for signo in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signo, signal.SIG_DFL)


def dp(home: Path, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dp_assets.cli", *args],
        cwd=PROJECT,
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_a_shell_starts_it,
        **kwargs,
    )


def signal_state(pid: int) -> str:
    """The blocked, ignored and caught signal masks of process ``pid``, for a failure message."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return " ".join(line.replace("\t", "") for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def profile(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(PROFILE.format(name=name))
    return str(path)


def wait_for_staging(home: Path, video: str, component: str, proc: subprocess.Popen) -> None:
    folder = home / "artifacts" / "local" / video / component
    deadline = time.monotonic() + 120
    while not (folder.is_dir() and any(folder.glob(".*.staging"))):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the component never started"
        time.sleep(0.2)


def interrupt_during(home: Path, video: str, component: str, proc: subprocess.Popen) -> str:
    """Ctrl-C while ``component`` computes ``video``; asserts that the process stopped as a user
    is promised (exit 130, the component finished and kept, what finished said); its stdout."""
    wait_for_staging(home, video, component, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "stopping after the current component" in err and "Traceback" not in out + err
    folder = home / "artifacts" / "local" / video / component
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")], "the component that was computing finished and was kept"
    assert "stopped: interrupted (Ctrl-C)" in out
    return out
