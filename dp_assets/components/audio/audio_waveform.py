"""``audio_waveform``: decode the first audio stream once to 16 kHz mono float32 for every audio component.

The samples go to ``waveform.f32`` (raw little-endian float32, no header) in this component's
work folder; downstream components read it with ``dp_assets.media.audio.read_waveform``.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import pyarrow as pa

from dp_assets.contract import (
    ComponentConfig,
    ComponentContext,
    ComponentResult,
    ComponentSpec,
    EmptyReason,
    Modality,
)
from dp_assets.media.audio import WAVEFORM_DTYPE, decode_audio

WAVEFORM_FILE = "waveform.f32"


class AudioWaveformConfig(ComponentConfig):
    # Nothing to configure: rate, layout and format are fixed (``media.audio``) because every
    # downstream audio component is written against 16 kHz mono float32.
    pass


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("sample_rate", pa.int32(), nullable=False),
        pa.field("n_samples", pa.int64(), nullable=False),
        pa.field("duration_s", pa.float64(), nullable=False),
        pa.field("source_codec", pa.string()),
        pa.field("source_sample_rate", pa.int32()),
        pa.field("source_channels", pa.int32()),
    ]
)


def compute(
    ctx: ComponentContext, config: AudioWaveformConfig, inputs: Mapping[str, ComponentResult]
) -> ComponentResult:
    probe = inputs["video_probe"].summary
    if not probe.get("has_audio"):
        return ComponentResult.empty(EmptyReason.NO_AUDIO_TRACK, f"{probe.get('container')} file has no audio stream")

    work_dir = ctx.work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    final = work_dir / WAVEFORM_FILE
    # Written under a temporary name and renamed at the end, so a crash mid-decode never leaves
    # a short waveform.f32 that a reader could take for the whole audio.
    partial = work_dir / (WAVEFORM_FILE + ".partial")
    try:
        with open(partial, "wb") as handle:

            def write(chunk: np.ndarray) -> None:
                handle.write(np.ascontiguousarray(chunk, dtype=WAVEFORM_DTYPE).tobytes())

            decoded = decode_audio(ctx.video_path, write)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise

    warnings = list(decoded.warnings)
    announced = probe.get("duration_s")
    if probe.get("truncated") and announced:
        warnings.append(
            f"audio decoded up to {decoded.decoded_until_s or 0.0:.2f} s of the {announced:.2f} s "
            "the container announces (file truncated or damaged)"
        )

    if decoded.n_samples == 0:
        partial.unlink(missing_ok=True)
        if decoded.decode_error is not None:
            # The stream exists but its first packet could not be decoded: that is damage, not an
            # absence of content, so it is an error (as ``frames`` does for video).
            return ComponentResult.failed(
                f"{ctx.video_path}: no audio sample could be decoded: {'; '.join(warnings)}", warnings=warnings
            )
        detail = f"{decoded.source_codec} audio stream decoded to zero samples"
        if warnings:
            detail += f" ({'; '.join(warnings)})"
        return ComponentResult.empty(EmptyReason.NO_AUDIO_SAMPLES, detail, warnings=warnings)

    os.replace(partial, final)
    row = {
        "sample_rate": decoded.sample_rate,
        "n_samples": decoded.n_samples,
        "duration_s": decoded.duration_s,
        "source_codec": decoded.source_codec,
        "source_sample_rate": decoded.source_sample_rate,
        "source_channels": decoded.source_channels,
    }
    table = pa.Table.from_pylist([row], schema=OUTPUT_SCHEMA)
    summary = {
        **row,
        # Source time of the first sample (e.g. audio that starts after the video) and of the end
        # of the last decoded frame. Sample i is at start_s + i / sample_rate only when the source
        # timestamps have no gaps (decoded_until_s - start_s == duration_s): gaps are not filled.
        "start_s": decoded.start_s,
        "decoded_until_s": decoded.decoded_until_s,
        "damaged": bool(warnings),
    }
    return ComponentResult.ok(table, summary=summary, warnings=warnings, files={"waveform": str(final)})


SPEC = ComponentSpec(
    name="audio_waveform",
    modality=Modality.AUDIO,
    description="One decode of the first audio stream to 16 kHz mono float32 (waveform.f32) for the audio components.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=AudioWaveformConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("video_probe",),
    reads={"video_probe": ("has_audio", "container", "duration_s", "truncated")},
    # the row, the source times and the damage flag
    summary_keys=(*OUTPUT_SCHEMA.names, "start_s", "decoded_until_s", "damaged"),
)
