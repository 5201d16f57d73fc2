"""``transcript``: what is said, by Whisper base (faster-whisper on CTranslate2) over the speech that ``voice_activity`` found.

Only the VAD's speech segments (padded, and merged across short pauses) are transcribed, joined
end to end as faster-whisper's own ``vad_filter`` does; segment times are mapped back to the
original audio. Audio without speech never reaches Whisper, which invents text on music and noise.
"""

from __future__ import annotations

import re
from typing import Annotated, Mapping

import numpy as np
import pyarrow as pa
from pydantic import Field, StringConstraints, model_validator

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
from dp_resources.models.whisper import WHISPER_BASE, UnknownLanguageError


class TranscriptConfig(ComponentConfig):
    # None: Whisper detects the language on the first 30 s of speech; an ISO 639-1 code forces it.
    language: str | None = Field(default=None, min_length=2, max_length=3)
    # With ``language`` unset: the languages the material may be in; Whisper's detection picks the
    # likeliest of these only (it took an eSpeak Scottish voice for Welsh, docs/benchmarks.md).
    languages: tuple[Annotated[str, StringConstraints(min_length=2, max_length=3)], ...] | None = Field(default=None, min_length=1)
    # faster-whisper's default beam. Greedy (1) is 0.2-0.25 s faster per short clip and read one
    # word more wrong in 240 on the speech evaluation set (docs/benchmarks.md): no evidence yet.
    beam_size: int = Field(default=5, ge=1, le=16)
    # VAD segments are widened by this much (clamped to the audio) and joined when the pause
    # between them is shorter than ``merge_gap_s``: Silero's tight 30 ms padding clips word
    # onsets, and Whisper needs the natural pauses to place punctuation. 0.4 s and 2 s are the
    # speech padding and minimum silence faster-whisper's own VAD filter uses.
    pad_s: float = Field(default=0.4, ge=0)
    merge_gap_s: float = Field(default=2.0, ge=0)
    # Whisper retries a window that fails its confidence check by sampling at rising temperatures
    # (faster-whisper's 0.2 ... 1.0). CTranslate2 samples from a per-thread random generator that
    # cannot be seeded per call, so the same audio then gets a different text on every run (three
    # runs of one 11 s clip gave three transcripts, in 26-36 s against 9 s for its beam search and
    # 2 s for a clip that passes). Off: the beam search's text is kept, the same on every run,
    # and flagged by the low-confidence warning. On: Whisper's retries, not reproducible.
    sample_on_failure: bool = False

    @model_validator(mode="after")
    def _one_way_to_choose_the_language(self) -> "TranscriptConfig":
        if self.language is not None and self.languages is not None:
            raise ValueError("set either language (forces it) or languages (detection among them), not both")
        return self


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        # Mean token log-probability of the 30 s decoding window the segment came from (faster-whisper
        # scores windows, so segments of one window share it); below -1 Whisper counts the window as failed.
        pa.field("avg_logprob", pa.float64(), nullable=False),
        # Whisper's probability that the window held no speech, and the sampling temperature the
        # segment needed (above 0 only with sample_on_failure: the beam result failed Whisper's checks).
        pa.field("no_speech_prob", pa.float64(), nullable=False),
        pa.field("temperature", pa.float64(), nullable=False),
    ]
)

# faster-whisper's own quality check: a window whose mean token log-probability is below this
# failed (with ``sample_on_failure`` it is decoded again at the next temperature, and the best
# attempt kept when every temperature fails).
WHISPER_LOG_PROB_THRESHOLD = -1.0
# ... and a window whose text compresses (gzip) by more than this is looping.
WHISPER_COMPRESSION_RATIO_THRESHOLD = 2.4
# faster-whisper's default temperatures: 0 (beam search), then sampling.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
# A detected language this likely or less is named as the probable cause when the decoding
# failed: the Harvard sentences in eSpeak's Scottish voice were taken for Welsh at 0.35 (its
# correct English detections ranged 0.44-0.93, JFK and Obama 0.94-0.99; docs/benchmarks.md).
UNSURE_LANGUAGE_PROBABILITY = 0.5

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


def low_confidence_warning(rows: list[dict], language: str, probability: float, language_forced: bool) -> str | None:
    """A warning when Whisper's decoding failed its own checks on some segments (the window's mean
    token log-probability under the threshold, or its text so repetitive that it compresses more
    than Whisper allows: the loop a wrong language or hard audio falls into), so the text is
    probably not what was said. Whisper's likeliest failure is the wrong language."""
    def is_unlikely(row: dict) -> bool:
        return row["avg_logprob"] < WHISPER_LOG_PROB_THRESHOLD

    def is_looping(row: dict) -> bool:
        return row["compression_ratio"] > WHISPER_COMPRESSION_RATIO_THRESHOLD

    failed = [row for row in rows if is_unlikely(row) or is_looping(row)]
    if not failed:
        return None
    unlikely, looping = [r for r in failed if is_unlikely(r)], [r for r in failed if is_looping(r)]
    seconds = sum(row["end_s"] - row["start_s"] for row in failed)
    reasons = []
    if unlikely:
        reasons.append(
            f"mean token log-probability down to {min(r['avg_logprob'] for r in unlikely):.2f}, below {WHISPER_LOG_PROB_THRESHOLD:g}"
        )
    if looping:
        reasons.append(
            f"text repeating itself, compression ratio up to {max(r['compression_ratio'] for r in looping):.1f}, "
            f"above {WHISPER_COMPRESSION_RATIO_THRESHOLD:g}"
        )
    hottest = max(row["temperature"] for row in failed)
    message = (
        f"Whisper's decoding failed its own checks on {len(failed)} of {len(rows)} segments "
        f"({seconds:.1f} s of speech: {'; '.join(reasons)}"
        + (f"; after sampling up to temperature {hottest:g}" if hottest > 0 else "")
        + "); their text is probably not what was said"
    )
    if not language_forced and probability <= UNSURE_LANGUAGE_PROBABILITY:
        message += (
            f". The language was detected as '{language}' with probability {probability:.2f}: "
            "if the speech's language is known, set transcript.language (or transcript.languages) in the profile"
        )
    return message


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
    try:
        transcription = model.transcribe_once(
            audio,
            language=config.language,
            candidates=config.languages,
            beam_size=config.beam_size,
            temperature=FALLBACK_TEMPERATURES if config.sample_on_failure else 0.0,
            vad_filter=False,
        )
    except UnknownLanguageError as exc:
        return ComponentResult.failed(str(exc))
    # Times in the joined speech audio -> times in the original audio.
    timeline = SpeechTimestampsMap(chunks, rate)
    rows = []
    for segment in transcription.segments:
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
                # For the warning only: from_pylist keeps the schema's columns, so it is not stored.
                "compression_ratio": float(segment.compression_ratio),
            }
        )
    speech_s = audio.shape[0] / rate
    doubt = low_confidence_warning(rows, transcription.language, transcription.language_probability, config.language is not None)
    if doubt:
        warnings.append(doubt)
    if not rows:
        return ComponentResult.empty(
            EmptyReason.NO_SPEECH,
            f"Whisper transcribed no words in the {speech_s:.2f} s of speech voice_activity found",
            summary={"language": transcription.language, "language_probability": transcription.language_probability},
            warnings=warnings,
        )
    text = " ".join(row["text"] for row in rows)
    table = pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)
    summary = {
        "text": text,
        "language": transcription.language,
        "language_probability": transcription.language_probability,
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
    # 1.1.0: no sampling on a failed window unless sample_on_failure (reproducible text).
    producer_version="1.1.0",
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
