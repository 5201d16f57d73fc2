"""``text_features``: size, hashtags, mentions, language and a sentence embedding of each text a video carries.

The three sources are the sidecar metadata (``<video>.json``: title, description, tags), the
on-screen text that ``ocr_text`` read, and the speech that ``transcript`` heard. A missing source
is not an error: its row says why (``no_metadata``, ``no_text``, ``no_speech``, ...).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
from pydantic import Field

from dp_assets.contract import (
    ComponentConfig,
    ComponentContext,
    ComponentResult,
    ComponentSpec,
    EmptyReason,
    Modality,
    Status,
)
from dp_resources.models.minilm import EMBEDDING_DIM, MINILM

SOURCES = ("metadata", "ocr", "transcript")
# row columns repeated in the summary per source, as <source>_<key> (with <source>_status/_empty_reason)
SOURCE_SUMMARY_KEYS = ("text_length", "word_count", "hashtag_count", "mention_count", "language")


# Words for ``word_count``: letters/digits with inner apostrophes ("don't" is one word).
_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")
# A hashtag or mention starts after a space or punctuation (not inside "C#" or "me@example.com")
# and needs a letter: "#1" is a number, not a tag, as on the platforms that link them.
_HASHTAG = re.compile(r"(?<![\w#&])#(\w*[^\W\d_]\w*)")
_MENTION = re.compile(r"(?<![\w@.])@(\w*[^\W\d_]\w*)")



_langid_lock = threading.Lock()


@lru_cache(maxsize=1)
def _language_identifier() -> Any:
    """py3langid's naive-Bayes model over byte n-grams (97 languages, 4.6 MB, numpy only), with
    probabilities normalised so a confidence threshold means something."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class TextFeaturesConfig(ComponentConfig):
    # The embedding model reads at most 256 word pieces; longer texts are embedded in chunks of
    # this many words and the chunk embeddings averaged (weighted by words). English prose took
    # 1.1-1.4 word pieces per word and French 1.8 (punctuation included, measured), so 128 words
    # stay inside the window; symbol-heavy text (URLs, code) can overflow it and lose a chunk's tail.
    words_per_chunk: int = Field(default=128, ge=8, le=200)
    # py3langid's (normalised) confidence below which no language is reported: short titles and
    # upper-case captions scored 0.04-0.31 whether the guess was right or wrong, full sentences
    # 0.96-0.99 (measured).
    language_min_confidence: float = Field(default=0.8, ge=0, le=1)
    # Below this many words no language is guessed at all.
    language_min_words: int = Field(default=3, ge=1)
    # Texts larger than this many characters are cut (with a warning) before any measure.
    max_chars: int = Field(default=200_000, ge=1000)


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),  # metadata | ocr | transcript
        pa.field("status", pa.string(), nullable=False),  # ok | empty | error
        pa.field("empty_reason", pa.string()),  # why the source has no text (EmptyReason values)
        pa.field("text_length", pa.int32()),  # characters
        pa.field("word_count", pa.int32()),
        pa.field("hashtag_count", pa.int32()),
        pa.field("mention_count", pa.int32()),
        pa.field("language", pa.string()),  # ISO 639-1; null when unknown
        pa.field("language_confidence", pa.float64()),
        pa.field("language_method", pa.string()),  # whisper | py3langid
        pa.field("embedding", pa.list_(pa.float32(), EMBEDDING_DIM)),  # unit length
    ]
)


@dataclass
class _Source:
    name: str
    status: str
    empty_reason: str | None = None
    text: str = ""
    language: str | None = None
    language_confidence: float | None = None
    language_method: str | None = None

    @classmethod
    def missing(cls, name: str, reason: str, status: str = "empty") -> "_Source":
        return cls(name=name, status=status, empty_reason=reason)


