"""The Dagster UI of our code location, driven in headless Chromium (README: ``dp dev``).

The real ``dp dev`` (webserver + daemon) runs on a throwaway DP_HOME; what the browser shows is
asserted by text and role, and cross-checked through the GraphQL API of the same webserver and
the files DataProcessor writes. The tests run in file order and share the server.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.ui.harness import JOB, LOCATION, DagsterUI, contains, dismiss_community_modal, graph_box, open_asset_lineage, write_profile

pytestmark = pytest.mark.ui

# profiles/skeleton.yaml plus the test-only optional component that always fails
# (tests/fixtures/always_fails.py), by modality; raw_video is the observable source asset.
GROUPS = {
    "core": ["raw_video", "video_probe", "always_fails", "features"],
    "visual": ["frames", "shot_boundaries", "image_stats"],
    "audio": ["audio_waveform", "loudness"],
}
COMPONENTS = {"video_probe", "frames", "shot_boundaries", "image_stats", "audio_waveform", "loudness", "always_fails", "features"}
PROFILE_NAME = "ui_partial_failure"

ASSET_GROUPS_QUERY = "{ assetNodes { assetKey { path } groupName } }"
MATERIALIZATIONS_QUERY = """
query ($partition: String!) { assetNodes { assetKey { path }
    assetMaterializations(partitions: [$partition], limit: 1) { runId partition } } }
"""
CHECKS_QUERY = """
query ($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) { assetChecksOrError { ... on AssetChecks {
    checks { name executionForLatestMaterialization { runId status evaluation { severity success description } } } } } } }
