"""``text_features`` on real sidecars, hand-built upstream results and the real JFK transcript chain.

``ocr_text`` is another component (not in this tree yet): its result is built by hand as the
contract describes it, ``ComponentResult.ok(summary={"video_text": ...})``.
"""

from __future__ import annotations

import difflib
import json
import socket
from pathlib import Path

import numpy as np
import pydantic
import pytest
import torch

from dp_assets.components.text import text_features
from dp_assets.contract import ComponentResult, EmptyReason, Modality, Status
from dp_assets.execution import run_component
from dp_assets.contract import CPU, Runtime

from ..harness import make_context, run_upto
from ..audio.test_transcript import normalise

QUOTE = "ask not what your country can do for you"
JFK_TITLE = "President Kennedy's inauguration speech to the American people"
UNRELATED_TITLE = "Big Buck Bunny: a giant rabbit in the forest"

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (CI has no GPU; runs on the lent GPU machine)")


def _video(tmp_path: Path, sidecar=None, raw: str | None = None, name: str = "clip.mp4") -> Path:
    """A video path in tmp_path with its sidecar (a dict as JSON, or raw text); the video file
    itself is never opened by text_features."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    video = tmp_path / name
    if sidecar is not None:
        video.with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")
    if raw is not None:
        video.with_suffix(".json").write_text(raw, encoding="utf-8")
    return video


def _run(video: Path, ocr: ComponentResult, speech: ComponentResult, runtime: Runtime = CPU, **config) -> ComponentResult:
    ctx = make_context(video, video.parent / "work", "text_features", runtime=runtime)
    result, _ = run_component(text_features.SPEC, ctx, text_features.TextFeaturesConfig(**config), {"ocr_text": ocr, "transcript": speech})
    assert result.status != Status.ERROR, result.error
    return result


def _ocr(text: str) -> ComponentResult:
    return ComponentResult.ok(summary={"video_text": text})


def _speech(text: str, language: str = "en", probability: float = 0.95) -> ComponentResult:
    return ComponentResult.ok(summary={"text": text, "language": language, "language_probability": probability})


NO_OCR = ComponentResult.empty(EmptyReason.NO_TEXT, "no text on screen")
NO_SPEECH = ComponentResult.empty(EmptyReason.NO_SPEECH, "upstream voice_activity is empty")


def _rows(result: ComponentResult) -> dict[str, dict]:
    return {row["source"]: row for row in result.table.to_pylist()}


def _cos(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_spec():
    spec = text_features.SPEC
    assert (spec.name, spec.modality) == ("text_features", Modality.TEXT)
    assert spec.upstream == ("ocr_text", "transcript") and spec.accepts_empty_inputs and spec.tolerates_failed_inputs and spec.uses_gpu
    (ref,) = spec.models
    assert ref.engine == "torch" and "model.safetensors" in [p.name for p in ref.weight_files()]


def test_config_is_validated():
    with pytest.raises(pydantic.ValidationError):
        text_features.TextFeaturesConfig(words_per_chunk=1000)
    with pytest.raises(pydantic.ValidationError):
        text_features.TextFeaturesConfig(language_min_confidence=2)
    with pytest.raises(pydantic.ValidationError):
        text_features.TextFeaturesConfig(model="other")


def test_hashtags_and_mentions_in_a_sidecar(tmp_path):
    video = _video(tmp_path, {"title": "#a #b @c"})
    result = _run(video, NO_OCR, NO_SPEECH)
    assert result.status == Status.OK
    row = _rows(result)["metadata"]
    # Two hashtags (#a, #b), one mention (@c); the three words are a, b, c; 8 characters.
    assert (row["hashtag_count"], row["mention_count"], row["word_count"], row["text_length"]) == (2, 1, 3, 8)
    assert result.summary["metadata_hashtag_count"] == 2 and result.summary["metadata_mention_count"] == 1
    # Three one-letter words give py3langid nothing to go on: it is asked (three words is the
    # minimum) but its best guess is far under the 0.8 bar, so no language is claimed.
    assert row["language"] is None and row["language_method"] == "py3langid" and row["language_confidence"] < 0.5
    # Two words are not even asked about.
    row = _rows(_run(_video(tmp_path / "two", {"title": "#a @c"}), NO_OCR, NO_SPEECH))["metadata"]
    assert (row["hashtag_count"], row["mention_count"]) == (1, 1)
    assert row["language"] is None and row["language_method"] is None and row["language_confidence"] is None


def test_what_is_not_a_hashtag_or_mention(tmp_path):
    # "C#" (no break before #), "#1" (a number), an e-mail address (no break before @) and "@2"
    # are not tags or mentions; "#Über" (a letter outside ASCII) and "@user_1" are.
    video = _video(tmp_path, {"description": "C# #1 me@example.com @2 then #Über and @user_1."})
    row = _rows(_run(video, NO_OCR, NO_SPEECH))["metadata"]
    assert (row["hashtag_count"], row["mention_count"]) == (1, 1)


def test_sources_title_description_tags_are_joined(tmp_path):
    video = _video(tmp_path, {"title": " Title ", "description": "", "tags": ["one", " ", "two"], "views": 12})
    result = _run(video, NO_OCR, NO_SPEECH)
    # Empty strings and blank tags drop out, unknown keys are ignored: "Title\none, two".
    assert _rows(result)["metadata"]["text_length"] == len("Title\none, two")
    assert result.warnings == []


def test_quote_is_closer_to_a_jfk_title_than_to_an_unrelated_one(tmp_path):
    jfk = _run(_video(tmp_path / "a", {"title": JFK_TITLE}), NO_OCR, _speech(QUOTE))
    other = _run(_video(tmp_path / "b", {"title": UNRELATED_TITLE}), NO_OCR, _speech(QUOTE))
    quote_a, title_a = _rows(jfk)["transcript"]["embedding"], _rows(jfk)["metadata"]["embedding"]
    quote_b, title_b = _rows(other)["transcript"]["embedding"], _rows(other)["metadata"]["embedding"]
    # The same quote embeds the same way in both runs.
    np.testing.assert_allclose(quote_a, quote_b, atol=1e-6)
    # MiniLM puts the quote nearer the Kennedy speech title (0.17 measured) than the cartoon
    # title (0.05): short texts sharing a topic, not words, are still apart from unrelated ones.
    assert _cos(quote_a, title_a) > _cos(quote_b, title_b) + 0.08
    assert _cos(quote_a, quote_a) == pytest.approx(1.0, abs=1e-5)  # unit length


def test_jfk_end_to_end(media, tmp_path):
    """The real chain: audio -> VAD -> Whisper -> text_features, with a sidecar next to the clip."""
    rows_by_title = {}
    for name, title in (("jfk", JFK_TITLE), ("other", UNRELATED_TITLE)):
        folder = tmp_path / name
        folder.mkdir()
        clip = folder / "jfk_inaugural_speech.flac"
        clip.symlink_to(media("jfk_inaugural_speech.flac"))
        clip.with_suffix(".json").write_text(json.dumps({"title": title}))
        results, _ = run_upto(clip, folder, "transcript")
        assert results["transcript"].status == Status.OK
        # An audio-only file has no picture to read text from; ocr_text would be empty.
        no_picture = ComponentResult.empty(EmptyReason.NO_VIDEO_TRACK, "flac file has no video stream")
        result = _run(clip, no_picture, results["transcript"])
        rows = rows_by_title[name] = _rows(result)
        assert rows["ocr"]["status"] == "empty" and rows["ocr"]["empty_reason"] == "no_video_track"
        speech = rows["transcript"]
        # Language and its confidence come from Whisper, which heard English.
        assert (speech["language"], speech["language_method"]) == ("en", "whisper")
        assert speech["word_count"] == results["transcript"].summary["word_count"] == 22
        assert result.summary["embeddings"]["transcript"] == pytest.approx(speech["embedding"], abs=1e-7)
        assert rows["metadata"]["status"] == "ok" and result.summary["source_count"] == 2
    jfk, other = rows_by_title["jfk"], rows_by_title["other"]
    # The transcript is Kennedy's appeal to Americans: 0.25 to the Kennedy title, 0.05 to the
    # cartoon one (measured).
    assert _cos(jfk["transcript"]["embedding"], jfk["metadata"]["embedding"]) > (
        _cos(other["transcript"]["embedding"], other["metadata"]["embedding"]) + 0.1
    )


def test_missing_sidecar_is_no_metadata(tmp_path):
    result = _run(_video(tmp_path), _ocr("BREAKING NEWS"), NO_SPEECH)
    assert result.status == Status.OK
    rows = _rows(result)
    assert (rows["metadata"]["status"], rows["metadata"]["empty_reason"]) == ("empty", "no_metadata")
    assert rows["metadata"]["embedding"] is None and rows["metadata"]["word_count"] is None
    assert (rows["transcript"]["status"], rows["transcript"]["empty_reason"]) == ("empty", "no_speech")
    assert rows["ocr"]["status"] == "ok" and rows["ocr"]["word_count"] == 2
    assert result.summary["source_count"] == 1 and set(result.summary["embeddings"]) == {"ocr"}
    assert result.warnings == []


def test_invalid_sidecar_warns_and_is_absent(tmp_path):
    video = _video(tmp_path, raw='{"title": "unterminated')
    result = _run(video, _ocr("Some words on screen"), NO_SPEECH)
    rows = _rows(result)
    assert (rows["metadata"]["status"], rows["metadata"]["empty_reason"]) == ("empty", "no_metadata")
    (warning,) = result.warnings
    assert warning.startswith(f"metadata sidecar {video.with_suffix('.json')} is not readable JSON")


def test_sidecar_with_wrong_types(tmp_path):
    video = _video(tmp_path, {"title": 42, "tags": "a,b", "description": "A real description of the video."})
    result = _run(video, NO_OCR, NO_SPEECH)
    sidecar = video.with_suffix(".json")
    assert result.warnings == [
        f"metadata sidecar {sidecar}: title is a int, not a string; ignored",
        f"metadata sidecar {sidecar}: tags is not a list of strings; ignored",
    ]
    assert _rows(result)["metadata"]["text_length"] == len("A real description of the video.")
    # A JSON list is not a sidecar object.
    result = _run(_video(tmp_path / "list", ["title"]), NO_OCR, NO_SPEECH)
    assert "holds a JSON list, not an object" in result.warnings[0]


def test_sidecar_without_text_is_no_text(tmp_path):
    result = _run(_video(tmp_path, {"title": "  ", "tags": []}), _ocr("Caption"), NO_SPEECH)
    assert _rows(result)["metadata"]["empty_reason"] == "no_text"


def test_all_sources_missing_is_empty_no_text(tmp_path):
    result = _run(_video(tmp_path), NO_OCR, NO_SPEECH)
    assert result.status == Status.EMPTY and result.empty_reason == "no_text"
    assert result.summary["empty_detail"] == "no text from any source (metadata: no_metadata; ocr: no_text; transcript: no_speech)"
    assert result.summary["transcript_empty_reason"] == "no_speech"


def test_failed_upstream_is_a_missing_source_with_a_warning(tmp_path):
    failed = ComponentResult.failed("RuntimeError: CUDA out of memory")
    result = _run(_video(tmp_path, {"title": "A film about bread"}), failed, _speech(""))
    rows = _rows(result)
    assert (rows["ocr"]["status"], rows["ocr"]["empty_reason"]) == ("error", None)
    assert result.warnings == ["ocr_text failed, so the ocr text is missing: RuntimeError: CUDA out of memory"]
    # A transcript result with an empty text is a source without text.
    assert (rows["transcript"]["status"], rows["transcript"]["empty_reason"]) == ("empty", "no_text")


def test_language_of_metadata_and_ocr(tmp_path):
    video = _video(tmp_path, {"description": "Le président a parlé de l'accord avec l'Iran devant les journalistes."})
    result = _run(video, _ocr("PRESIDENT OBAMA STATEMENT ON IRAN JULY 14, 2015"), _speech(QUOTE, "en", 0.94))
    rows = _rows(result)
    # A full French sentence: py3langid is sure (0.99 measured).
    assert rows["metadata"]["language"] == "fr" and rows["metadata"]["language_method"] == "py3langid"
    assert rows["metadata"]["language_confidence"] > 0.9
    # An upper-case caption of names and a date: py3langid's best guess is Nigerian Pidgin at
    # 0.31, under the 0.8 bar, so no language is claimed (the guess is kept as a confidence).
    assert rows["ocr"]["language"] is None and rows["ocr"]["language_confidence"] < 0.8
    assert (rows["transcript"]["language"], rows["transcript"]["language_confidence"]) == ("en", 0.94)


def test_long_text_is_embedded_whole(tmp_path):
    """A text longer than MiniLM's 256-token window is embedded in chunks: what comes after the
    window still counts, where plain truncation would drop it."""
    model = text_features.MINILM.load(CPU)
    bread = "Mix the flour, water, salt and starter, then knead the sourdough bread and let it rise overnight."
    speech = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
    text = " ".join([bread] * 20 + [speech] * 20)  # 780 words: the speech is far past the window
    chunked, quote = text_features.embed(model, [text, QUOTE], 128)
    truncated = model.encode([text])[0]
    # Truncated, the text is all bread (-0.04 to the quote, measured); chunked, half of it is the
    # speech (0.54).
    assert _cos(chunked, quote) > _cos(truncated, quote) + 0.3
    assert np.linalg.norm(chunked) == pytest.approx(1.0, abs=1e-5)


def test_loads_without_network(monkeypatch):
    def refuse(self, address):
        raise AssertionError(f"network access to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    model = text_features.MINILM.load(CPU)
    assert model.encode(["offline"]).shape == (1, 384)


@cuda
def test_cuda_matches_cpu(media, tmp_path):
    """Whisper (float16) and MiniLM (fp16) on the GPU agree with the CPU (float32) run on JFK."""
    clip = media("jfk_inaugural_speech.flac")
    gpu = Runtime(device="cuda:0", precision="fp16")
    cpu_results, _ = run_upto(clip, tmp_path / "cpu", "transcript")
    gpu_results, _ = run_upto(clip, tmp_path / "gpu", "transcript", runtime=gpu)
    cpu_text, gpu_text = (normalise(r["transcript"].summary["text"]) for r in (cpu_results, gpu_results))
    assert gpu_results["transcript"].status == Status.OK, gpu_results["transcript"].error
    # fp16 beam search may change a word at most; the quote and the language must survive.
    assert QUOTE in gpu_text and gpu_results["transcript"].summary["language"] == "en"
    assert difflib.SequenceMatcher(None, cpu_text.split(), gpu_text.split()).ratio() > 0.9

    # The same inputs embedded on both devices: fp16 rounding only.
    video = _video(tmp_path, {"title": JFK_TITLE})
    on_cpu = _rows(_run(video, _ocr("PRESIDENT OBAMA STATEMENT ON IRAN"), cpu_results["transcript"]))
    on_gpu = _rows(_run(video, _ocr("PRESIDENT OBAMA STATEMENT ON IRAN"), cpu_results["transcript"], runtime=gpu))
    for source in ("metadata", "ocr", "transcript"):
        assert _cos(on_cpu[source]["embedding"], on_gpu[source]["embedding"]) > 0.999
