"""Many videos in one process and one run: ``dp process PATH...`` and the runner's batches.

Models load once for the whole batch, one broken video fails only itself (its partition, its
check and its manifest say why), bad inputs are listed while the good ones run, and Ctrl-C stops
after the component that is computing.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg

from dp_assets.cli.process import expand
from dp_assets.profiles import load_profile
from dp_assets.runner import Processor
from dp_resources.ids import VideoKey
from dp_resources.models import MODELS
from tests.faults.processes import interrupt_during
from tests.pipeline_helpers import Pipeline

PROJECT = Path(__file__).resolve().parent.parent
CLIPS = ["park_0p55s.mp4", "carphone_qcif_face_noaudio.mp4", "obama_statement_face_speech.mp4", "phone_rot180_vfr.mp4"]


def dp(home: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "DP_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)
    return subprocess.Popen(
        [sys.executable, "-m", "dp_assets.cli", *args], cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def test_four_clips_are_one_run_and_load_each_model_once(tmp_path, media):
    profile = tmp_path / "models.yaml"
    profile.write_text(
        "name: models\nsampling: {version: '1', fps: 1.0, max_frames: 20, max_side: 320}\n"
        "components: {video_probe: {}, frames: {}, faces: {}, audio_waveform: {}, voice_activity: {}}\n"
    )
    pipeline = Pipeline(tmp_path / "home")
    MODELS._models.clear()
    MODELS.loads.clear()
    processor = Processor(load_profile(profile), store=pipeline.store, catalog=pipeline.catalog, index=pipeline.index, instance=pipeline.instance)
    outcomes = processor.process([(media(name), VideoKey("yt", Path(name).stem)) for name in CLIPS])
    assert [o.ok for o in outcomes] == [True] * 4
    assert len({o.run_id for o in outcomes}) == 1 == pipeline.run_count()
    assert all(o.manifest_path.is_file() for o in outcomes)
    assert {name: count for (name, _, _), count in MODELS.loads.items()} == {"libfacedetection": 1, "silero_vad": 1}
    # The preloading thread is done when process() returns: a process exiting while a model
    # library loads on another thread can abort.
    assert not [t for t in threading.enumerate() if t.name == "dp-preload"]
    faces = {o.manifest.video_id: pipeline.entry(o, "faces") for o in outcomes}
    assert faces["obama_statement_face_speech"].status == "ok" and faces["park_0p55s"].empty_reason == "no_faces"
    # each video is its own partition, materialized by that one run
    for key in ("yt/park_0p55s", "yt/obama_statement_face_speech"):
        record = pipeline.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey("faces"), asset_partitions=[key]), limit=1).records[0]
        assert record.run_id == outcomes[0].run_id


def test_a_batch_with_bad_inputs_fails_only_them(tmp_path, media):
    home = tmp_path / "home"
    empty, text = tmp_path / "empty.mp4", tmp_path / "notes.mp4"
    empty.write_bytes(b"")
    text.write_text("just some text that was renamed to .mp4\n" * 20)
    paths = [media("park_0p55s.mp4"), media("bbb_h264_aac51_TRUNCATED.mp4"), media("jfk_inaugural_speech.flac"), empty, text, media("carphone_qcif_face_noaudio.mp4")]
    proc = dp(home, "process", *map(str, paths), "--profile", "skeleton")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err
    lines = {line.split()[1]: line for line in out.splitlines() if line.split()[:1] in (["ok"], ["FAILED"])}
    assert lines["local/park_0p55s"].startswith("ok") and lines["local/carphone_qcif_face_noaudio"].startswith("ok")
    assert lines["local/jfk_inaugural_speech"].startswith("ok") and "no_video_track" in lines["local/jfk_inaugural_speech"]
    summary = out[out.index("failed:") :]
    assert "local/bbb_h264_aac51_TRUNCATED: " in summary and "moov atom not found" in summary
    assert "local/empty: " in summary and "file is empty (0 bytes)" in summary
    assert "local/notes: " in summary and "not a media file" in summary
    assert "6 videos: 3 ok, 0 partial, 3 failed, 0 cached" in out

    # in its manifest, and in the UI: the failed partitions are exactly the bad videos
    from dp_assets.manifest import Manifest

    manifest = next((home / "artifacts" / "local" / "empty" / "runs").glob("*/manifest.json"))
    assert "file is empty (0 bytes)" in Manifest.model_validate_json(manifest.read_text()).run_error
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        (run,) = instance.get_runs()  # one run for the six videos, failed because three did
        assert run.status == dg.DagsterRunStatus.FAILURE and run.tags["dataprocessor/batch_size"] == "6"
        checks = instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey("video_probe"), "succeeded"), limit=20)
        by_partition = {c.evaluation.partition: c.evaluation for c in checks if c.evaluation is not None}
        assert {p for p, e in by_partition.items() if not e.passed} == {"local/bbb_h264_aac51_TRUNCATED", "local/empty", "local/notes"}
        assert "file is empty" in by_partition["local/empty"].description
        assert set(instance.get_materialized_partitions(dg.AssetKey("features"))) == {
            "local/park_0p55s", "local/jfk_inaugural_speech", "local/carphone_qcif_face_noaudio"
        }
    finally:
        instance.dispose()


def test_inputs_expand_folders_lists_and_report_what_cannot_run(tmp_path, media):
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    (folder / "a.mp4").write_bytes(media("park_0p55s.mp4").read_bytes())
    (folder / "notes.txt").write_text("not media")
    (tmp_path / "in" / "b.webm").write_bytes(b"x")
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.mp4").write_bytes(b"y")  # the same id as in/sub/a.mp4
    listing = tmp_path / "list.txt"
    listing.write_text("# my videos\nother/a.mp4\n\nmissing.mov  # gone\n")
    inputs = expand([str(tmp_path / "in"), f"@{listing}", "@nowhere.txt"], "yt", None)
    assert [(p.name, str(v)) for p, v in inputs.videos] == [("b.webm", "yt/b"), ("a.mp4", "yt/a")]
    reasons = dict(inputs.bad)
    assert "already taken by" in reasons[str(other / "a.mp4")]
    assert reasons[str(tmp_path / "missing.mov")] == "no such file"
    assert reasons["@nowhere.txt"].startswith("cannot read the list")


def test_bad_inputs_are_listed_and_the_good_ones_still_run(tmp_path, media):
    proc = dp(tmp_path / "home", "process", str(media("park_0p55s.mp4")), str(tmp_path / "nope.mp4"), "--profile", "skeleton")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, out + err
    assert out.splitlines()[1].startswith("ok      local/park_0p55s")
    assert f"bad input (not run):\n  {tmp_path / 'nope.mp4'}: no such file" in out


def test_ctrl_c_stops_after_the_current_component_and_says_what_finished(tmp_path, media):
    profile = tmp_path / "naps.yaml"
    profile.write_text(
        "name: naps\nsampling: {version: '1', fps: 1.0, max_frames: 10, max_side: 64}\n"
        "component_modules: [tests.fixtures.naps_on_gpu]\ncomponents: {video_probe: {}, naps_on_gpu: {}}\n"
    )
    home = tmp_path / "home"
    proc = dp(home, "process", str(media("park_0p55s.mp4")), str(media("carphone_qcif_face_noaudio.mp4")), "--profile", str(profile))
    out = interrupt_during(home, "park_0p55s", "naps_on_gpu", proc)
    assert "local/carphone_qcif_face_noaudio" in out  # reported as not run
    assert not (home / "artifacts" / "local" / "carphone_qcif_face_noaudio" / "naps_on_gpu").exists()
