"""The real UI of our code location for browser tests: ``dp dev`` on a throwaway DP_HOME.

``DagsterUI`` starts ``dp dev`` (the Dagster webserver *and* the daemon: the instance's default
run coordinator queues runs launched from the UI, and only the daemon dequeues them and runs the
manifest sensors) on a free loopback port, with ``DP_HOME``/``DAGSTER_HOME`` in a temporary folder
(the repository's ``dagster.yaml`` copied there), waits until the code location has loaded, and
kills the whole process tree when done. The helpers below drive the pages with Playwright.

``python -m tests.ui.harness`` regenerates ``docs/ui-asset-graph.png`` (the README picture).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

from dp_resources.settings import install_instance_yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
LOCATION = "dataprocessor"
JOB = "process_video"

# Debian's chromium, never a downloaded browser (DP_CHROMIUM overrides).
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# `dp dev` execs `dagster dev`, which stops its webserver and daemon on SIGINT/SIGTERM. A process
# started from a shell job inherits *ignored* SIGINT/SIGTERM and would survive both, so the child
# resets them before running the real command line.
_LAUNCH = (
    "import signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGTERM, signal.SIG_DFL); "
    "from dp_assets.cli import main; sys.exit(main(sys.argv[1:]))"
)
# The server sees none of the caller's DataProcessor/Dagster settings (database, instance, bucket,
# GPU, TTL...): only the throwaway home and the profile below.
_FOREIGN_ENV_PREFIXES = ("DP_", "DAGSTER_")

WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
RUN_QUERY = """
query ($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run {
    runId status jobName tags { key value } } } }
"""


def chromium_path() -> str | None:
    candidates = [os.environ.get("DP_CHROMIUM")] + [shutil.which(name) for name in CHROMIUM_CANDIDATES] + ["/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_profile(path: Path, base: str = "skeleton", name: str | None = None, extra: dict | None = None, modules: list[str] | None = None) -> Path:
    """A profile file: ``profiles/<base>.yaml`` plus extra components (e.g. test fixtures)."""
    import yaml

    data = yaml.safe_load((PROJECT_DIR / "profiles" / f"{base}.yaml").read_text())
    if name:
        data["name"] = name
    if modules:
        data["component_modules"] = list(modules)
    data["components"].update(extra or {})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class DagsterUI:
    """``dp dev --profile PROFILE`` on a free port of 127.0.0.1 with its own DP_HOME."""

    def __init__(self, home: Path, profile: str, startup_timeout: float = 150.0):
        self.home = Path(home)
        self.dp_home = self.home / "dp_home"
        self.dagster_home = self.dp_home / "dagster"
        self.profile = profile
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "dp-dev.log"
        self.proc: subprocess.Popen | None = None
        self._log = None

    # -- environment and state ---------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.dp_home / 'dataprocessor.db'}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES)}
        env.update(
            DP_HOME=str(self.dp_home),
            DAGSTER_HOME=str(self.dagster_home),
            DP_PROFILE=self.profile,
            PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        return env

    def prepare(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        install_instance_yaml(PROJECT_DIR / "dagster.yaml", self.dagster_home)
        # The first visit of a fresh instance opens a "Join the Dagster community" modal over the
        # page; this is the file the webserver writes once it has been dismissed.
        (self.dagster_home / ".nux").mkdir(exist_ok=True)
        (self.dagster_home / ".nux" / "nux.yaml").write_text("seen: 1\n")

    @contextlib.contextmanager
    def instance(self) -> Iterator[Any]:
        import dagster as dg

        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            yield instance

    def register_video(self, path: Path, video_id: str, platform_id: str = "local") -> str:
        """What ``dp process`` does before a run: catalog row and dynamic partition (no compute);
        the partition key."""
        from dp_assets.partitions import add_video_partitions
        from dp_resources import VideoCatalog
        from dp_resources.ids import VideoKey

        key = VideoKey(platform_id, video_id)
        VideoCatalog(database_url=self.database_url).register(key, str(Path(path).resolve()))
        with self.instance() as instance:
            add_video_partitions(instance, [key.partition_key])
        return key.partition_key

    def dp(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        """Run the ``dp`` command against this home (same environment as the server)."""
        return subprocess.run(
            [sys.executable, "-m", "dp_assets.cli", *args],
            cwd=PROJECT_DIR,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    # -- the server ---------------------------------------------------------------------------

    def start(self) -> "DagsterUI":
        self.prepare()
        self._log = open(self.log_path, "wb")
        command = [sys.executable, "-c", _LAUNCH, "dev", "--profile", self.profile, "--port", str(self.port), "--host", "127.0.0.1"]
        self.proc = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=self.env(), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dp dev exited with {self.proc.returncode} before the UI came up\n{self.log_tail()}")
            try:
                data = self.graphql(WORKSPACE_QUERY, timeout=5)
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last = repr(exc)
                time.sleep(0.5)
                continue
            entries = data["workspaceOrError"].get("locationEntries") or []
            entry = next((e for e in entries if e["name"] == LOCATION), None)
            if entry is None or entry["loadStatus"] != "LOADED" or entry["locationOrLoadError"] is None:
                last = f"location {LOCATION}: {entry and entry['loadStatus']}"
                time.sleep(0.5)
                continue
            loaded = entry["locationOrLoadError"]
            if loaded["__typename"] == "PythonError":
                raise RuntimeError(f"code location {LOCATION} failed to load in the UI: {loaded['message']}")
            return
        raise TimeoutError(f"the UI at {self.url} was not ready after {self.startup_timeout:.0f}s ({last})\n{self.log_tail()}")

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 20) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise ValueError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def run(self, run_id: str) -> dict:
        return self.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]

    def wait_for_run(self, run_id: str, timeout: float = 150) -> dict:
        """Poll until the run is finished; a run stuck in QUEUED means no daemon dequeues it."""
        deadline = time.monotonic() + timeout
        run = self.run(run_id)
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run.get("status") in ("SUCCESS", "FAILURE", "CANCELED"):
                return run
            if self.proc.poll() is not None:
                raise RuntimeError(f"dp dev died while run {run_id} was {run.get('status')}\n{self.log_tail()}")
            time.sleep(1)
        raise TimeoutError(f"run {run_id} still {run.get('status')} after {timeout:.0f}s\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no dp dev log)"
        return "--- dp dev log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """SIGINT (dagster dev stops webserver, daemon and code server), then kill what is left."""
        proc, self.proc = self.proc, None
        if proc is not None:
            import psutil

            try:
                tree = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                tree = []
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # run workers and code servers share the group
            for child in tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "DagsterUI":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


# -- the browser ---------------------------------------------------------------------------------


@contextlib.contextmanager
def browser_context(user_data_dir: Path, width: int = 1600, height: int = 1000, scale: float = 1) -> Iterator[Any]:
    """Debian's Chromium via Playwright, headless, with a fresh profile folder."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no chromium found (apt-get install chromium, or set DP_CHROMIUM)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            device_scale_factor=scale,
        )
        try:
            yield context
        finally:
            context.close()


