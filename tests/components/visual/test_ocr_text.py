"""``ocr_text`` on real clips: a burned-in news caption, two screen recordings, a near-black video.

RapidOCR runs for real with the PP-OCRv6 models bundled in its wheel (~0.3-0.5 s per frame on CPU),
so the clips are sampled sparsely.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

import pytest
from pydantic import ValidationError

from dp_assets.components.visual import ocr_text
from dp_assets.components.visual.ocr_text import SPEC, OcrTextConfig
from dp_assets.contract import EmptyReason, FrameRequest, Status
from dp_assets.contract import CPU, Runtime
from dp_resources.models import MODELS, model_signature
from dp_resources.models.store import installed_version

from ..harness import TEST_SAMPLING, run_chain

OBAMA = "obama_statement_face_speech.mp4"


@pytest.fixture(scope="module")
def obama(media_dir, tmp_path_factory):
    return run_chain(media_dir / OBAMA, tmp_path_factory.mktemp("obama"), SPEC)


def test_obama_caption_is_read(obama):
    result = obama.result
    assert result.status is Status.OK
    summary = result.summary
    # 8.7 s at 0.5 fps -> frames at 0, 2, 4, 6, 8 s (320x240: the clip is smaller than 1280).
    # Frames dumped at 4 fps show the lower-third band sliding in at 2.5 s and readable from
    # 2.75 s: "PRESIDENT OBAMA STATEMENT ON IRAN" over "JULY 14, 2015". So the 4, 6, 8 s frames
    # have text and the 0 and 2 s frames have none (the lectern seal is dropped, see below).
    assert summary["frame_count"] == 5
    assert sorted({r["pts_s"] for r in result.table.to_pylist()}) == pytest.approx([4.0, 6.0, 8.0])
    assert summary["frames_with_text"] == 3
    assert summary["text_ratio"] == pytest.approx(0.6)
    lines = summary["video_text"].split("\n")
    # Two distinct lines in the video although each of three frames read them (6 readings).
    assert summary["line_count"] == 2 == len(lines)
    assert result.table.num_rows == 6
    assert lines[0] == "PRESIDENT OBAMA STATEMENT ON IRAN"
    # The small date line reads "JULY14,2015" in one frame and "JULY 14.2015" in two: one line
    # after merging, shown in its most confident reading.
    assert ocr_text.normalise(lines[1]) == "july142015"
    assert "OBAMA" in summary["video_text"] and "IRAN" in summary["video_text"]
    # Measured 0.946-0.988 per reading.
    assert 0.9 < summary["mean_confidence"] <= 1.0
    json.dumps(summary)


def test_obama_caption_box_is_the_lower_third(obama):
    for row in obama.result.table.to_pylist():
        x0, y0, x1, y1 = row["box"]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        # The caption band fills the bottom ~15 % of the frame, centred.
        assert y0 > 0.8
        assert abs((x0 + x1) / 2 - 0.5) < 0.05


def test_low_confidence_readings_are_what_the_threshold_drops(obama):
    # The same frames enlarged 3x before detection (as before max_detect_upscale was 1) and the
    # threshold lowered to RapidOCR's own 0.5: the frames before the caption now yield the partly
    # hidden "PRESIDENT OF THE UNITED STATES" lettering on the lectern's seal (read as
    # "IDENT OI THE", 0.71-0.74) and the flag stripes at the left edge (read as "￥￥",
    # 0.55-0.63), neither of which is on-screen text worth keeping.
    loose = SPEC.compute(
        obama.ctx, OcrTextConfig(min_confidence=0.5, min_alnum=1, max_detect_upscale=3), {"frames": obama.frames}
    )
    rows = loose.table.to_pylist()
    early = [r for r in rows if r["pts_s"] < 3]
    assert early, "the lectern seal should be read at 0.5"
    assert all(r["confidence"] < ocr_text.DEFAULT_MIN_CONFIDENCE for r in early)
    assert any("IDENT" in r["text"] for r in early)
    assert loose.summary["line_count"] > obama.result.summary["line_count"]
    # Unenlarged, the detector does not take the seal for text at all.
    unenlarged = SPEC.compute(obama.ctx, OcrTextConfig(min_confidence=0.5, min_alnum=1), {"frames": obama.frames})
    assert not [r for r in unenlarged.table.to_pylist() if r["pts_s"] < 3]


def test_editor_screen_recording_ui_words(media, tmp_path):
    # A video editor's timeline (3026x1386, 1280x586 here). At 0.5 fps the VFR file yields
    # frames at 0, 2.0, 4.0 and 7.2 s. The 0 s frame shows only the time ruler "01:00", "01:30";
    # from 2 s clips appear: "IMG_4821.MOV", "IMG_4822.MOV" (cut off by the right edge) and an
    # audio clip "... 2d129ab4) - fullmix_preview...".
    chain = run_chain(media("screenrec_vfr_3026x1386.mp4"), tmp_path, SPEC)
    summary = chain.result.summary
    assert summary["frame_count"] == 4
    lines = summary["video_text"].split("\n")
    # First-seen order: the ruler (frame 0) before the clip names (frame 1).
    assert lines[:3] == ["01:00", "01:30", "IMG_4821.MOV"]
    # The clipped "IMG_4822.MO" / "IMG_4822.M0" of different frames is one line.
    assert sum(line.startswith("IMG_4822") for line in lines) == 1
    assert any("fullmix_preview" in line for line in lines)
    # Each ruler label is read in all 4 frames; the video text holds it once.
    texts = chain.result.table.column("text").to_pylist()
    assert texts.count("01:00") == 4 and lines.count("01:00") == 1


def test_browser_screen_recording_ui_words(media, tmp_path):
    # A 35 s browser capture (1920x1080 -> 1280x720) with small UI text. Capped at 2 frames to
    # keep the test short: the cap lowers the rate so they span the video (0 s and 17.6 s).
    # Looking at them: at 0 s a Chrome window with the tab strip, bookmarks bar and a screen
    # recorder's popup; at 17.6 s a page "iron-vivacious-seer.glitch.me" saying "Do not tab out
    # while encoding is taking place. ...". Both show Chrome's "Stop sharing" bar and the
    # Windows taskbar clock "5:23 PM" / "30/04/2025".
    chain = run_chain(media("screenrec_h264_noduration.mkv"), tmp_path, SPEC, OcrTextConfig(max_frames=2))
    summary = chain.result.summary
    assert summary["frame_count"] == 2
    lines = summary["video_text"].split("\n")
    for expected in ("Stop sharing", "30/04/2025", "5:23 PM", "New Tab", "All Bookmarks"):
        assert expected in lines
    assert any(line.startswith("Do not tab out while encoding is taking place.") for line in lines)
    # The page's address is on screen twice, as the tab title "iron-vivacious-seer.glitch.me/"
    # and in the address bar without the slash: equal letters and digits, so one line.
    assert sum(ocr_text.normalise(line) == "ironvivaciousseerglitchme" for line in lines) == 1
    # The bar, the clock and the date are in both frames but listed once.
    assert lines.count("Stop sharing") == 1
    assert chain.result.table.column("text").to_pylist().count("Stop sharing") == 2
    assert summary["mean_confidence"] > 0.95  # measured 0.99


def test_dark_video_is_empty_no_text(media, tmp_path):
    # Near-black (mean luma ~3 of 255) for its 4.9 s: the detector finds no text region at all.
    chain = run_chain(media("dark_vp9_opus_noduration.webm"), tmp_path, SPEC)
    assert chain.result.status is Status.EMPTY
    assert chain.result.empty_reason == EmptyReason.NO_TEXT.value
    assert "3 sampled frame(s)" in chain.result.summary["empty_detail"]


def _row(text, box, confidence=0.99):
    return {"text": text, "box": box, "confidence": confidence}


def test_merge_keeps_neighbouring_labels_and_merges_misreads():
    left, right = [0.3, 0.2, 0.5, 0.25], [0.7, 0.2, 0.9, 0.25]
    lines = ocr_text.merge_lines(
        [
            _row("IMG_4821.MOV", left),
            _row("IMG_4822.MO", right, 0.95),
            _row("IMG_4822.M0", [0.701, 0.2, 0.9, 0.25], 0.93),  # misread, same place
            _row("IMG_4821.MOV", [0.1, 0.2, 0.3, 0.25]),  # the same label after a scroll
        ]
    )
    # 4821 and 4822 differ in one character (difflib ratio 0.9) but sit apart: two lines.
    assert [line["text"] for line in lines] == ["IMG_4821.MOV", "IMG_4822.MO"]
    assert [line["seen"] for line in lines] == [2, 2]


def test_merge_prefers_the_full_reading_over_its_parts():
    row_box = [0.0, 0.13, 0.34, 0.15]
    lines = ocr_text.merge_lines(
        [
            _row("Encode (without animation)", [0.0, 0.13, 0.12, 0.15], 0.999),
            _row("Encode (without animation) Encode (with animation) Encode (with progress bar)", row_box, 0.98),
            _row("Encode (with progress bar)", [0.23, 0.13, 0.34, 0.15], 0.999),
        ]
    )
    assert [line["text"] for line in lines] == ["Encode (without animation) Encode (with animation) Encode (with progress bar)"]
    # Containment alone is not enough: the same words elsewhere on screen are another line.
    lines = ocr_text.merge_lines([_row("Encode", [0.0, 0.1, 0.1, 0.12]), _row("Encode video", [0.5, 0.8, 0.7, 0.82])])
    assert len(lines) == 2


def test_model_ref_covers_every_bundled_model():
    files = ocr_text.MODEL.weight_files()
    bundled = sorted(p.name for p in files[0].parent.glob("*.onnx"))
    # Every ONNX file of the wheel's models folder is declared, and only those.
    assert sorted(p.name for p in files) == bundled
    assert {"PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx"} <= set(bundled)
    assert ocr_text.MODEL.engine == "openvino" and ocr_text.MODEL.cpu_only
    # The runtime's version is part of the model's identity: its kernels decide the readings.
    assert ocr_text.MODEL.version == "+".join(
        [installed_version("rapidocr"), f"openvino-{installed_version('openvino')}", f"onnxruntime-{installed_version('onnxruntime')}"]
    )
    assert model_signature(SPEC.models, Runtime("cuda:0", "fp16")) == model_signature(SPEC.models, CPU)


def test_openvino_computes_in_f32_whatever_the_processor_offers():
    # On processors with bf16 (AMX, AVX512-BF16) OpenVINO would otherwise compute in bf16, and
    # the same model signature would read differently there.
    import openvino

    detector = MODELS.get(ocr_text.MODEL, CPU).engine.text_det
    compiled = detector.session.session.get_compiled_model()
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32


def test_one_loaded_model_reads_right_from_several_threads(obama):
    # The model store shares one loaded model between a process's threads, and an OpenVINO
    # infer request is not safe to call from two at once: each thread must get its own frame's
    # text. Two frames with different text, read alternately from four threads.
    engine = MODELS.get(ocr_text.MODEL, CPU)
    caption = np.asarray(obama.ctx.frames.images[2])  # the 4 s frame
    card = np.full((240, 320, 3), 255, np.uint8)
    cv2.putText(card, "HARBOR MARKET", (20, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2, cv2.LINE_AA)
    expected = {key: [line["text"] for line in ocr_text.read_lines(engine, image, OcrTextConfig())] for key, image in (("caption", caption), ("card", card))}
    assert "HARBOR MARKET" in expected["card"] and "PRESIDENT OBAMA STATEMENT ON IRAN" in expected["caption"]

    def read(key: str) -> list[str]:
        image = caption if key == "caption" else card
        return [line["text"] for line in ocr_text.read_lines(engine, image, OcrTextConfig())]

    keys = ["caption", "card"] * 8
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(read, keys))
    assert results == [expected[key] for key in keys]


def test_config_and_request():
    with pytest.raises(ValidationError):
        OcrTextConfig(lang="en")  # unknown key: no model choice that would need a download
    with pytest.raises(ValidationError):
        OcrTextConfig(fps=0)
    with pytest.raises(ValidationError):
        OcrTextConfig(detect_side=100)
    request = SPEC.frame_request(OcrTextConfig(), TEST_SAMPLING)
    assert request == FrameRequest(fps=0.5, max_side=1280, max_frames=60)
    assert OcrTextConfig().detect_side == ocr_text.DEFAULT_DETECT_SIDE == 960
    assert SPEC.upstream == ("frames",)


def test_reuse_gives_the_same_lines_for_less_work(obama):
    # The caption is static over the 4, 6 and 8 s frames: its two lines are recognised once and
    # reused twice. Read every frame anew, the table is the same, text for text.
    summary = obama.result.summary
    assert summary["frames_detected"] == 5
    assert summary["regions_reused"] >= 3
    fresh = SPEC.compute(obama.ctx, OcrTextConfig(reuse=False), {"frames": obama.frames})
    assert fresh.summary["regions_reused"] == 0
    assert fresh.summary["regions_recognised"] >= summary["regions_recognised"] + summary["regions_reused"]
    assert fresh.table.column("text").to_pylist() == obama.result.table.column("text").to_pylist()
    # The same lines. Which reading of the date line shows ("JULY14,2015" or "JULY 14,2015") is
    # the most confident one, and a confidence moves by a few hundredths with the batch a crop is
    # recognised in (RapidOCR pads a batch to its widest crop): the date alone at 8 s reads 0.986,
    # beside the caption 0.946.
    assert [ocr_text.normalise(line) for line in fresh.summary["video_text"].split("\n")] == [
        ocr_text.normalise(line) for line in summary["video_text"].split("\n")
    ]


def _line_crop(text: str, noise_seed: int | None = None) -> np.ndarray:
    """A BGR crop of one line of white-on-dark text, as the detector would cut it."""
    crop = np.full((30, 420, 3), 30, np.uint8)
    cv2.putText(crop, text, (4, 23), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (235, 235, 235), 2, cv2.LINE_AA)
    if noise_seed is not None:  # re-encoding noise: +-2 levels
        noise = np.random.default_rng(noise_seed).integers(-2, 3, crop.shape)
        crop = np.clip(crop.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return crop


def test_a_region_is_reused_only_while_every_character_is_unchanged():
    line = "Frame 0001 of 2400 - Morning Report"
    assert ocr_text.same_crop(_line_crop(line), _line_crop(line, noise_seed=1))
    # One digit of 35 characters changed: less than 1 % of the pixels, but its block differs.
    changed = _line_crop("Frame 0002 of 2400 - Morning Report")
    difference = np.abs(changed.astype(float) - _line_crop(line).astype(float)).mean()
    assert difference < ocr_text.REUSE_CROP_DIFF  # a whole-crop mean would call it the same
    assert not ocr_text.same_crop(_line_crop(line), changed)