"""


@pytest.fixture(scope="module")
def ui(browser, tmp_path_factory):
    """``dp dev`` with the skeleton profile plus an optional component that always fails.

    One server for every test (each start costs ~15 s): the skeleton's modality groups, a
    partition materialized from the UI, and the WARN check of the optional failure.
    """
    home = tmp_path_factory.mktemp("ui")
    profile = write_profile(
        home / f"{PROFILE_NAME}.yaml",
        base="skeleton",
        name=PROFILE_NAME,
        extra={"always_fails": {"optional": True}},
        modules=["tests.fixtures.always_fails"],
    )
    with DagsterUI(home, str(profile)) as server:
        yield server


@pytest.fixture(scope="module")
def launched() -> dict:
    """What one test leaves for a later one (the run launched from the UI)."""
    return {}


def test_asset_graph_is_grouped_by_modality(page, ui):
    open_asset_lineage(page, ui.url)

    group_boxes = {group: graph_box(page, group) for group in GROUPS}
    for group, assets in GROUPS.items():
        for asset in assets:
            box = graph_box(page, asset)  # the node is drawn, with its name ...
            inside = [g for g, frame in group_boxes.items() if contains(frame, box)]
            assert inside == [group], f"{asset} is drawn inside {inside or 'no group'}, expected the {group} group"

    # ... and the webserver serves the page the same grouping.
    served = {n["assetKey"]["path"][-1]: n["groupName"] for n in ui.graphql(ASSET_GROUPS_QUERY)["assetNodes"]}
    expected = {asset: group for group, assets in GROUPS.items() for asset in assets}
    assert {asset: served.get(asset) for asset in expected} == expected


def test_materialize_a_video_partition_from_the_ui(page, ui, media, launched):
    video_id = "park_ui"
    partition = ui.register_video(media("park_0p55s.mp4"), video_id)  # what dp process does before its run

    # Jobs > process_video > Materialize all… > Custom partition: the video > Launch 1 run.
    page.goto(f"{ui.url}/locations/{LOCATION}/jobs/{JOB}", wait_until="domcontentloaded")
    dismiss_community_modal(page)
    page.get_by_role("button", name=re.compile(r"Materialize all")).click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    dialog.get_by_text("Select a partition or create one").click()
    picker = page.get_by_role("dialog").filter(has=page.get_by_placeholder("Filter partitions"))
    picker.get_by_placeholder("Filter partitions").fill(video_id)
    picker.get_by_text(partition, exact=True).first.click()
    page.keyboard.press("Escape")  # closes the partition picker, not the launch dialog
    dialog.get_by_text("1 partition", exact=True).wait_for()
    dialog.get_by_role("button", name="Launch 1 run").click()

    # The toast links to the run; the run page follows it live.
    page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}")).wait_for()
    page.get_by_role("link", name="View", exact=True).first.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    run_id = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)
    launched.update(run_id=run_id, video_id=video_id)

    run = ui.wait_for_run(run_id, timeout=150)  # a run left QUEUED means no daemon dequeues it
    assert run["status"] == "SUCCESS", f"run {run_id} ended {run['status']}\n{ui.log_tail()}"
    page.get_by_text("Success", exact=True).first.wait_for(timeout=30_000)  # the run page says so too
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert run["jobName"] == JOB and tags["dagster/partition"] == partition and tags["dagster/from_ui"] == "true"
    assert tags["dataprocessor/profile"] == PROFILE_NAME
    assert tags["dataprocessor/partial_failure"] == "always_fails"  # optional failure: run stays green

    # Every component of the profile materialized this partition in this run.
    nodes = ui.graphql(MATERIALIZATIONS_QUERY, {"partition": partition})["assetNodes"]
    by_run = {n["assetKey"]["path"][-1] for n in nodes if any(m["runId"] == run_id for m in n["assetMaterializations"])}
    assert by_run == COMPONENTS


def test_warn_check_of_a_partial_failure_is_visible(page, ui, media):
    result = ui.dp("process", str(media("obama_statement_face_speech.mp4")), "--video-id", "obama", "--profile", ui.profile)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PARTIAL FAILURE: optional component(s) failed: always_fails" in result.stdout, result.stdout

    # Catalog > always_fails > Checks > succeeded
    page.goto(f"{ui.url}/assets/always_fails", wait_until="domcontentloaded")
    dismiss_community_modal(page)
    page.get_by_role("tab", name="Checks").click()
    page.get_by_text("succeeded", exact=True).first.click()
    page.wait_for_url(re.compile(r"checkDetail=succeeded"))
    page.get_by_text("WARN when this optional component failed (partial failure)").wait_for()
    page.get_by_text("partial failure: optional component failed: RuntimeError: simulated failure while analysing obama").wait_for()
    # The UI draws a failed check of severity WARN as a yellow "Failed" tag with the warning icon
    # (ERROR: a red "cancel" icon); the latest evaluation's tag is the page's last "Failed".
    result_tag = page.get_by_text("Failed", exact=True).last
    result_tag.wait_for()
    icon = result_tag.evaluate("e => e.parentElement.querySelector('[role=img]')?.getAttribute('aria-label')")
    assert icon == "warning_outline", f"the failed check is drawn with icon {icon!r}, not as a warning"
    assert page.locator('[role=img][aria-label="cancel"]').count() == 0

    # What the page is drawn from: failed, severity WARN, from the dp process run, which is green.
    node = ui.graphql(CHECKS_QUERY, {"path": ["always_fails"]})["assetNodes"][0]
    checks = {c["name"]: c["executionForLatestMaterialization"] for c in node["assetChecksOrError"]["checks"]}
    warn = checks["succeeded"]
    assert warn["status"] == "FAILED" and warn["evaluation"]["severity"] == "WARN" and warn["evaluation"]["success"] is False
    assert "simulated failure while analysing obama" in warn["evaluation"]["description"]
    assert checks["empty_reason_valid"]["status"] == "SUCCEEDED"
    run = ui.run(warn["runId"])
    assert run["status"] == "SUCCESS"
    assert {"key": "dataprocessor/partial_failure", "value": "always_fails"} in run["tags"]


def test_ui_run_gets_its_manifest_from_the_sensor(ui, launched):
    """README: runs launched from the UI get manifest.json from manifest_on_success (daemon)."""
    if "run_id" not in launched:
        pytest.fail("no run was launched from the UI: see test_materialize_a_video_partition_from_the_ui")
    run_id, video_id = launched["run_id"], launched["video_id"]
    path = ui.dp_home / "artifacts" / "local" / video_id / "runs" / run_id / "manifest.json"
    deadline = time.monotonic() + 75  # the sensor is evaluated every 30 s
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(1)
    assert path.is_file(), f"no manifest from the manifest_on_success sensor at {path}\n{ui.log_tail()}"
    manifest = json.loads(path.read_text())
    assert manifest["run_status"] == "ok" and manifest["partial_failures"] == ["always_fails"]
    assert {c["component"] for c in manifest["components"]} == COMPONENTS
    assert all(c["cache_hit"] is False for c in manifest["components"])