def dismiss_community_modal(page) -> None:
    """Close the first-visit "Join the Dagster community" modal if it shows anyway."""
    skip = page.get_by_role("button", name="Skip", exact=True)
    if skip.count() and skip.first.is_visible():
        skip.first.click()


def open_asset_lineage(page, url: str, expand: bool = True) -> None:
    """The global asset lineage, every group expanded (groups start collapsed)."""
    page.goto(f"{url}/asset-groups", wait_until="domcontentloaded")
    page.get_by_text("Global asset lineage").first.wait_for()
    graph = page.locator("svg").filter(has=page.locator("foreignObject"))
    graph.first.wait_for()
    dismiss_community_modal(page)
    if expand:
        page.get_by_role("button", name="settings", exact=True).last.click()  # the graph's, not the nav's
        item = page.get_by_role("menuitem", name=re.compile(r"(Expand|Collapse) all groups"))
        if "Expand" in item.inner_text():  # "Collapse" when this browser expanded them before
            item.click()
        page.keyboard.press("Escape")


def graph_box(page, text: str) -> dict:
    """Bounding box of the graph node (asset node or group frame) labelled exactly ``text``."""
    node = page.locator("svg foreignObject").filter(has=page.get_by_text(text, exact=True))
    node.first.wait_for()
    box = node.first.bounding_box()
    assert box is not None, f"graph node {text!r} is not rendered"
    return box


