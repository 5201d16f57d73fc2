"""``dp`` started as a user starts it, on a home of its own, for the fault tests that interrupt it."""

import os
import subprocess
import sys
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


def dp(home: Path, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dp_assets.cli", *args], cwd=PROJECT, env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def profile(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(PROFILE.format(name=name))
    return str(path)
