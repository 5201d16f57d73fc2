"""``dp doctor`` finds what crashes left and ``--repair`` fixes it, never touching what a live
process owns."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg

from dp_assets import run_tags
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.ids import VideoKey

PROJECT = Path(__file__).resolve().parent.parent


def dp(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DP_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run([sys.executable, "-m", "dp_assets.cli", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def test_doctor_finds_and_repairs_what_crashes_left(tmp_path, media):
    home = tmp_path / "home"
    for video, clip in (("a", "park_0p55s.mp4"), ("b", "carphone_qcif_face_noaudio.mp4")):
        assert dp(home, "process", str(media(clip)), "--video-id", video, "--profile", "skeleton").returncode == 0
    assert dp(home, "doctor").stdout.strip() == "dp doctor: nothing to report"

    # what crashes leave
    loudness = next((home / "artifacts" / "local" / "a" / "loudness").iterdir())
    staging = loudness.with_name(f".{loudness.name}.{'a' * 32}.staging")
    shutil.copytree(loudness, staging)  # a commit killed before its rename
    busy = home / "artifacts" / "local" / "b" / "frames" / f".x.{'b' * 32}.staging"
    busy.mkdir()  # b is being computed right now (its lock is held below)
    orphan = home / "artifacts" / "ghost" / "gone"
    orphan.mkdir(parents=True)
    shutil.rmtree(next((home / "artifacts" / "local" / "a" / "image_stats").iterdir()))  # its index row now dangles
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        dead = instance.create_run_for_job(
            dg.JobDefinition(graph_def=dg.GraphDefinition(name="crashed", node_defs=[])),
            status=dg.DagsterRunStatus.STARTED,
            tags={run_tags.OWNER_PID: "999999", run_tags.OWNER_STARTED: "1.00", run_tags.OWNER_HOST: os.uname().nodename},
        )

    report = dp(home, "doctor")
    assert report.returncode == 1, report.stdout + report.stderr
    kinds = {line.split("  ")[0] for line in report.stdout.splitlines()[2:] if line and not line[0].isdigit()}
    assert {"stale run", "leftover", "orphan artifacts", "dangling index row"} <= kinds, report.stdout
    assert "run `dp doctor --repair`" in report.stdout

    index = ArtifactIndex(database_url=f"sqlite:///{home / 'dataprocessor.db'}")
    os.environ["DP_HOME"] = str(home)  # where the lock files of that index live
    try:
        with index.video_lock(VideoKey("local", "b")):
            repaired = dp(home, "doctor", "--repair")
    finally:
        del os.environ["DP_HOME"]
    assert repaired.returncode == 1, repaired.stdout  # b's leftover is in use: one finding left
    assert f"{busy}: kept, its video is being computed right now" in repaired.stdout
    assert not staging.exists() and not orphan.exists() and busy.exists()
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE

    final = dp(home, "doctor", "--repair")  # b is free now
    assert final.returncode == 0 and not busy.exists(), final.stdout
    assert dp(home, "doctor").stdout.strip() == "dp doctor: nothing to report"
    # the repaired home still serves and computes
    again = dp(home, "process", str(media("park_0p55s.mp4")), "--video-id", "a", "--profile", "skeleton")
    assert again.returncode == 0 and "image_stats" in again.stdout


def test_an_instance_file_from_an_older_template_is_updated_unless_edited(tmp_path):
    """Warm workers, the queue's period and run monitoring live in dagster.yaml: a home made by
    an older version gets this version's file when nobody edited it, and otherwise is told how."""
    from dp_resources.settings import PROJECT_DIR, install_instance_yaml

    home = tmp_path / "home"
    dagster_home = home / "dagster"
    template = (PROJECT_DIR / "dagster.yaml").read_text()
    older = tmp_path / "older.yaml"
    older.write_text(template.replace("dequeue_interval_s: 0.5", "dequeue_interval_s: 1.0"))
    assert older.read_text() != template

    install_instance_yaml(older, dagster_home)  # what an older version installed, untouched since
    first = dp(home, "doctor")  # any command that opens the instance
    assert first.returncode == 0 and first.stdout.strip() == "dp doctor: nothing to report", first.stdout + first.stderr
    assert f"dp: updated {dagster_home / 'dagster.yaml'} to this version's instance template dagster.yaml" in first.stderr
    assert "dequeue_interval_s: 0.5" in (dagster_home / "dagster.yaml").read_text()
    assert "dp: updated" not in dp(home, "doctor").stderr  # once

    edited = (dagster_home / "dagster.yaml").read_text().replace("dequeue_interval_s: 0.5", "dequeue_interval_s: 2.0")
    (dagster_home / "dagster.yaml").write_text(edited)  # the user's own setting
    assert (dagster_home / "dagster.yaml").read_text() == edited, "an edited instance file is never replaced silently"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dp_assets.cli", "daemon", "--profile", "skeleton"],
        cwd=PROJECT,
        env={**{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}, "DP_HOME": str(home), "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        note = daemon.stderr.readline()  # the daemon starts on that file, and says so first
    finally:
        # SIGKILL, not SIGTERM: this test is about the note, and dagster-daemon signalled while it
        # is still starting can keep running (seen on a slow machine: still spawning code servers
        # 12 min later); the process group takes the warm worker and the code server with it.
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.communicate(timeout=60)
    assert "is not this version's instance template" in note and "`dp migrate` replaces it" in note, note
    report = dp(home, "doctor")
    assert "instance file" in report.stdout and "`dp migrate` replaces it, keeps a copy" in report.stdout, report.stdout

    migrated = dp(home, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    (kept,) = dagster_home.glob("dagster.yaml.*.bak")
    assert kept.read_text() == edited and f"the previous file is {kept}" in migrated.stdout
    assert "dequeue_interval_s: 0.5" in (dagster_home / "dagster.yaml").read_text()
    assert "instance file" not in dp(home, "doctor").stdout
