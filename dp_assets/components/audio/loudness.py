"""``loudness``: how loud the audio is (BS.1770-4 integrated loudness, RMS, peak) and how much of it is silent.

All figures are measured on the 16 kHz mono downmix that ``audio_waveform`` decodes once, so the
integrated loudness is that of the downmix, not the per-channel BS.1770 weighting of the original
stereo or surround mix. FFmpeg's float downmix is not normalised: stereo becomes (L + R) / sqrt(2),
so identical channels come out +3.01 dB hotter than either one (their BS.1770 stereo loudness is
then matched exactly), uncorrelated channels 3 dB quieter than their stereo loudness, and the
downmix peak can exceed 0 dBFS. The LFE channel of 5.1 is dropped by the downmix.

Levels in dBFS are ``20 * log10(x)`` with full scale 1.0, i.e. a full-scale square wave is
0 dBFS and a full-scale sine -3.01 dBFS RMS. The table has one row per ``window_s`` window
(default 100 ms, trailing partial window dropped): its start, its RMS level (null when the window
is digital silence, all zeros) and whether it counts as silent; ``silence_ratio`` is the share of
silent windows.
"""

from __future__ import annotations

import math
from typing import Mapping

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
)
from dp_assets.media.audio import read_waveform

# BS.1770-4 gates 400 ms blocks; pyloudnorm refuses (ValueError) anything shorter than one block.
BS1770_BLOCK_S = 0.4
# Windows are summed in float64 this many at a time, so a 2-hour waveform (memory-mapped) is
# never converted to float64 as a whole (~920 MB).
_WINDOWS_PER_CHUNK = 4096


class LoudnessConfig(ComponentConfig):
    # A 100 ms window holds several pitch periods even of a low voice (80 Hz: 12.5 ms) and is
    # short enough to resolve pauses between words. At most one BS.1770 block, so any audio long enough
    # to measure has at least one full window.
    window_s: float = Field(default=0.1, gt=0, le=BS1770_BLOCK_S)
    # A window is silent when its RMS is below this. -50 dBFS is under speech and music at any
    # usual recording level (the shared clips' speech windows have medians of -21 to -41 dBFS)
    # and over digital silence and the noise floor of clean recordings (hiss, 16-bit dither:
    # -70 dBFS and lower). Noisy recordings are not silent in their pauses: JFK's crowd noise
    # keeps every window above -47 dBFS. Measured on the downmix (see above).
    silence_threshold_dbfs: float = Field(default=-50.0, lt=0)


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("rms_dbfs", pa.float64()),  # null: digital silence (all samples zero)
        pa.field("silent", pa.bool_(), nullable=False),
    ]
)


def _db(value: float) -> float | None:
    """``20 * log10(value)``, or None where that is -inf (zero) or not a number."""
    if not value > 0 or not math.isfinite(value):
        return None
    return 20.0 * math.log10(value)


def compute(ctx: ComponentContext, config: LoudnessConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    waveform = inputs["audio_waveform"]
    rate = int(waveform.summary["sample_rate"])
    samples = read_waveform(waveform)
    n = int(samples.shape[0])
    duration_s = n / rate
    if n < BS1770_BLOCK_S * rate:
        return ComponentResult.empty(
            EmptyReason.TOO_SHORT,
            f"{duration_s:.3f} s of audio is shorter than the {BS1770_BLOCK_S * 1000:.0f} ms BS.1770 gating block",
        )

    warnings: list[str] = []
    window = max(1, round(config.window_s * rate))
    n_windows = n // window
    window_power = np.empty(n_windows, dtype=np.float64)
    total_energy = 0.0
    peak = 0.0
    nonfinite = 0
    step = _WINDOWS_PER_CHUNK * window
    for offset in range(0, n, step):
        chunk = np.asarray(samples[offset : offset + step], dtype=np.float64)
        bad = ~np.isfinite(chunk)
        if bad.any():
            nonfinite += int(bad.sum())
            chunk = np.where(bad, 0.0, chunk)
        total_energy += float(np.dot(chunk, chunk))
        peak = max(peak, float(np.abs(chunk).max()))
        first = offset // window
        whole = min(chunk.size // window, n_windows - first)
        if whole > 0:
            squares = np.square(chunk[: whole * window]).reshape(whole, window)
            window_power[first : first + whole] = squares.mean(axis=1)

    if nonfinite:
        # A float decoder fed garbage can emit inf/NaN; they would turn every figure into NaN.
        warnings.append(f"{nonfinite} non-finite samples (inf/NaN) in the waveform were measured as 0")
        samples = np.nan_to_num(np.asarray(samples), nan=0.0, posinf=0.0, neginf=0.0)

    with np.errstate(divide="ignore"):
        window_dbfs = 10.0 * np.log10(window_power)  # -inf for all-zero windows
    silent = window_dbfs < config.silence_threshold_dbfs
    silence_ratio = float(silent.mean())  # n_windows >= 1: window_s <= one block <= the audio

    # pyloudnorm copies the samples and filters them in their own dtype: float32 keeps those
    # copies at half the size of float64 and changes JFK's result by 7e-8 dB (measured).
    import pyloudnorm  # here, not at module level: it imports scipy.signal (~0.9 s)

    lufs = float(pyloudnorm.Meter(rate).integrated_loudness(samples))
    # When every 400 ms block is below BS.1770's absolute gate (-70 LUFS), digital silence
    # included, the integrated loudness is undefined and pyloudnorm returns -inf.
    integrated_lufs = lufs if math.isfinite(lufs) else None

    table = pa.table(
        {
            "start_s": np.arange(n_windows, dtype=np.float64) * (window / rate),
            "rms_dbfs": pa.array(window_dbfs, type=pa.float64(), mask=~np.isfinite(window_dbfs)),
            "silent": silent,
        },
        schema=OUTPUT_SCHEMA,
    )
    summary = {
        "integrated_lufs": integrated_lufs,
        "below_absolute_gate": integrated_lufs is None,
        "rms_dbfs": _db(math.sqrt(total_energy / n)),
        "peak_dbfs": _db(peak),
        "digital_silence": peak == 0.0,
        "silence_ratio": silence_ratio,
        "silence_threshold_dbfs": float(config.silence_threshold_dbfs),
        "window_s": window / rate,
        "n_windows": n_windows,
        "duration_s": duration_s,
    }
    return ComponentResult.ok(table, summary=summary, warnings=warnings)


SPEC = ComponentSpec(
    name="loudness",
    modality=Modality.AUDIO,
    description="BS.1770-4 integrated loudness (LUFS), RMS and peak dBFS, and silence ratio of the 16 kHz mono downmix.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=LoudnessConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("audio_waveform",),
    reads={"audio_waveform": ("sample_rate", "n_samples")},
    summary_keys=(
        "below_absolute_gate",
        "digital_silence",
        "duration_s",
        "integrated_lufs",
        "n_windows",
        "peak_dbfs",
        "rms_dbfs",
        "silence_ratio",
        "silence_threshold_dbfs",
        "window_s",
    ),
)
