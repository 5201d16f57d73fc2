"""``shot_boundaries``: find shot changes, hard cuts and gradual transitions (dissolves, fades).

The default ``histogram`` detector compares the HSV histograms of consecutive low-resolution
frames, in the spirit of PySceneDetect's HistogramDetector with the adaptive test of its
AdaptiveDetector, rejects flashes (the picture comes back), and finds gradual transitions
separately: dissolves as a change spread over half a second in which the middle frame is the
blend of the frames around it, fades as a dip to black between two lit shots. The
``transnetv2`` detector runs the TransNetV2 network on every frame instead (more accurate on
the evaluation set, about 60x the CPU time; see docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import cv2
import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from dp_assets.contract import (
    ComponentConfig,
    ComponentContext,
    ComponentResult,
    ComponentSpec,
    EmptyReason,
    FrameRequest,
    Modality,
    ModelUnavailableError,
    SamplingPolicy,
)
from dp_resources.models import transnetv2 as transnet

# Sampling. 8 fps puts a cut at most 1/8 s after the real one while keeping the frames store
# small; 64 px on the long side (64x36 for 16:9) is plenty for colour histograms and makes the
# decode-side scaling nearly free.
DEFAULT_ANALYSIS_FPS = 8.0
DEFAULT_ANALYSIS_MAX_SIDE = 64
# 7200 frames = 15 min at 8 fps, about 50 MB of 64x36 RGB. Longer videos are sampled more
# sparsely so that the cap still spans the whole video (see FrameRequest): cut times get coarser
# and fast motion starts to look like a cut, but memory and the frames store stay bounded.
DEFAULT_MAX_FRAMES = 7200

# Detection. A pair of frames is a cut when its histogram distance (0 = same colours,
# 1 = disjoint) is at least DEFAULT_MIN_SCORE *and* DEFAULT_ADAPTIVE_RATIO times the median
# distance of the pairs around it. On the test media real cuts score 0.28-0.46 while camera
# motion, talking heads and a caption sliding in stay below 0.14; the ratio test rejects fades,
# where every pair in a row differs by about as much (ratio ~1.3 across Big Buck Bunny's
# fade-in) and rejects busy action, which raises the neighbours' median with it. A pop-up that
# greys out a whole screen recording (0.29-0.33) does count: the picture changes at once.
DEFAULT_MIN_SCORE = 0.2
DEFAULT_ADAPTIVE_RATIO = 3.0
# Neighbours on each side of a pair used for the adaptive median; half a second is long enough
# to see the local motion level and short enough not to reach into the previous shot.
DEFAULT_ADAPTIVE_WINDOW_S = 0.5
# Two boundaries closer than this are not both believed: the stronger wins. 0.25 s is two
# samples at 8 fps: the evaluation set's montage has real shots of 0.4 s, which the former
# 0.6 s (PySceneDetect's 15 frames at 25 fps) dropped, together with a cut 0.48 s into a clip.
# Flashes and glitch frames, which that minimum used to absorb, are rejected by FLASH_RETURN_S.
DEFAULT_MIN_SHOT_S = 0.25
# A clip whose sampled frames span less than this is too short for a cut rate: the count of
# cuts in half a second says nothing about pacing (visual_pacing then reports no cut rate).
MIN_ANALYSED_S = 0.6
# A candidate cut is a flash (a camera flash, a strobe, a glitch frame) when the picture before
# it comes back within this time: the frame before the change and one at most FLASH_RETURN_S
# after it are closer than FLASH_RETURN_SHARE of the change (and than min_score). A real cut's
# new shot does not turn back into the old one.
FLASH_RETURN_S = 0.375
FLASH_RETURN_SHARE = 0.5

# Gradual transitions. Frames GRADUAL_HALF_WINDOWS_S before and after a frame are compared: a
# dissolve has them differ by at least min_score while no single pair of consecutive frames
# carries more than GRADUAL_MAX_STEP_SHARE of that change (else it is a cut, found above), and
# the middle frame is close to the pixel mean of the two (a blend): the mean absolute residual
# is at most the given share of their mean absolute difference. Motion fails that test
# (a whip pan's middle frame is a third picture, not a mix); on the evaluation set dissolves of
# 6-36 frames measure 0.04-0.31 at 0.25 s and 0.05-0.19 at 0.5 s, flashes, pans, a whip pan and
# cartoon action 0.25-1.3 (nearest: 0.25 next to a flash, 0.27 a pan running into a cut).
GRADUAL_HALF_WINDOWS_S = ((0.25, 0.3), (0.5, 0.2))
GRADUAL_MAX_STEP_SHARE = 0.9
# ... and the two ends are not one picture at two brightnesses: after the best scaling of one onto
# the other, what differs is at least this share of their difference (Big Buck Bunny's fade-in
# from black measures 0.01-0.05, the evaluation set's dissolves 0.61-1.0; the halves of a fade
# through black also measure 0.01-0.27 here, and are found as dips by FADE_MAX_LUMA instead).
SAME_PICTURE_SHARE = 0.5
# A cut-test hit is relabelled gradual when a gradual transition's core (its most blended or
# darkest frame) lies within this time of it: short dissolves and fades have one step steep
# enough for the cut test right at their middle, while a hard cut next to a transition (a short
# shot after a fade) is further from that transition's core.
GRADUAL_CORE_S = 0.25
# Fades through black: the mean luma (0-255) of a frame drops to at most FADE_MAX_LUMA and to
# at most FADE_DEPTH of the brightest frame within FADE_REACH_S on *each* side, and both sides
# are lit (at least FADE_MIN_LIT_LUMA): a shot before and after. A video starting from black
# (Big Buck Bunny's fade-in) has no shot before, and a near-black video no lit side.
FADE_MAX_LUMA = 40.0
FADE_DEPTH = 0.3
FADE_MIN_LIT_LUMA = 48.0
FADE_REACH_S = 1.5

# Histogram bins per HSV channel. 16 keeps the 2,304 pixels of a 64x36 frame from spreading
# into mostly-empty bins, so the distance measures colour changes rather than pixel noise.
HIST_BINS = 16
# The neighbours' median is floored at this distance: in a static shot it is close to 0 and any
# compression flicker would look like a many-fold jump. About the median pair distance of
# ordinary footage at 8 fps.
ADAPTIVE_MEDIAN_FLOOR = 0.02
# Pixels whose histograms are computed at once (about 2,000 frames of 64x36); bounds the
# temporaries to ~100 MB whatever analysis_max_side is.
_CHUNK_PIXELS = 4_000_000

# TransNetV2 takes every frame of the video at 48x27; frames are sampled at this rate (the
# first frame at or after each 1/25 s), which is every frame of 24/25 fps video and drops one in
# six of 30 fps video, and read from a 64 px tier scaled to 48x27 as its authors' ffmpeg call does.
TRANSNET_FPS = 25.0
TRANSNET_MAX_SIDE = 64
# 22,500 frames = 15 min at 25 fps (~155 MB of 64x36 RGB), the histogram detector's 15 min.
TRANSNET_MAX_FRAMES = 22_500
# The published threshold on the network's single-frame output.
DEFAULT_TRANSNET_THRESHOLD = 0.5
# Frames the all-frames output marks around a hard cut (the last of one shot, the first of the
# next); a transition marked over more frames is reported as gradual.
TRANSNET_CUT_FRAMES = 2

Detector = Literal["histogram", "transnetv2"]


class ShotBoundariesConfig(ComponentConfig):
    detector: Detector = "histogram"
    analysis_fps: float = Field(DEFAULT_ANALYSIS_FPS, gt=0, le=120)
    analysis_max_side: int = Field(DEFAULT_ANALYSIS_MAX_SIDE, ge=16, le=512)
    max_frames: int = Field(DEFAULT_MAX_FRAMES, ge=2)
    min_score: float = Field(DEFAULT_MIN_SCORE, gt=0, le=1)
    adaptive_ratio: float = Field(DEFAULT_ADAPTIVE_RATIO, ge=1)  # 1 disables the adaptive test
    adaptive_window_s: float = Field(DEFAULT_ADAPTIVE_WINDOW_S, gt=0)
    min_shot_s: float = Field(DEFAULT_MIN_SHOT_S, ge=0)
    # Report dissolves and fades too (histogram detector); off = hard cuts only.
    gradual: bool = True
    transnet_threshold: float = Field(DEFAULT_TRANSNET_THRESHOLD, gt=0, lt=1)

    @model_validator(mode="after")
    def _model_installed(self) -> "ShotBoundariesConfig":
        if self.detector == "transnetv2":
            try:
                transnet.TRANSNETV2.weight_files()
            except ModelUnavailableError as exc:
                raise ValueError(f"detector transnetv2 needs its model package: {exc}") from None
        return self


def _models(config: ShotBoundariesConfig) -> tuple:
    """TransNetV2 signs the output only when it is the detector; the histogram uses no model."""
    return (transnet.TRANSNETV2,) if config.detector == "transnetv2" else ()


def _uses_gpu(config: ShotBoundariesConfig) -> bool:
    return config.detector == "transnetv2"


OUTPUT_SCHEMA = pa.schema(
    [
        # A cut: the first sampled frame of the new shot. A gradual transition: a frame inside
        # it (its steepest step, or its most blended or darkest frame).
        pa.field("time_s", pa.float64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        # The change happened in (from_pts_s, to_pts_s]: the last sampled frame of the old shot
        # and the first of the new one (for a gradual transition, the frames around it).
        pa.field("from_pts_s", pa.float64(), nullable=False),
        pa.field("to_pts_s", pa.float64(), nullable=False),
        # "cut" or "gradual" (dissolve, fade)
        pa.field("kind", pa.string(), nullable=False),
    ]
)


def frame_request(config: ShotBoundariesConfig, sampling: SamplingPolicy) -> FrameRequest:
    # Independent of the profile's sampling policy: cut detection needs dense frames, not many
    # pixels, whatever the other components sample.
    if config.detector == "transnetv2":
        return FrameRequest(fps=TRANSNET_FPS, max_side=TRANSNET_MAX_SIDE, max_frames=TRANSNET_MAX_FRAMES)
    return FrameRequest(fps=config.analysis_fps, max_side=config.analysis_max_side, max_frames=config.max_frames)


def hsv_histograms(images: np.ndarray) -> np.ndarray:
    """Per-frame HSV histograms, shape (n, 3, HIST_BINS + 1), each channel summing to 1.

    Hue is weighted by chroma (S*V): the hue of grey and near-black pixels is noise (a dark
    frame's hue histogram flips wholesale between frames), so their weight goes to an extra
    "neutral" bin instead. Saturation and value use the last bin as padding (always 0).
    """
    n, height, width = images.shape[:3]
    out = np.zeros((n, 3, HIST_BINS + 1), dtype=np.float64)
    step = max(1, _CHUNK_PIXELS // (height * width))
    for start in range(0, n, step):
        chunk = np.ascontiguousarray(images[start : start + step])
        m, h, w, _ = chunk.shape
        # cvtColor is per pixel, so the whole chunk converts as one tall image.
        hsv = cv2.cvtColor(chunk.reshape(m * h, w, 3), cv2.COLOR_RGB2HSV).reshape(m, h * w, 3)
        rows = np.repeat(np.arange(m), h * w) * (HIST_BINS + 1)
        hue_bin = (hsv[..., 0].astype(np.int64) * HIST_BINS) // 180  # OpenCV hue is 0..179
        chroma = (hsv[..., 1].astype(np.float64) * hsv[..., 2]) / (255.0 * 255.0)
        size = m * (HIST_BINS + 1)
        hue = np.bincount(rows + hue_bin.ravel(), weights=chroma.ravel(), minlength=size)
        hue = hue.reshape(m, HIST_BINS + 1)
        hue[:, HIST_BINS] = (1.0 - chroma).sum(axis=1)
        sat = np.bincount(rows + (hsv[..., 1].ravel().astype(np.int64) * HIST_BINS) // 256, minlength=size)
        val = np.bincount(rows + (hsv[..., 2].ravel().astype(np.int64) * HIST_BINS) // 256, minlength=size)
        out[start : start + m, 0] = hue
        out[start : start + m, 1] = sat.reshape(m, HIST_BINS + 1)
        out[start : start + m, 2] = val.reshape(m, HIST_BINS + 1)
    out /= out.sum(axis=2, keepdims=True)
    return out


def histogram_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bhattacharyya distance (0..1) between histograms (..., 3, bins), averaged over H, S and V."""
    overlap = np.sqrt(a * b).sum(axis=-1)
    return np.sqrt(np.clip(1.0 - overlap, 0.0, 1.0)).mean(axis=-1)


def pair_distances(hists: np.ndarray) -> np.ndarray:
    """Histogram distance between consecutive frames."""
    return histogram_distance(hists[1:], hists[:-1])


def adaptive_ratios(scores: np.ndarray, window: int) -> np.ndarray:
    """Each score over the floored median of up to ``window`` scores on either side of it.

    A median rather than a mean, so that a second cut inside the window does not hide the first.
    """
    ratios = np.empty_like(scores)
    for i in range(scores.size):
        around = np.concatenate([scores[max(0, i - window) : i], scores[i + 1 : i + 1 + window]])
        local = float(np.median(around)) if around.size else 0.0
        ratios[i] = scores[i] / max(local, ADAPTIVE_MEDIAN_FLOOR)
    return ratios


@dataclass
class Boundary:
    """A shot change found at sample ``index`` (a cut: the first sample of the new shot), which
    happened between samples ``first`` and ``last``."""

    index: int
    first: int
    last: int
    score: float
    kind: str  # "cut" or "gradual"


def is_flash(k: int, hists: np.ndarray, scores: np.ndarray, reach: int, min_score: float) -> bool:
    """Whether the change at sample ``k`` undoes itself (or undoes one just before): a flash."""
    limit = min(min_score, FLASH_RETURN_SHARE * scores[k])
    n = hists.shape[0]
    for j in range(1, reach + 1):
        # The start of a flash: the old picture is back j samples after the change ...
        if k + j < n and histogram_distance(hists[k - 1], hists[k + j]) < limit:
            return True
        # ... or its end: the picture after the change is the one from before the flash began.
        if k - 1 - j >= 0 and histogram_distance(hists[k - 1 - j], hists[k]) < limit:
            return True
    return False


def select_boundaries(found: list[Boundary], times: np.ndarray, min_shot_s: float) -> list[Boundary]:
    """The strongest boundaries that leave every shot, the first included, ``min_shot_s`` long.

    Cuts first, strongest first, then gradual transitions, which must also not overlap an
    accepted boundary's span: of two candidates too close together the weaker one goes, which
    keeps the real cut when a cut and a glitch frame are close together.
    """
    accepted: list[Boundary] = []
    for b in sorted(found, key=lambda b: (b.kind != "cut", -b.score)):
        t = times[b.index]
        if t - times[0] + 1e-9 < min_shot_s:
            continue
        if any(abs(t - times[a.index]) + 1e-9 < min_shot_s for a in accepted):
            continue
        if b.kind == "gradual" and any(a.first <= b.index <= a.last or b.first < a.index <= b.last for a in accepted):
            continue
        accepted.append(b)
    return sorted(accepted, key=lambda b: b.index)


def select_cuts(candidates: list[int], scores: np.ndarray, times: np.ndarray, min_shot_s: float) -> list[int]:
    """Cut candidates (sample indices) kept by :func:`select_boundaries`."""
    found = [Boundary(k, k - 1, k, float(scores[k]), "cut") for k in candidates]
    return [b.index for b in select_boundaries(found, times, min_shot_s)]


def find_dissolves(images: np.ndarray, hists: np.ndarray, scores: np.ndarray, interval: float, config: ShotBoundariesConfig) -> list[Boundary]:
    """Dissolves (and the edges of fades): see GRADUAL_HALF_WINDOWS_S."""
    n = images.shape[0]
    small = images.astype(np.float32)
    found: list[Boundary] = []
    for half_s, max_residual in GRADUAL_HALF_WINDOWS_S:
        w = max(1, int(round(half_s / interval)))
        if n < 2 * w + 1:
            continue
        ks = np.arange(w, n - w)
        spread = histogram_distance(hists[ks - w], hists[ks + w])
        for k, change in zip(ks, spread):
            if change < config.min_score:
                continue
            if scores[k - w + 1 : k + w + 1].max() > GRADUAL_MAX_STEP_SHARE * change:
                continue
            before, after = small[k - w], small[k + w]
            difference = np.abs(after - before).mean()
            residual = np.abs(small[k] - (before + after) / 2).mean()
            if residual > max_residual * difference:
                continue
            # One picture getting brighter or darker (a fade-in from black, a fade-out) is a
            # blend too, of the picture and black: not a change of shot. Then one end is nearly
            # the other scaled (least squares), which two different pictures never are.
            scale = float((before * after).sum() / max(float((after * after).sum()), 1e-6))
            if np.abs(before - scale * after).mean() < SAME_PICTURE_SHARE * difference:
                continue
            found.append(Boundary(int(k), int(k - w), int(k + w), float(change), "gradual"))
    return found


def find_fades(images: np.ndarray, interval: float) -> list[Boundary]:
    """Fades through black between two lit shots: see FADE_MAX_LUMA."""
    luma = (images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).mean(axis=(1, 2))
    reach = max(1, int(round(FADE_REACH_S / interval)))
    found = []
    for m in range(1, luma.size - 1):
        if not (luma[m] <= luma[m - 1] and luma[m] < luma[m + 1]) or luma[m] > FADE_MAX_LUMA:
            continue
        before, after = luma[max(0, m - reach) : m], luma[m + 1 : m + 1 + reach]
        lit = min(before.max(), after.max())
        if lit < FADE_MIN_LIT_LUMA or luma[m] > FADE_DEPTH * lit:
            continue
        # The fade spans from the last bright-enough frame before the dip to the first after it.
        first = m - 1 - int(np.argmax(before[::-1] >= 0.5 * before.max()))
        last = m + 1 + int(np.argmax(after >= 0.5 * after.max()))
        found.append(Boundary(m, first, last, float(1.0 - luma[m] / lit), "gradual"))
    return found


def detect_histogram(pts: np.ndarray, images: np.ndarray, config: ShotBoundariesConfig) -> list[Boundary]:
    hists = hsv_histograms(images)
    # scores[k] compares frame k - 1 with frame k (scores[0] = 0: the first frame starts a shot),
    # so candidate cuts are indices of the first frame of a new shot.
    scores = np.concatenate([[0.0], pair_distances(hists)])
    interval = float(np.median(np.diff(pts)))
    window = max(1, int(round(config.adaptive_window_s / interval))) if interval > 0 else 1
    ratios = np.concatenate([[0.0], adaptive_ratios(scores[1:], window)])
    reach = max(1, int(round(FLASH_RETURN_S / interval))) if interval > 0 else 1
    found = [
        Boundary(k, k - 1, k, float(scores[k]), "cut")
        for k in range(1, len(pts))
        if scores[k] >= config.min_score and ratios[k] >= config.adaptive_ratio
        and not is_flash(k, hists, scores, reach, config.min_score)
    ]
    gradual: list[Boundary] = []
    if config.gradual and interval > 0:
        gradual = merge_gradual(find_dissolves(images, hists, scores, interval, config) + find_fades(images, interval))
    accepted = select_boundaries(found + gradual, pts, config.min_shot_s)
    # A short dissolve or fade (up to ~0.7 s) also has one step steep enough for the cut test,
    # which wins the selection; a blend or a dip around that step says it was gradual. (A hard
    # cut's neighbourhood is no blend: its middle frame is one picture, not the mean of two.)
    for b in accepted:
        around = [
            g for g in gradual
            if b.kind == "cut" and g.first <= b.index <= g.last and abs(pts[g.index] - pts[b.index]) <= GRADUAL_CORE_S + 1e-9
        ]
        if around:
            span = max(around, key=lambda g: g.score)
            b.kind, b.first, b.last = "gradual", min(span.first, b.first), max(span.last, b.last)
    return accepted


def merge_gradual(found: list[Boundary]) -> list[Boundary]:
    """One boundary per gradual transition: a long dissolve passes the test at many frames and
    at both window sizes, with overlapping spans; those become the strongest of them, spanning
    all of them."""
    merged: list[Boundary] = []
    for b in sorted(found, key=lambda b: b.first):
        if merged and b.first <= merged[-1].last + 1:
            last = merged[-1]
            best = b if b.score > last.score else last
            merged[-1] = Boundary(best.index, min(last.first, b.first), max(last.last, b.last), best.score, "gradual")
        else:
            merged.append(b)
    return merged


def detect_transnet(ctx: ComponentContext, pts: np.ndarray, images: np.ndarray, config: ShotBoundariesConfig) -> list[Boundary]:
    model = ctx.models.get(transnet.TRANSNETV2, ctx.runtime)
    small = np.stack([cv2.resize(np.asarray(im), (transnet.INPUT_WIDTH, transnet.INPUT_HEIGHT), interpolation=cv2.INTER_AREA) for im in images])
    probability, extent = transnet.predict(model, small)
    above = probability > config.transnet_threshold
    found = []
    k = 0
    while k < len(above):
        if not above[k]:
            k += 1
            continue
        start = k
        while k < len(above) and above[k]:
            k += 1
        # A run of transition frames [start, k): the new shot starts at k (TransNetV2's own
        # predictions_to_scenes). A run reaching the first or the last frame changes no shot.
        if start > 0 and k < len(above):
            # The all-frames head marks every frame of a transition: a cut is at most
            # TRANSNET_CUT_FRAMES of them around the run, a dissolve or fade more.
            first, last = start, k - 1
            while first > 0 and extent[first - 1] > config.transnet_threshold:
                first -= 1
            while last + 1 < len(extent) and extent[last + 1] > config.transnet_threshold:
                last += 1
            kind = "cut" if last - first + 1 <= TRANSNET_CUT_FRAMES else "gradual"
            found.append(Boundary(k, max(0, first - 1), min(len(pts) - 1, max(k, last + 1)), float(probability[start:k].max()), kind))
    return select_boundaries(found, pts, config.min_shot_s)


def compute(
    ctx: ComponentContext, config: ShotBoundariesConfig, inputs: Mapping[str, ComponentResult]
) -> ComponentResult:
    frames = ctx.frames  # the frames of this component's frame_request, handed over by run_component
    pts = frames.pts_s
    n = len(frames)
    span = float(pts[-1] - pts[0]) if n else 0.0
    # Over less than MIN_ANALYSED_S a count of cuts says nothing: report too_short, not "0 cuts".
    if n < 2 or span + 1e-9 < MIN_ANALYSED_S:
        return ComponentResult.empty(
            EmptyReason.TOO_SHORT,
            f"{n} frame(s) sampled over {span:.2f} s; cuts are counted over at least {MIN_ANALYSED_S:g} s",
        )
    images = np.asarray(frames.images)
    found = detect_transnet(ctx, pts, images, config) if config.detector == "transnetv2" else detect_histogram(pts, images, config)

    # A cut's time is the timestamp of the first sampled frame of the new shot (as in ffmpeg's
    # scene score and PySceneDetect); the real cut lies in (from_pts_s, to_pts_s].
    rows = [
        {
            "time_s": float(pts[b.index]),
            "score": b.score,
            "from_pts_s": float(pts[b.first]),
            "to_pts_s": float(pts[b.last]),
            "kind": b.kind,
        }
        for b in found
    ]
    sample_interval = float(np.median(np.diff(pts)))
    # The last sampled frame stands for one sample interval of video.
    covered = span + sample_interval
    shot_count = len(rows) + 1
    summary = {
        # Every shot change, hard or gradual (the features' cut_count and visual_pacing's cuts).
        "cut_count": len(rows),
        "hard_cut_count": sum(1 for r in rows if r["kind"] == "cut"),
        "gradual_count": sum(1 for r in rows if r["kind"] == "gradual"),
        "shot_count": shot_count,
        "cut_times_s": [r["time_s"] for r in rows],
        "mean_shot_length_s": covered / shot_count,
        "covered_s": covered,
        "analysed_frames": n,
        "sample_interval_s": sample_interval,
        "detector": config.detector,
    }
    return ComponentResult.ok(pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA), summary=summary)


SPEC = ComponentSpec(
    name="shot_boundaries",
    modality=Modality.VISUAL,
    description="Shot changes (hard cuts, dissolves, fades) from HSV histograms of low-resolution frames, or TransNetV2.",
    producer_version="2.0.0",
    schema_version=2,
    config_model=ShotBoundariesConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("frames",),
    frame_request=frame_request,
    models_for=_models,
    uses_gpu_for=_uses_gpu,
    summary_keys=(
        "analysed_frames",
        "covered_s",
        "cut_count",
        "cut_times_s",
        "detector",
        "gradual_count",
        "hard_cut_count",
        "mean_shot_length_s",
        "sample_interval_s",
        "shot_count",
    ),
)