def _metadata(path: Path, warnings: list[str]) -> _Source:
    """The sidecar's title, description and tags as one text, or why there is none."""
    if not path.is_file():
        return _Source.missing("metadata", EmptyReason.NO_METADATA.value)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        warnings.append(f"metadata sidecar {path} is not readable JSON, ignored: {exc}")
        return _Source.missing("metadata", EmptyReason.NO_METADATA.value)
    if not isinstance(data, dict):
        warnings.append(f"metadata sidecar {path} holds a JSON {type(data).__name__}, not an object; ignored")
        return _Source.missing("metadata", EmptyReason.NO_METADATA.value)
    parts = []
    for key in ("title", "description"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            warnings.append(f"metadata sidecar {path}: {key} is a {type(value).__name__}, not a string; ignored")
        elif value.strip():
            parts.append(value.strip())
    tags = data.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            warnings.append(f"metadata sidecar {path}: tags is not a list of strings; ignored")
        elif any(t.strip() for t in tags):
            parts.append(", ".join(t.strip() for t in tags if t.strip()))
    if not parts:
        return _Source.missing("metadata", EmptyReason.NO_TEXT.value)
    return _Source(name="metadata", status="ok", text="\n".join(parts))


def _upstream_text(name: str, upstream_name: str, result: ComponentResult, key: str, warnings: list[str]) -> _Source:
    """An upstream's text, or why there is none: its own empty reason, or ``no_text``."""
    if result.status is Status.EMPTY:
        return _Source.missing(name, result.empty_reason or EmptyReason.NO_TEXT.value)
    if result.status is Status.ERROR:
        warnings.append(f"{upstream_name} failed, so the {name} text is missing: {result.error}")
        return _Source.missing(name, None, status="error")
    text = result.summary.get(key)
    if text is not None and not isinstance(text, str):
        warnings.append(f"{upstream_name} summary {key!r} is a {type(text).__name__}, not a string; ignored")
        text = None
    if not text or not text.strip():
        return _Source.missing(name, EmptyReason.NO_TEXT.value)
    return _Source(name=name, status="ok", text=text.strip())


def _detect_language(source: _Source, config: TextFeaturesConfig) -> None:
    if len(_WORD.findall(source.text)) < config.language_min_words:
        return
    with _langid_lock:
        language, confidence = _language_identifier().classify(source.text)
    source.language_method = "py3langid"
    source.language_confidence = float(confidence)
    if confidence >= config.language_min_confidence:
        source.language = language


def _chunks(text: str, words_per_chunk: int) -> list[tuple[str, int]]:
    words = text.split()
    return [(" ".join(words[i : i + words_per_chunk]), len(words[i : i + words_per_chunk])) for i in range(0, len(words), words_per_chunk)]


def embed(model: Any, texts: list[str], words_per_chunk: int) -> np.ndarray:
    """One unit-length float32 embedding per text: the word-weighted mean of its chunks' embeddings."""
    pieces = [_chunks(text, words_per_chunk) for text in texts]
    flat = [chunk for chunks in pieces for chunk, _ in chunks]
    vectors = model.encode(flat, batch_size=32)  # unit length (dp_resources.models.minilm)
    vectors = np.asarray(vectors, dtype=np.float64)
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    row = 0
    for i, chunks in enumerate(pieces):
        weights = np.array([n for _, n in chunks], dtype=np.float64)
        mean = (vectors[row : row + len(chunks)] * weights[:, None]).sum(axis=0)
        row += len(chunks)
        norm = np.linalg.norm(mean)
        out[i] = mean / norm if norm > 0 else mean
    return out


def compute(ctx: ComponentContext, config: TextFeaturesConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    warnings: list[str] = []
    metadata = _metadata(ctx.video_path.with_suffix(".json"), warnings)
    if metadata.status == "ok":
        _detect_language(metadata, config)
    ocr = _upstream_text("ocr", "ocr_text", inputs["ocr_text"], "video_text", warnings)
    if ocr.status == "ok":
        _detect_language(ocr, config)
    transcript = _upstream_text("transcript", "transcript", inputs["transcript"], "text", warnings)
    if transcript.status == "ok":
        # Whisper chose the language from the audio itself, a better witness than the words.
        summary = inputs["transcript"].summary
        transcript.language = summary.get("language")
        probability = summary.get("language_probability")
        transcript.language_confidence = float(probability) if probability is not None else None
        transcript.language_method = "whisper"
    sources = [metadata, ocr, transcript]

    present = [s for s in sources if s.status == "ok"]
    for source in present:
        if len(source.text) > config.max_chars:
            warnings.append(f"{source.name} text of {len(source.text)} characters was cut to {config.max_chars}")
            source.text = source.text[: config.max_chars]
    status_summary: dict[str, Any] = {}
    for source in sources:
        status_summary[f"{source.name}_status"] = source.status
        status_summary[f"{source.name}_empty_reason"] = source.empty_reason
    if not present:
        detail = "; ".join(f"{s.name}: {s.empty_reason or s.status}" for s in sources)
        return ComponentResult.empty(EmptyReason.NO_TEXT, f"no text from any source ({detail})", summary=status_summary, warnings=warnings)

    model = ctx.models.get(MINILM, ctx.runtime)
    vectors = dict(zip((s.name for s in present), embed(model, [s.text for s in present], config.words_per_chunk)))

    rows, summary = [], dict(status_summary)
    for source in sources:
        ok = source.status == "ok"
        row = {
            "source": source.name,
            "status": source.status,
            "empty_reason": source.empty_reason,
            "text_length": len(source.text) if ok else None,
            "word_count": len(_WORD.findall(source.text)) if ok else None,
            "hashtag_count": len(_HASHTAG.findall(source.text)) if ok else None,
            "mention_count": len(_MENTION.findall(source.text)) if ok else None,
            "language": source.language,
            "language_confidence": source.language_confidence,
            "language_method": source.language_method,
            "embedding": vectors[source.name] if ok else None,
        }
        rows.append(row)
        for key in SOURCE_SUMMARY_KEYS:
            summary[f"{source.name}_{key}"] = row[key]
    summary["source_count"] = len(present)
    summary["embedding_dim"] = EMBEDDING_DIM
    summary["embeddings"] = {name: vector.tolist() for name, vector in vectors.items()}
    table = pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)
    return ComponentResult.ok(table, summary=summary, warnings=warnings)


SPEC = ComponentSpec(
    name="text_features",
    modality=Modality.TEXT,
    description="Per text source (sidecar metadata, on-screen text, transcript): length, words, hashtags, mentions, language, MiniLM embedding.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=TextFeaturesConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("ocr_text", "transcript"),
    reads={"ocr_text": ("video_text",), "transcript": ("text", "language", "language_probability")},
    models=(MINILM,),
    uses_gpu=True,
    accepts_empty_inputs=True,
    tolerates_failed_inputs=True,
    summary_keys=(
        "embedding_dim",
        "embeddings",
        "source_count",
        *(f"{source}_{key}" for source in SOURCES for key in ("status", "empty_reason", *SOURCE_SUMMARY_KEYS)),
    ),
    reads_sidecar=True,
    prepare=_language_identifier,  # unpacking py3langid's LZMA-packed model takes ~0.8 s
)
