"""Dagster's own per-partition staleness follows our versions (what the UI shows as stale).

Asked the way the UI asks: through the webserver's GraphQL API (``AssetNode.staleStatus`` and
``staleCauses`` of a partition), Dagster's public interface to staleness; the Python classes
behind it live in private modules. The webserver serves the real code location
(``dp_assets.definitions``, as ``workspace.yaml`` names it) over the pipeline's instance.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dp_assets.runner import observe_sources
from dp_resources.settings import current_settings, ensure_dagster_home
from tests.pipeline_helpers import Pipeline
from tests.ui.harness import free_port

PROJECT_DIR = Path(__file__).resolve().parent.parent
SKELETON = PROJECT_DIR / "profiles" / "skeleton.yaml"
STARTUP_TIMEOUT_S = 120
STALENESS_QUERY = """
query ($key: AssetKeyInput!, $partition: String) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode { staleStatus(partition: $partition) staleCauses(partition: $partition) { category } }
  }
}
"""


class Webserver:
    """``dagster-webserver`` on a free loopback port, serving the code location built from
    ``profile`` over this process's DP_HOME and Dagster instance."""

    def __init__(self, profile: str, log_path: Path):
        self.url = f"http://127.0.0.1:{free_port()}"
        # Only the settings below reach the code location; the runs were computed on CPU, and the
        # runtime is part of every code version.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DP_", "DAGSTER_"))}
        settings = current_settings()
        env.update(
            DAGSTER_HOME=str(settings.dagster_home),
            DP_HOME=str(settings.home),
            DP_PROFILE=profile,
            DP_DEVICE="cpu",
            DP_PRECISION="fp32",
            PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")])),
        )
        host, port = self.url.removeprefix("http://").split(":")
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver", "-m", "dp_assets.definitions", "-h", host, "-p", port],
            cwd=PROJECT_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its code server joins the group, so one signal stops both
        )

    def _query(self, asset: str, partition: str) -> dict:
        body = json.dumps({"query": STALENESS_QUERY, "variables": {"key": {"path": [asset]}, "partition": partition}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]["assetNodeOrError"]

    def wait_ready(self, asset: str, partition: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited with {self.proc.returncode}:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                if self._query(asset, partition)["__typename"] == "AssetNode":
                    return
            time.sleep(0.3)
        pytest.fail(f"the code location did not load in {STARTUP_TIMEOUT_S}s:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def status(self, asset: str, partition: str) -> tuple[str, list[str]]:
        """The partition's stale status (FRESH, STALE, MISSING) and its causes' categories."""
        node = self._query(asset, partition)
        return node["staleStatus"], [cause["category"] for cause in node["staleCauses"]]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()


@pytest.fixture
def pipeline(tmp_path, monkeypatch):
    # The instance `dp` uses (the project's dagster.yaml in DAGSTER_HOME), not an ephemeral one:
    # the webserver reads its runs from another process.
    monkeypatch.delenv("DP_INSTANCE", raising=False)
    monkeypatch.setenv("DP_HOME", str(tmp_path / "dp_home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    ensure_dagster_home()
    pipeline = Pipeline(tmp_path)
    pipeline.instance = dg.DagsterInstance.get()
    yield pipeline
    pipeline.instance.dispose()


@pytest.fixture
def ui_staleness(pipeline, tmp_path):
    """Starts the webserver for a profile once the runs are in; returns its ``status``."""
    servers: list[Webserver] = []

    def start(profile: str, probe: tuple[str, str]) -> Webserver:
        server = Webserver(profile, tmp_path / "webserver.log")
        servers.append(server)
        server.wait_ready(*probe)
        return server

    yield start
    for server in servers:
        server.stop()


def test_config_change_marks_only_that_component_stale(pipeline, ui_staleness, tmp_path, media):
    pipeline.process(media("park_0p55s.mp4"), "park")
    data = yaml.safe_load(SKELETON.read_text())
    data["components"]["loudness"] = {"config": {"silence_threshold_dbfs": -40.0}}
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(data))
    ui = ui_staleness(str(tmp_path / "changed.yaml"), ("loudness", "test/park"))

    assert ui.status("loudness", "test/park") == ("STALE", ["CODE"])
    for fresh in ("video_probe", "frames", "image_stats", "audio_waveform"):
        assert ui.status(fresh, "test/park") == ("FRESH", []), fresh


def test_replaced_video_marks_its_partition_stale(pipeline, ui_staleness, tmp_path, media):
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(media("park_0p55s.mp4"), clip)
    pipeline.process(clip, "clip")
    pipeline.process(media("carphone_qcif_face_noaudio.mp4"), "other")
    shutil.copyfile(media("phone_rot180_vfr.mp4"), clip)  # new bytes under the same video_id
    video = pipeline.video("clip")
    observe_sources(pipeline.instance, video.key, pipeline.catalog.inputs(video))
    ui = ui_staleness("skeleton", ("video_probe", "test/clip"))

    assert ui.status("video_probe", "test/clip") == ("STALE", ["DATA"])
    assert ui.status("video_probe", "test/other") == ("FRESH", [])
