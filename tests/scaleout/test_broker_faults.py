"""The broker going away in Celery mode: a run whose broker restarts mid-step fails with a message
naming the broker (instead of waiting forever for a result the restart lost), the worker does not
execute the step again for the ended run, and the next run succeeds on the same worker; a run
whose broker cannot be reached fails at once, naming it.

The broker is a RabbitMQ node of this test's own (restarting the machine's broker would disturb
everything else using it); runs are executed by a process of their own, as a warm run worker
executes them.
"""

import os
import socket
from pathlib import Path

import dagster as dg
import pytest

from tests.scaleout.harness import (
    Database,
    HarnessError,
    PrivateBroker,
    celery_env,
    dp_worker,
    register_and_launch,
    step_executions,
    wait_until,
    worker_ready,
)

PROFILE = Path(__file__).with_name("celery_profile.yaml")
GPU_STAGE = "core_video_probe_stage"
TIMEOUT = 180


def _failure(instance, run_id: str) -> str:
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.event_type_value == "PIPELINE_FAILURE":
            error = event.event_specific_data.error
            return f"{entry.message} {error.message if error else ''}"
    return ""


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    broker = database = worker = instance = None
    try:
        broker, database = PrivateBroker(), Database()
        weights = tmp_path / "weights.bin"
        weights.write_bytes(os.urandom(4096))
        env = celery_env(tmp_path, broker.url, database.url, str(PROFILE), DP_TEST_WEIGHTS=str(weights))
        monkeypatch.setenv("DAGSTER_PG_URL", database.url)
        worker = dp_worker("r", env, tmp_path)
        wait_until("the dp worker", lambda: worker_ready(worker), TIMEOUT, on_timeout=worker.tail)
        instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
        yield broker, env, worker, instance, tmp_path
    except HarnessError as exc:
        pytest.fail(str(exc))
    finally:
        for thing in (worker,):
            if thing is not None:
                thing.stop()
        if instance is not None:
            instance.dispose()
        if broker is not None:
            broker.stop()
        if database is not None:
            database.drop()


def test_a_broker_restart_mid_run_fails_the_run_naming_the_broker_and_the_next_run_succeeds(deployment, media):
    broker, env, worker, instance, root = deployment
    first = register_and_launch(env, root, media("park_0p55s.mp4"), "yt/park")

    def gpu_stage_started():
        runs = instance.get_runs()
        return runs[0].run_id if runs and any(e.step_key == GPU_STAGE for e in step_executions(instance, runs[0].run_id)) else None

    try:
        run_id = wait_until("the first step on the worker", gpu_stage_started, TIMEOUT, 0.2, on_timeout=lambda: first.tail() + worker.tail())
        broker.restart()  # naps_on_gpu is computing: its result would travel through the broker
        wait_until("the run's process to end", lambda: not first.alive(), TIMEOUT, on_timeout=lambda: first.tail() + worker.tail())
    finally:
        first.stop()

    run = instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    message = _failure(instance, run_id)
    assert f"the Celery broker amqp://guest:**@127.0.0.1:{broker.port}//" in message and "unreachable or restarted" in message, message
    # the step delivered again after the restart is not executed for the ended run
    skipped = lambda: any("the run ended (FAILURE) before this task was delivered again" in (e.message or "") for e in instance.all_logs(run_id))  # noqa: E731
    wait_until("the redelivered step to be dropped", skipped, TIMEOUT, on_timeout=worker.tail)

    second = register_and_launch(env, root, media("carphone_qcif_face_noaudio.mp4"), "yt/car")
    try:
        wait_until("the next run", lambda: not second.alive(), TIMEOUT, on_timeout=lambda: second.tail() + worker.tail())
    finally:
        second.stop()
    assert second.process.returncode == 0, second.tail() + worker.tail()
    assert worker.alive()


def test_a_run_whose_broker_is_unreachable_fails_at_once_naming_it(tmp_path, monkeypatch, media):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    database = Database()
    try:
        env = celery_env(tmp_path, f"amqp://guest:secret@127.0.0.1:{port}//", database.url, "skeleton")
        monkeypatch.setenv("DAGSTER_PG_URL", database.url)
        run = register_and_launch(env, tmp_path, media("park_0p55s.mp4"), "yt/park")
        try:
            wait_until("the run's process to end", lambda: not run.alive(), 120, on_timeout=run.tail)
        finally:
            run.stop()
        instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
        (record,) = instance.get_runs()
        assert record.status == dg.DagsterRunStatus.FAILURE
        message = _failure(instance, record.run_id)
        instance.dispose()
    finally:
        database.drop()
    assert f"the Celery broker amqp://guest:**@127.0.0.1:{port}// is unreachable" in message and "secret" not in message, message
