"""The full baseline profile, real models included, through the real Dagster graph."""

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.pipeline_helpers import Pipeline


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z']+", text.lower()))


def table(pipeline: Pipeline, outcome, component: str) -> list[dict]:
    return pq.read_table(Path(pipeline.entry(outcome, component).artifact_dir) / "data.parquet").to_pylist()


@pytest.fixture(scope="module")
def obama(tmp_path_factory, media_dir):
    home = tmp_path_factory.mktemp("baseline")
    clip = home / "obama.mp4"
    shutil.copyfile(media_dir / "obama_statement_face_speech.mp4", clip)
    # A sidecar next to the video, as the bucket layout has it.
    clip.with_suffix(".json").write_text(json.dumps({"title": "Statement on the Iran nuclear deal", "tags": ["#iran", "@potus"]}))
    pipeline = Pipeline(home)
    return pipeline, pipeline.process(clip, "obama", profile="baseline")


def test_obama_statement_has_faces_caption_and_speech(obama):
    pipeline, outcome = obama
    assert outcome.ok, outcome.manifest.run_error
    statuses = {e.component: e.status for e in outcome.manifest.components}
    assert set(statuses.values()) == {"ok"}, statuses
    # Two faces (Obama and Biden) are on screen all the time (see ../shared/media/README.md).
    faces = pipeline.entry(outcome, "faces")
    assert faces.status == "ok"
    face_rows = table(pipeline, outcome, "faces")
    assert sum(r["face_count"] >= 1 for r in face_rows) / len(face_rows) > 0.5
    # The burned-in lower third reads "PRESIDENT OBAMA STATEMENT ON IRAN".
    ocr = pipeline.entry(outcome, "ocr_text")
    video_text = json.loads((Path(ocr.artifact_dir) / "result.json").read_text())["summary"]["video_text"]
    assert "OBAMA" in video_text and "IRAN" in video_text
    # He says "today, after two years of negotiations ..." (the 14 July 2015 statement).
    transcript = json.loads((Path(pipeline.entry(outcome, "transcript").artifact_dir) / "result.json").read_text())["summary"]
    assert "negotiations" in words(transcript["text"]) and transcript["language"] == "en"
    sources = {r["source"]: r for r in table(pipeline, outcome, "text_features")}
    assert set(sources) == {"metadata", "ocr", "transcript"}
    assert sources["metadata"]["hashtag_count"] == 1 and sources["metadata"]["mention_count"] == 1
    assert all(r["embedding"] is not None and len(r["embedding"]) == 384 for r in sources.values())


def test_models_are_versioned_in_the_manifest(obama):
    pipeline, outcome = obama
    signatures = {e.component: e.model_signature for e in outcome.manifest.components}
    for name in ("faces", "ocr_text", "visual_embedding", "voice_activity", "transcript", "text_features"):
        assert signatures[name] != "none", name
    assert signatures["loudness"] == "none"


def test_jfk_audio_only_through_the_baseline(tmp_path, media):
    pipeline = Pipeline(tmp_path)
    outcome = pipeline.process(media("jfk_inaugural_speech.flac"), "jfk", profile="baseline")
    assert outcome.ok, outcome.manifest.run_error
    for name in ("frames", "faces", "ocr_text", "visual_embedding", "motion", "visual_pacing"):
        entry = pipeline.entry(outcome, name)
        assert (entry.status, entry.empty_reason) == ("empty", "no_video_track"), name
    transcript = json.loads((Path(pipeline.entry(outcome, "transcript").artifact_dir) / "result.json").read_text())["summary"]
    assert "ask not what your country can do for you" in words(transcript["text"])
    sources = {r["source"]: r for r in table(pipeline, outcome, "text_features")}
    assert sources["transcript"]["status"] == "ok"
    assert sources["ocr"]["status"] == "empty"  # no picture, so no on-screen text


def test_computing_the_same_video_again_gives_the_same_features(obama, tmp_path):
    # The cache serves a stored artifact in place of recomputing it, which is only right if a
    # recomputation would give the same values: every table, bit for bit (transcript included:
    # Whisper's sampled retries once broke this, docs/benchmarks.md).
    from dp_assets.direct import run_profile_direct
    from dp_assets.profiles import load_profile

    pipeline, outcome = obama
    again = run_profile_direct(load_profile("baseline"), pipeline.home / "obama.mp4", tmp_path)
    assert sorted(again) == sorted(e.component for e in outcome.manifest.components)
    assert all(result.table is not None for result, _ in again.values())
    differ = [name for name, (result, _) in again.items() if result.table.to_pylist() != table(pipeline, outcome, name)]
    assert differ == []
