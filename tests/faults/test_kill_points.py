"""``kill -9`` at six points of a request: the next request succeeds, recomputes only what had not
finished (counted from its manifest), and never reads a partial artifact."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dp_assets.cache import check_artifact
from dp_assets.manifest import Manifest
from dp_assets.profiles import load_profile
from dp_resources.artifact_store import ArtifactStore
from dp_resources.ids import VideoKey
from dp_resources.video_catalog import VideoCatalog

PROJECT = Path(__file__).resolve().parents[2]
CLIP = "park_0p55s.mp4"
ORDER = list(load_profile("skeleton").components)


def from_on(name: str) -> set[str]:
    return set(ORDER[ORDER.index(name) :])


POINTS = {
    # point: what the next request must compute
    "after_component:video_probe": from_on(ORDER[1]),  # a stage boundary: the probe is done
    "after_component:frames": from_on(ORDER[ORDER.index("frames") + 1]),
    "in_component:image_stats": from_on("image_stats"),  # computed, never committed
    "in_commit:loudness": from_on("loudness"),  # staged, never renamed into place
    "in_manifest": set(),  # every artifact done; half a temporary manifest
    "before_index": set(),  # the run finished; its index row was never written
}


@pytest.mark.parametrize("point", list(POINTS))
def test_a_request_killed_at_this_point_is_finished_by_the_next_one(point, tmp_path, media):
    home = tmp_path / "home"
    env = {**os.environ, "DP_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)
    killed = subprocess.run(
        [sys.executable, "-m", "tests.faults.kill_points", point, str(media(CLIP)), "v", "skeleton"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]

    # the next request, through dp process as a user runs it
    again = subprocess.run(
        [sys.executable, "-m", "dp_assets.cli", "process", str(media(CLIP)), "--video-id", "v", "--profile", "skeleton"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "served from cache" not in again.stdout.splitlines()[0], "a killed request cannot be cached"

    store = ArtifactStore(root=str(home / "artifacts"), frames_root=str(home / "frames"))
    catalog = VideoCatalog(database_url=f"sqlite:///{home / 'dataprocessor.db'}")
    manifest_path = Path(again.stdout.strip().splitlines()[-1].removeprefix("manifest: "))
    manifest = Manifest.model_validate_json(manifest_path.read_text())
    computed = {c.component for c in manifest.components if not c.cache_hit}
    assert computed == POINTS[point], (point, computed)
    video = catalog.get(VideoKey("local", "v"))
    for entry in manifest.components:
        verdict = check_artifact(store, video, entry.component, entry.artifact_version, thorough=True)
        assert verdict.valid, (entry.component, verdict.reason)
    assert store.leftovers(VideoKey("local", "v")) == [], "what the killed request left was swept"
    # and now it is cached
    third = subprocess.run(
        [sys.executable, "-m", "dp_assets.cli", "process", str(media(CLIP)), "--video-id", "v", "--profile", "skeleton"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert third.returncode == 0 and "served from cache" in third.stdout.splitlines()[0]