def contains(outer: dict, inner: dict, slack: float = 1.0) -> bool:
    return (
        outer["x"] - slack <= inner["x"]
        and outer["y"] - slack <= inner["y"]
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


_GRAPH_BOUNDS = """() => {
  const svg = [...document.querySelectorAll('svg')].find(s => s.querySelector('foreignObject'));
  let x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9, n = 0;
  svg.querySelectorAll('foreignObject').forEach(f => {
    const r = f.getBoundingClientRect();
    if (!r.width) return;
    n += 1; x0 = Math.min(x0, r.left); y0 = Math.min(y0, r.top); x1 = Math.max(x1, r.right); y1 = Math.max(y1, r.bottom);
  });
  return {x: x0, y: y0, w: x1 - x0, h: y1 - y0, n};
}"""


def _fit_graph(page, expected_nodes: int, margin: float = 24) -> None:
    """Zoom to the largest step at which every node is drawn inside the graph pane, centred.

    Nodes outside the visible canvas are not rendered at all, so "fits" means: all of them are
    in the DOM and their bounding box lies inside the pane.
    """
    toolbar = page.get_by_role("button", name=re.compile("Materialize all")).first.bounding_box()
    viewport = page.viewport_size
    tree_toggle = page.locator('button:has([aria-label^="panel_"])').last.bounding_box()  # left end of the toolbar
    pane = {"x": tree_toggle["x"] - 16, "y": toolbar["y"] + toolbar["height"] + 8}  # right of the navigation
    pane.update(w=viewport["width"] - 60 - pane["x"], h=viewport["height"] - pane["y"])  # left of the zoom controls

    def fits() -> bool:
        graph = page.evaluate(_GRAPH_BOUNDS)
        return (
            graph["n"] >= expected_nodes
            and graph["x"] >= pane["x"] + margin / 2
            and graph["y"] >= pane["y"] + margin / 2
            and graph["x"] + graph["w"] <= pane["x"] + pane["w"] - margin / 2
            and graph["y"] + graph["h"] <= pane["y"] + pane["h"] - margin / 2
        )

    def centre() -> None:
        graph = page.evaluate(_GRAPH_BOUNDS)
        dx = (pane["x"] + pane["w"] / 2) - (graph["x"] + graph["w"] / 2)
        dy = (pane["y"] + pane["h"] / 2) - (graph["y"] + graph["h"] / 2)
        start = (pane["x"] + pane["w"] / 2, pane["y"] + pane["h"] - 4)  # the canvas's bottom edge (empty)
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(start[0] + dx, start[1] + dy, steps=10)
        page.mouse.up()
        page.wait_for_timeout(400)

    def zoom(direction: str) -> None:
        page.get_by_role("button", name=f"zoom_{direction}", exact=True).click()
        page.wait_for_timeout(400)
        centre()

    centre()
    for _ in range(10):
        if fits():
            break
        zoom("out")
    for _ in range(4):  # one step out may have been one too many: back in while it still fits
        zoom("in")
        if not fits():
            zoom("out")
            break


def screenshot_asset_graph(page, ui: DagsterUI, out: Path, vertical: bool = False) -> None:
    """The README picture: the global lineage, every group expanded, fitted, no navigation."""
    nodes = ui.graphql("{ assetNodes { groupName } }")["assetNodes"]
    groups = sorted({n["groupName"] for n in nodes})
    page.goto(f"{ui.url}/asset-groups", wait_until="domcontentloaded")
    page.get_by_text("Global asset lineage").first.wait_for()
    # The UI keeps these view settings in localStorage: set them, then load the page again.
    page.evaluate(
        """([groups]) => {
            localStorage.setItem('asset-graph-open-graph-nodes-global-__GLOBAL__',
                JSON.stringify({expanded: groups.map(g => 'global@global:' + g).join(',')}));
            localStorage.setItem('large-screen-nav-open', 'false');
            localStorage.setItem('dagster-nav-collapsed', 'true');
            localStorage.removeItem('defaultZoom');
        }""",
        [groups],
    )
    page.reload(wait_until="domcontentloaded")
    page.locator("svg foreignObject").first.wait_for()
    dismiss_community_modal(page)
    page.locator('button:has([aria-label="panel_show_right"])').last.click()  # hide the group tree
    if vertical:
        page.get_by_role("button", name="settings", exact=True).last.click()
        page.get_by_role("menuitem", name=re.compile("vertical orientation")).click()
        page.keyboard.press("Escape")
    page.wait_for_timeout(800)
    _fit_graph(page, expected_nodes=len(nodes) + 2 * len(groups))  # a group is drawn as two nodes
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate docs/ui-asset-graph.png from the real UI")
    parser.add_argument("--profile", default="baseline")
    parser.add_argument("--out", default=str(PROJECT_DIR / "docs" / "ui-asset-graph.png"))
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--vertical", action="store_true", help="top-to-bottom layout")
    parser.add_argument("--scale", type=float, default=1.0, help="device scale factor (2 for a sharper picture)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dp-ui-shot-") as tmp:
        with DagsterUI(Path(tmp), args.profile) as ui, browser_context(Path(tmp) / "chromium", args.width, args.height, args.scale) as context:
            page = context.new_page()
            page.set_default_timeout(30_000)
            screenshot_asset_graph(page, ui, Path(args.out), vertical=args.vertical)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
