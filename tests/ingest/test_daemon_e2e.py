"""End to end on PostgreSQL: the real ``dagster-daemon`` with the production instance file
(``deploy/dagster-postgres.yaml``) picks up four videos dropped into the bucket folder in one
tick, one of them broken. They are processed together by one run in a warm worker: the three
good videos end materialized with their manifests, the broken one fails its partition and its
check with the decoder's reason, and nothing more is launched, also after a daemon restart."""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from dp_assets.ingest.sensor import BUCKET_SENSOR
from dp_assets.partitions import VIDEO_PARTITIONS_NAME
from dp_resources import ArtifactStore
from tests.conftest import POSTGRES_URL

PROJECT = Path(__file__).resolve().parents[2]
SENSOR_TAG = "dagster/sensor_name"
# Bounded waits (s): the daemon starts a code server, then each run is a fresh process on 2 cores.
START_TIMEOUT = 120
RUNS_TIMEOUT = 300
# run-status sensors tick every 30 s by default, so the manifests follow the runs within ~35 s
MANIFEST_TIMEOUT = 120
TICK_TIMEOUT = 90
VIDEOS = {"park": "park_0p55s.mp4", "car": "carphone_qcif_face_noaudio.mp4", "phone": "phone_rot180_vfr.mp4", "broken": "bbb_h264_aac51_TRUNCATED.mp4"}
GOOD = {"yt/park", "yt/car", "yt/phone"}


def wait_for(what: str, predicate, timeout: float, daemon: "Daemon", every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if daemon.process.poll() is not None:
            pytest.fail(f"dagster-daemon exited ({daemon.process.returncode}) while waiting for {what}\n{daemon.tail()}")
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{daemon.tail()}")


class Daemon:
    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log = env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        executable = Path(sys.executable).with_name("dagster-daemon")
        command = [str(executable)] if executable.exists() else [sys.executable, "-m", "dagster._daemon"]
        handle = open(self.log, "ab")
        self.process = subprocess.Popen(
            [*command, "run", "-w", str(PROJECT / "workspace.yaml")],
            cwd=PROJECT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the code server and runs go with it
        )
        handle.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "--- dagster-daemon log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def pg_database():
    name = f"dp_e2e_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable (.ci/run starts it): {exc}")
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def sensor_ticks(instance: dg.DagsterInstance, name: str) -> list:
    states = [s for s in instance.all_instigator_state() if s.instigator_name == name]
    return [t for s in states for t in instance.get_ticks(s.instigator_origin_id, s.selector_id)]


def test_daemon_processes_a_tick_of_videos_in_a_warm_worker_and_fails_only_the_broken_one(tmp_path, pg_database, media, monkeypatch):
    dagster_home, dp_home, bucket = tmp_path / "dagster_home", tmp_path / "dp_home", tmp_path / "bucket"
    dagster_home.mkdir()
    bucket.mkdir()
    shutil.copyfile(PROJECT / "deploy" / "dagster-postgres.yaml", dagster_home / "dagster.yaml")
    settings = {
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_URL": pg_database,
        "DP_DATABASE_URL": pg_database,
        "DP_HOME": str(dp_home),
        "DP_BUCKET_URL": str(bucket),
        "DP_BUCKET_SENSOR_INTERVAL_S": "2",
        "DP_PROFILE": "skeleton",
        "DP_DEVICE": "cpu",
        "DP_PRECISION": "fp32",
        "DP_WORKERS": "1",
        "PYTHONPATH": str(PROJECT),
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    daemon = Daemon({**os.environ, **settings}, tmp_path / "daemon.log")
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        daemon.start()
        wait_for("the bucket sensor's first tick", lambda: sensor_ticks(instance, BUCKET_SENSOR), START_TIMEOUT, daemon)
        wait_for("the warm worker", lambda: any((dagster_home / "workers").glob("*.log")), START_TIMEOUT, daemon)
        (bucket / "yt").mkdir()
        for video_id, name in VIDEOS.items():
            shutil.copyfile(media(name), bucket / "yt" / f"{video_id}.mp4")

        expected = {f"yt/{v}" for v in VIDEOS}
        wait_for("the partitions", lambda: set(instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME)) == expected, TICK_TIMEOUT, daemon)

        def finished_runs():
            runs = instance.get_runs(filters=dg.RunsFilter(tags={SENSOR_TAG: BUCKET_SENSOR}))
            return runs if runs and all(r.is_finished for r in runs) else None

        runs = wait_for("the run to finish", finished_runs, RUNS_TIMEOUT, daemon, every=2)
        (run,) = runs  # arrived in one tick: one batch run (one warm worker)
        assert run.tags["dataprocessor/batch_size"] == "4" and run.tags["dataprocessor/launcher"] == "warm worker"
        assert run.status == dg.DagsterRunStatus.FAILURE  # because one of its videos failed, and only that one
        assert set(instance.get_materialized_partitions(dg.AssetKey("features"))) == GOOD
        checks = instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey("video_probe"), "succeeded"), limit=10)
        verdicts = {c.evaluation.partition: c.evaluation for c in checks if c.evaluation is not None}
        assert {p for p, e in verdicts.items() if not e.passed} == {"yt/broken"} and set(verdicts) == expected
        assert "moov atom not found" in verdicts["yt/broken"].description
        failure = next(e for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.event_type_value == "STEP_FAILURE")
        assert "1 of 4 videos failed (3 ok)" in failure.dagster_event.step_failure_data.user_failure_data.description

        store = ArtifactStore(root=str(dp_home / "artifacts"), frames_root=str(dp_home / "frames"))
        manifests = {v: store.run_dir("yt", v, run.run_id) / "manifest.json" for v in VIDEOS}
        assert all(path.is_file() for path in manifests.values()), "every video's manifest is written by the run itself"
        assert '"run_status": "error"' in manifests["broken"].read_text() and '"run_status": "ok"' in manifests["park"].read_text()

        done_at = time.time()
        wait_for(
            "two bucket-sensor ticks after the run",
            lambda: len([t for t in sensor_ticks(instance, BUCKET_SENSOR) if t.timestamp > done_at and t.status.value != "STARTED"]) >= 2,
            TICK_TIMEOUT,
            daemon,
        )
        later = [t for t in sensor_ticks(instance, BUCKET_SENSOR) if t.timestamp > done_at and t.status.value != "STARTED"]
        assert all(t.status.value == "SKIPPED" and "4 already decided" in t.skip_reason for t in later), [
            (t.status, t.skip_reason) for t in later
        ]

        daemon.stop()
        restarted_at = time.time()
        daemon.start()
        wait_for(
            "a bucket-sensor tick after the restart",
            lambda: any(t.timestamp > restarted_at for t in sensor_ticks(instance, BUCKET_SENSOR)),
            START_TIMEOUT,
            daemon,
        )
        assert len(instance.get_runs(filters=dg.RunsFilter(tags={SENSOR_TAG: BUCKET_SENSOR}))) == 1
    finally:
        daemon.stop()
        instance.dispose()
