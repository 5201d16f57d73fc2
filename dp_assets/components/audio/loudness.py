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

Everything is measured in one pass over the waveform in chunks, the BS.1770 K-weighting filter
included (:class:`_GatedLoudness`), so memory does not grow with the length of the audio.
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
from dp_assets.media.audio import waveform_blocks, waveform_length

# BS.1770-4 gates 400 ms blocks that overlap by 75 %, i.e. start every 100 ms; the loudness of
# audio shorter than one block is undefined (pyloudnorm refuses it with a ValueError).
BS1770_BLOCK_S = 0.4
BS1770_OVERLAP = 0.75
# Its absolute gate (LKFS), the relative gate below the absolutely gated loudness (LU), and the
# -0.691 dB offset that makes a 997 Hz sine at 0 dBFS read -3.01 LKFS (eq. 2 and 4-7).
BS1770_ABSOLUTE_GATE = -70.0
BS1770_RELATIVE_GATE = -10.0
BS1770_OFFSET = -0.691
# The K-weighting filter as pyloudnorm's Meter builds it for any rate (gain dB, Q, centre Hz,
# type): a +4 dB high shelf modelling the head, then the RLB high-pass (BS.1770-4, Annex 1).
K_WEIGHTING = ((4.0, 1 / math.sqrt(2), 1500.0, "high_shelf"), (0.0, 0.5, 38.0, "high_pass"))
# Windows are read and summed in float64 this many at a time (1024 x 100 ms = 102 s, ~13 MB of
# float64 per array), so an hour of audio is never held whole: pyloudnorm on the whole waveform
# grew the process by 1.46 GB for a 1-hour video.
_WINDOWS_PER_CHUNK = 1024


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


def _import_filters() -> None:
    """pyloudnorm's filters and scipy.signal, imported lazily because they take ~0.9 s."""
    import pyloudnorm.iirfilter  # noqa: F401
    import scipy.signal  # noqa: F401


class _GatedLoudness:
    """BS.1770-4 integrated loudness of a mono signal fed in consecutive chunks.

    The same K-weighting filters, block layout and two gates as ``pyloudnorm.Meter``'s
    ``integrated_loudness``, which filters a copy of the whole signal; here the filter state is
    carried from chunk to chunk (``scipy.signal.lfilter``'s ``zi``) and only the energy of every
    100 ms hop is kept (36 000 numbers for an hour). Results agree with pyloudnorm's to 1e-6 dB
    (float64 filtering here, the waveform's float32 there).
    """

    def __init__(self, rate: int):
        from pyloudnorm.iirfilter import IIRfilter  # here: it imports scipy.signal (~0.9 s)

        self.rate = rate
        self.stages = []
        for gain_db, q, centre_hz, kind in K_WEIGHTING:
            stage = IIRfilter(gain_db, q, centre_hz, rate, kind)
            b, a = np.asarray(stage.b, dtype=np.float64), np.asarray(stage.a, dtype=np.float64)
            self.stages.append([b, a, float(stage.passband_gain), np.zeros(max(len(a), len(b)) - 1)])
        self.block = BS1770_BLOCK_S * rate
        self.hop = int(round(BS1770_BLOCK_S * (1 - BS1770_OVERLAP) * rate))
        self.hops_per_block = int(round(1 / (1 - BS1770_OVERLAP)))
        self.hop_energy: list[np.ndarray] = []
        self.carry = np.zeros(0)
        self.n = 0

    def feed(self, chunk: np.ndarray) -> None:
        import scipy.signal

        y = chunk
        for stage in self.stages:
            b, a, gain, zi = stage
            y, stage[3] = scipy.signal.lfilter(b, a, y, zi=zi)
            if gain != 1.0:
                y = gain * y
        squares = np.concatenate([self.carry, np.square(y)])
        whole = squares.size // self.hop
        self.hop_energy.append(squares[: whole * self.hop].reshape(whole, self.hop).sum(axis=1))
        self.carry = squares[whole * self.hop :]
        self.n += chunk.size

    def integrated(self) -> float:
        """Integrated loudness in LUFS; -inf when no block passes the gates (as pyloudnorm)."""
        hops = np.concatenate(self.hop_energy + [np.array([self.carry.sum()])])
        # pyloudnorm's block count (eq. 3): blocks start every hop while a block still fits,
        # rounded, so the last one may run up to half a hop past the end (it sums what is there).
        n_blocks = int(np.round((self.n / self.rate - BS1770_BLOCK_S) / (BS1770_BLOCK_S * (1 - BS1770_OVERLAP)))) + 1
        hops = np.concatenate([hops, np.zeros(max(0, n_blocks + self.hops_per_block - 1 - hops.size))])
        sums = np.cumsum(np.concatenate([[0.0], hops]))
        z = (sums[self.hops_per_block : self.hops_per_block + n_blocks] - sums[:n_blocks]) / self.block
        with np.errstate(divide="ignore"):
            block_lufs = BS1770_OFFSET + 10.0 * np.log10(z)
        above_absolute = block_lufs >= BS1770_ABSOLUTE_GATE
        if not above_absolute.any():
            return -math.inf
        relative_gate = BS1770_OFFSET + 10.0 * math.log10(float(z[above_absolute].mean())) + BS1770_RELATIVE_GATE
        gated = (block_lufs > relative_gate) & (block_lufs > BS1770_ABSOLUTE_GATE)
        if not gated.any():
            return -math.inf
        return BS1770_OFFSET + 10.0 * math.log10(float(z[gated].mean()))


def compute(ctx: ComponentContext, config: LoudnessConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    waveform = inputs["audio_waveform"]
    rate = int(waveform.summary["sample_rate"])
    n = waveform_length(waveform)
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
    meter = _GatedLoudness(rate)
    offset = 0
    # Chunks are whole windows, so no window straddles two chunks.
    for block in waveform_blocks(waveform, _WINDOWS_PER_CHUNK * window):
        chunk = block.astype(np.float64)
        bad = ~np.isfinite(chunk)
        if bad.any():
            nonfinite += int(bad.sum())
            chunk[bad] = 0.0
        total_energy += float(np.dot(chunk, chunk))
        peak = max(peak, float(np.abs(chunk).max()))
        first = offset // window
        whole = min(chunk.size // window, n_windows - first)
        if whole > 0:
            squares = np.square(chunk[: whole * window]).reshape(whole, window)
            window_power[first : first + whole] = squares.mean(axis=1)
        meter.feed(chunk)
        offset += chunk.size

    if nonfinite:
        # A float decoder fed garbage can emit inf/NaN; they would turn every figure into NaN.
        warnings.append(f"{nonfinite} non-finite samples (inf/NaN) in the waveform were measured as 0")

    with np.errstate(divide="ignore"):
        window_dbfs = 10.0 * np.log10(window_power)  # -inf for all-zero windows
    silent = window_dbfs < config.silence_threshold_dbfs
    silence_ratio = float(silent.mean())  # n_windows >= 1: window_s <= one block <= the audio

    lufs = meter.integrated()
    # When every 400 ms block is below BS.1770's absolute gate (-70 LUFS), digital silence
    # included, the integrated loudness is undefined.
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
    # 1.1.0: integrated loudness computed in chunks (float64 K-weighting) instead of pyloudnorm on
    # the whole float32 waveform; values move by about 1e-6 dB.
    producer_version="1.1.0",
    schema_version=1,
    config_model=LoudnessConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("audio_waveform",),
    reads={"audio_waveform": ("sample_rate", "n_samples")},
    prepare=_import_filters,
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
