"""``dp serve`` as a user runs it: a resident process, and ``dp process`` commands that hand it
their videos. Models load once in the server, whatever the number of commands; Ctrl-C in a client
stops its request after the current component and leaves the server serving; a client whose
settings differ computes in its own process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.faults.processes import interrupt_during, wait_for_staging

PROJECT = Path(__file__).resolve().parents[2]
MODELS_PROFILE = (
    "name: models\nsampling: {version: '1', fps: 1.0, max_frames: 20, max_side: 320}\n"
    "components: {video_probe: {}, frames: {}, faces: {}, audio_waveform: {}, voice_activity: {}}\n"
)
NAPS_PROFILE = (
    "name: naps\nsampling: {version: '1', fps: 1.0, max_frames: 10, max_side: 64}\n"
    "component_modules: [tests.fixtures.naps_on_gpu]\ncomponents: {video_probe: {}, naps_on_gpu: {}}\n"
)


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DP_HOME": str(home), "PYTHONWARNINGS": "ignore", **extra}
    env.pop("DAGSTER_HOME", None)
    return env


def dp(home: Path, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dp_assets.cli", *args], cwd=PROJECT, env=env_for(home, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


class Server:
    def __init__(self, home: Path, profile: str, log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dp_assets.cli", "serve", "--no-warm-up", "--profile", profile],
            cwd=PROJECT,
            env=env_for(home),
            stdout=open(log, "wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while "dp serve: ready" not in self.output():
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.2)
        self.pid = self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, signo=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signo)
        return self.proc.wait(timeout=60)


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(home: Path, profile: str) -> Server:
        servers.append(Server(home, profile, tmp_path / f"serve{len(servers)}.log"))
        return servers[-1]

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def test_commands_hand_their_videos_to_the_server_which_loads_each_model_once(tmp_path, media, serve):
    home = tmp_path / "home"
    profile = tmp_path / "models.yaml"
    profile.write_text(MODELS_PROFILE)
    server = serve(home, str(profile))
    assert server.output().count("loaded model") == 2  # libfacedetection and silero_vad, before ready

    first = dp(home, "process", str(media("obama_statement_face_speech.mp4")), "--profile", str(profile))
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out + err
    assert f"computed by dp serve (pid {server.pid})" in out.splitlines()[0]
    faces = next(line for line in out.splitlines() if line.startswith("faces"))
    assert faces.split()[2] == "ok"  # Obama's face, found by the server's model
    manifest = Path(out.splitlines()[-1].removeprefix("manifest: "))
    assert manifest.is_file()

    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 10)
    batch = dp(home, "process", str(media("park_0p55s.mp4")), str(media("carphone_qcif_face_noaudio.mp4")), str(text), "--profile", str(profile))
    out, err = batch.communicate(timeout=300)
    assert batch.returncode == 1, out + err
    lines = out.splitlines()
    assert any(line.startswith("ok      local/park_0p55s") for line in lines)
    assert any(line.startswith("ok      local/carphone_qcif_face_noaudio") for line in lines)
    assert any(line.startswith("FAILED  local/notes") for line in lines)
    reason = next(line for line in lines if line.startswith("  local/notes: "))  # the summary's full reason
    assert "Invalid data found when processing input" in reason
    assert f"2 ok, 0 partial, 1 failed, 0 cached" in out and f"computed by dp serve (pid {server.pid})" in out
    assert "Traceback" not in out + err

    # Three commands, four videos: each model was loaded once, by the server, before it was ready.
    assert server.output().count("loaded model") == 2, server.output()
    # The runs are the instance's own, as if dp process had executed them.
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert len(instance.get_runs()) == 2
        assert set(instance.get_dynamic_partitions("video")) >= {"local/obama_statement_face_speech", "local/park_0p55s"}

    # A cached request is answered by the client from the index, without the server.
    cached = dp(home, "process", str(media("park_0p55s.mp4")), "--profile", str(profile))
    out, _ = cached.communicate(timeout=60)
    assert cached.returncode == 0 and "served from cache" in out.splitlines()[0]

    assert server.stop() == 0
    assert not (home / "serve.sock").exists()


def test_ctrl_c_in_a_client_stops_its_request_and_the_server_goes_on(tmp_path, media, serve):
    home = tmp_path / "home"
    profile = tmp_path / "naps.yaml"
    profile.write_text(NAPS_PROFILE)
    server = serve(home, str(profile))
    proc = dp(home, "process", str(media("park_0p55s.mp4")), str(media("carphone_qcif_face_noaudio.mp4")), "--profile", str(profile))
    interrupt_during(home, "park_0p55s", "naps_on_gpu", proc)  # as without a server
    assert not (home / "artifacts" / "local" / "carphone_qcif_face_noaudio" / "naps_on_gpu").exists()

    again = dp(home, "process", str(media("carphone_qcif_face_noaudio.mp4")), "--profile", str(profile))
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert f"computed by dp serve (pid {server.pid})" in out.splitlines()[0]
    assert server.proc.poll() is None


def test_a_client_with_other_settings_computes_in_its_own_process(tmp_path, media, serve):
    home = tmp_path / "home"
    serve(home, "skeleton")
    proc = dp(home, "process", str(media("park_0p55s.mp4")), "--profile", "skeleton", DP_CACHE_TTL_DAYS="1")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "runs with other settings (cache_ttl_days); restart it with this environment; computing in this process" in err
    assert "computed by dp serve" not in out


def test_one_server_per_home_and_a_stale_socket_is_taken_over(tmp_path, serve):
    home = tmp_path / "home"
    first = serve(home, "skeleton")
    second = dp(home, "serve", "--no-warm-up", "--profile", "skeleton")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2 and f"dp serve already runs for DP_HOME {home}" in err
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert (home / "serve.sock").exists()  # left behind by the killed server
    # a client finds nobody behind it and computes itself; a new server takes the socket over
    proc = dp(home, "process", str(PROJECT / "demo" / "big_buck_bunny_5s.mp4"), "--profile", "skeleton")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "computed by dp serve" not in out, out + err
    serve(home, "skeleton").stop()


def test_a_bad_profile_is_one_line_naming_the_field(tmp_path):
    profile = tmp_path / "bad.yaml"
    profile.write_text("name: bad\nsampling: {version: '1', fps: 1, max_frames: 0, max_side: 64}\ncomponents: {video_probe: {}}\n")
    proc = dp(tmp_path / "home", "serve", "--no-warm-up", "--profile", str(profile))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, out + err
    assert "sampling.max_frames" in err and "Traceback" not in out + err
    assert not (tmp_path / "home" / "serve.sock").exists()


def test_a_server_whose_code_changed_refuses_and_stops(tmp_path, monkeypatch):
    from dp_assets.resident.protocol import settings_digests
    from dp_assets.resident.server import ResidentServer
    from dp_resources.settings import current_settings

    monkeypatch.setenv("DP_HOME", str(tmp_path / "home"))
    server = ResidentServer(current_settings(), "skeleton", warm_up=False)
    request = {"op": "process", "requests": [], "profile": "skeleton", "settings": settings_digests(current_settings())}
    assert server._refusal(request) is None
    server.code = "the fingerprint of an older checkout"
    assert "runs code older than this checkout and stops" in server._refusal(request)
    assert server.stopping


def test_a_silent_or_malformed_connection_does_not_stop_the_server(tmp_path, media, serve):
    import json
    import socket

    from dp_assets.resident.protocol import settings_digests
    from dp_resources.settings import Settings

    home = tmp_path / "home"
    server = serve(home, "skeleton")
    silent = socket.socket(socket.AF_UNIX)
    silent.connect(str(home / "serve.sock"))  # connects and says nothing
    malformed = socket.socket(socket.AF_UNIX)
    malformed.connect(str(home / "serve.sock"))
    # the server's own settings, so that it gets past the settings check to the missing fields
    digests = settings_digests(Settings.from_env(env_for(home)))
    malformed.sendall(json.dumps({"op": "process", "settings": digests}).encode() + b"\n")
    proc = dp(home, "process", str(media("park_0p55s.mp4")), "--profile", "skeleton")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert f"computed by dp serve (pid {server.pid})" in out.splitlines()[0]
    assert "busy with" in err  # it waited for the two connections before it
    silent.close()
    malformed.close()


def test_a_server_killed_mid_request_is_named_and_the_next_command_recovers(tmp_path, media, serve):
    home = tmp_path / "home"
    profile = tmp_path / "naps.yaml"
    profile.write_text(NAPS_PROFILE)
    server = serve(home, str(profile))
    clip = str(media("park_0p55s.mp4"))
    proc = dp(home, "process", clip, "--profile", str(profile))
    wait_for_staging(home, "park_0p55s", "naps_on_gpu", proc)
    server.stop(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert f"dp: error: dp serve (pid {server.pid}) stopped before it answered" in err and "Traceback" not in out + err

    # No server now (its socket file is left behind): the command computes itself, after marking
    # the dead server's run failed.
    again = dp(home, "process", clip, "--profile", str(profile))
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert "computed by dp serve" not in out
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        statuses = sorted(run.status.value for run in instance.get_runs())
    assert statuses == ["FAILURE", "SUCCESS"]
