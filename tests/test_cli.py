"""``dp process`` as a user runs it: a subprocess, its table, its exit code."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


def dp(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DP_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run([sys.executable, "-m", "dp_assets.cli", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def test_process_prints_the_table_and_manifest(tmp_path, media):
    result = dp("process", str(media("carphone_qcif_face_noaudio.mp4")), "--video-id", "carphone", home=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["component", "req", "status", "empty_reason", "seconds", "cpu_s", "mem_mb", "gpu_mb", "note"]
    loudness = next(line for line in lines if line.startswith("loudness"))
    assert "empty" in loudness and "no_audio_track" in loudness
    manifest = Path(lines[-1].removeprefix("manifest: "))
    assert manifest.is_file() and manifest.parent.name in result.stdout
    # The run went into the embedded SQLite instance under DP_HOME.
    assert (tmp_path / "dagster" / "dagster.yaml").is_file()
    assert list((tmp_path / "dagster").rglob("*.db"))


def test_missing_file_is_one_line_and_exit_2(tmp_path):
    result = dp("process", str(tmp_path / "nope.mp4"), home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"dp: error: {tmp_path / 'nope.mp4'}: no such file"


def test_not_a_media_file_fails_with_the_decoders_reason(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 10)
    result = dp("process", str(text), home=tmp_path)
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "notes.mp4" in errors[0] and "Invalid data found when processing input" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("bad", ["../escape", "/abs", "a" * 200, "has space"])
def test_unsafe_video_id_is_rejected(tmp_path, media, bad):
    result = dp("process", str(media("park_0p55s.mp4")), "--video-id", bad, home=tmp_path)
    assert result.returncode == 2 and "invalid video_id" in result.stderr


def test_bad_profile_names_file_and_field(tmp_path, media):
    profile = tmp_path / "bad.yaml"
    profile.write_text("name: bad\nsampling: {version: '1', fps: 1, max_frames: 0, max_side: 64}\ncomponents: {video_probe: {}}\n")
    result = dp("process", str(media("park_0p55s.mp4")), "--profile", str(profile), home=tmp_path)
    assert result.returncode == 2
    assert f"{profile}: sampling.max_frames: Input should be greater than 0" in result.stderr


def test_a_cached_request_and_status_load_neither_dagster_nor_a_model_library(tmp_path, media):
    """The instant path: decided from the index before Dagster or any model library is imported."""
    clip = str(media("park_0p55s.mp4"))
    assert dp("process", clip, "--video-id", "park", "--profile", "skeleton", home=tmp_path).returncode == 0
    probe = (
        "import json, sys\n"
        "from dp_assets.cli import main\n"
        f"codes = [main(['process', {clip!r}, '--video-id', 'park', '--profile', 'skeleton']), main(['status', 'park', '--profile', 'skeleton']), main(['status'])]\n"
        "print(json.dumps({'codes': codes, 'modules': sorted(sys.modules)}))\n"
    )
    env = {**os.environ, "DP_HOME": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)
    out = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "served from cache" in out.stdout and "would serve from cache" in out.stdout
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0, 0, 0]
    heavy = ("dagster", "torch", "onnxruntime", "openvino", "faster_whisper", "ctranslate2", "sentence_transformers", "transformers", "rapidocr", "scipy")
    assert [m for m in heavy if m in report["modules"]] == []
