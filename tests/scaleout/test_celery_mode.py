"""Choosing Celery mode by environment: the definitions it builds (one step per stage, GPU stages on
queue ``gpu``, the Celery executor), the default that needs no broker, the one-line errors when the
state every machine reads is not shared, and ``dp process``, which keeps computing in its own
process."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dp_assets.assembly import PROCESS_VIDEO_JOB, build_definitions
from dp_assets.cli import main
from dp_assets.profiles import load_profile
from dp_assets.scaleout.queues import QUEUE_TAG
from dp_resources.settings import SettingsError

PROJECT = Path(__file__).resolve().parents[2]
PROFILE = Path(__file__).with_name("celery_profile.yaml")
SHARED = {
    "DP_DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/dp",
    "DAGSTER_PG_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/dp",
    "DP_SHARED_HOME": "true",
}
LOCAL = "/var/lock/dataprocessor-test"  # a GPU lock folder outside DP_HOME (never created: no GPU here)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A deployment whose variables the test sets; nothing else of this process's environment."""
    for variable in [v for v in os.environ if v.startswith(("DP_", "DAGSTER_"))]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("DP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DP_TEST_WEIGHTS", str(PROJECT / "tests" / "fixtures" / "model_user.py"))  # any file: a weight
    return monkeypatch


def _postgres_instance(tmp_path: Path, env) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(PROJECT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    env.setenv("DAGSTER_HOME", str(home))


def _job(**kwargs):
    return build_definitions(load_profile(str(PROFILE)), **kwargs).resolve_job_def(PROCESS_VIDEO_JOB)


def test_the_default_executes_in_process_one_step_per_video(env):
    job = _job()
    assert job.executor_def.name == "in_process"
    assert [node.name for node in job.nodes] == ["video_step"]


def test_celery_mode_splits_a_video_into_stages_with_gpu_stages_on_queue_gpu(tmp_path, env):
    _postgres_instance(tmp_path, env)
    for variable, value in {**SHARED, "DP_EXECUTOR": "celery", "DP_GPU_LOCK_DIR": str(tmp_path / "locks")}.items():
        env.setenv(variable, value)
    job = _job()
    assert job.executor_def.name == "celery"
    queues = {node.name: node.definition.tags[QUEUE_TAG] for node in job.nodes}
    assert queues == {
        "core_video_probe_stage": "gpu",  # model_user and naps_on_gpu use the GPU
        "visual_frames_stage": "cpu",
        "audio_audio_waveform_stage": "cpu",
        "features_step": "cpu",
    }
    # the same settings, another executor asked for by the caller: one step per video again
    assert [node.name for node in _job(executor="in_process").nodes] == ["video_step"]


@pytest.mark.parametrize(
    "settings, named",
    [
        ({}, ["DP_INSTANCE=postgres and DAGSTER_PG_URL", "DP_DATABASE_URL=postgresql", "DP_SHARED_HOME=true"]),
        ({"DP_DATABASE_URL": SHARED["DP_DATABASE_URL"], "DP_SHARED_HOME": "true", "DP_GPU_LOCK_DIR": LOCAL}, ["DP_INSTANCE=postgres and DAGSTER_PG_URL"]),
        ({"postgres_instance": True, "DP_SHARED_HOME": "true", "DP_GPU_LOCK_DIR": LOCAL}, ["DP_DATABASE_URL=postgresql"]),
        ({"postgres_instance": True, "DP_DATABASE_URL": SHARED["DP_DATABASE_URL"]}, ["DP_SHARED_HOME=true"]),
        # the default lock folder is inside the shared DP_HOME: GPU slots would span machines
        ({"postgres_instance": True, **SHARED}, ["DP_GPU_LOCK_DIR"]),
    ],
)
def test_celery_mode_without_shared_state_is_a_one_line_error_naming_what_to_set(tmp_path, env, capsys, settings, named):
    settings = dict(settings)
    if settings.pop("postgres_instance", False):
        _postgres_instance(tmp_path, env)
    for variable, value in {**settings, "DP_EXECUTOR": "celery"}.items():
        env.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        _job()  # the code location, as the daemon or the UI loads it
    message = str(raised.value)
    assert "\n" not in message and message.startswith("DP_EXECUTOR=celery needs state that every machine shares")
    assert all(text in message for text in named), message
    assert len(message.split("; ")) == len(named), message

    for command in (["worker"], ["dev"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err == f"dp: error: {message}\n"


def test_dp_worker_needs_celery_mode(env, capsys):
    assert main(["worker", "--queues", "cpu"]) == 2
    assert capsys.readouterr().err.startswith("dp: error: dp worker executes steps of DP_EXECUTOR=celery runs: set DP_EXECUTOR=celery")


def test_dp_process_in_celery_mode_computes_batches_in_its_own_process(tmp_path, media):
    # no broker, no shared state: dp process runs its batch in this process, as always
    env = {**os.environ, "DP_HOME": str(tmp_path), "DP_EXECUTOR": "celery", "DP_CELERY_BROKER_URL": "amqp://nobody@127.0.0.1:9//"}
    env.pop("DAGSTER_HOME", None)
    clips = [str(media("park_0p55s.mp4")), str(media("carphone_qcif_face_noaudio.mp4"))]
    result = subprocess.run(
        [sys.executable, "-m", "dp_assets.cli", "process", *clips, "--profile", "skeleton"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "dp process computes on this machine" in result.stderr
    assert "2 ok" in result.stdout, result.stdout
