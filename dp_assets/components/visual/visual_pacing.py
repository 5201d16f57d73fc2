"""``visual_pacing``: how fast a video is cut and how much each shot moves, from shot cuts and optical-flow motion.

Splits the analysed span at ``shot_boundaries``' cuts and averages ``motion``'s pairs inside each
shot; a pair that may straddle a cut is left out, because flow across a cut measures the change
of picture, not motion.
"""

from __future__ import annotations

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
    Status,
)

UPSTREAM = ("shot_boundaries", "motion", "video_probe")


class VisualPacingConfig(ComponentConfig):
    pass


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("shot_index", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("length_s", pa.float64(), nullable=False),
        # motion pairs lying wholly inside the shot, and the mean of their mean magnitudes
        # (frame diagonals per second); null when no pair fits (a shot shorter than a pair)
        pa.field("motion_pairs", pa.int32(), nullable=False),
        pa.field("motion_mean", pa.float64()),
    ]
)


def shot_spans(cuts: list[dict], span_s: float) -> list[tuple[float, float, float, float]]:
    """Shots as (start, end, first_pts, last_pts) from shot_boundaries' cut rows.

    A cut really happened somewhere in (from_pts_s, to_pts_s]; the shot boundary is put at
    to_pts_s, as shot_boundaries reports it. first_pts and last_pts are the sampled timestamps
    known to belong to the shot: the cut's to_pts_s and the next cut's from_pts_s.
    """
    bounds = [(0.0, 0.0)] + [(c["from_pts_s"], c["to_pts_s"]) for c in cuts] + [(span_s, span_s)]
    return [(begin, end, begin, last) for (_, begin), (last, end) in zip(bounds[:-1], bounds[1:])]


def motion_in(pairs: dict[str, np.ndarray], first_pts: float, last_pts: float) -> np.ndarray:
    """Mean magnitudes of the pairs that lie between two sampled timestamps of one shot."""
    inside = (pairs["from_pts_s"] >= first_pts - 1e-6) & (pairs["to_pts_s"] <= last_pts + 1e-6)
    return pairs["mean"][inside]


def compute(
    ctx: ComponentContext, config: VisualPacingConfig, inputs: Mapping[str, ComponentResult]
) -> ComponentResult:
    shots, motion, probe = inputs["shot_boundaries"], inputs["motion"], inputs["video_probe"]
    warnings: list[str] = []
    too_short = EmptyReason.TOO_SHORT.value
    if shots.status is Status.EMPTY and shots.empty_reason != too_short:
        # No video track, no frames: nothing to pace; pass the reason on.
        detail = shots.summary.get("empty_detail")
        return ComponentResult.empty(
            shots.empty_reason or "", "upstream shot_boundaries is empty" + (f": {detail}" if detail else "")
        )
    pairs: dict[str, np.ndarray] | None = None
    if motion.status is Status.OK and motion.table is not None and motion.table.num_rows:
        pairs = {k: np.asarray(motion.table.column(k).to_pylist(), dtype=np.float64) for k in ("from_pts_s", "to_pts_s", "mean")}
    elif motion.status is Status.EMPTY and motion.empty_reason != too_short:
        detail = motion.summary.get("empty_detail")
        return ComponentResult.empty(motion.empty_reason or "", "upstream motion is empty" + (f": {detail}" if detail else ""))

    if shots.status is Status.OK:
        cuts = shots.table.to_pylist() if shots.table is not None else []
        # The span the cut detector looked at (decoded frames plus the last frame's interval):
        # for a truncated file that is what was analysed, not what the header announces.
        span = float(shots.summary["covered_s"])
        cut_count: int | None = len(cuts)
    elif pairs is None:
        # Neither cuts nor motion could be measured: a single assumed shot would report nothing.
        return ComponentResult.empty(
            EmptyReason.TOO_SHORT,
            f"too short for both cuts ({shots.summary.get('empty_detail')}) and motion ({motion.summary.get('empty_detail')})",
        )
    else:
        # Too short for a cut to be detectable (see shot_boundaries): treat the clip as one shot
        # so its motion is still reported, but do not claim a cut rate of zero.
        cuts, cut_count = [], None
        span = max(probe.summary.get("duration_s") or 0.0, float(pairs["to_pts_s"][-1]))
        warnings.append("shot_boundaries found the clip too short for cuts; it is treated as one shot, cut rate not measured")
    if span <= 0:
        return ComponentResult.empty(EmptyReason.TOO_SHORT, "the clip has no measurable duration")

    rows = []
    for index, (begin, end, first_pts, last_pts) in enumerate(shot_spans(cuts, span)):
        inside = motion_in(pairs, first_pts, last_pts) if pairs is not None else np.empty(0)
        rows.append(
            {
                "shot_index": index,
                "start_s": begin,
                "end_s": end,
                "length_s": end - begin,
                "motion_pairs": int(inside.size),
                "motion_mean": float(inside.mean()) if inside.size else None,
            }
        )
    lengths = np.array([r["length_s"] for r in rows])
    shot_motion = np.array([r["motion_mean"] for r in rows if r["motion_mean"] is not None])
    summary = {
        "shot_count": len(rows),
        "cut_count": cut_count,
        "cuts_per_minute": cut_count * 60.0 / span if cut_count is not None else None,
        "mean_shot_length_s": float(lengths.mean()),
        "median_shot_length_s": float(np.median(lengths)),
        "analysed_s": span,
        # Each shot counts once, however long: pacing is about the sequence of shots, and a long
        # static shot should not drown a burst of short action shots.
        "shot_motion_mean": float(shot_motion.mean()) if shot_motion.size else None,
        "shot_motion_max": float(shot_motion.max()) if shot_motion.size else None,
        # Spread of motion between shots: near 0 when every shot moves alike.
        "shot_motion_std": float(shot_motion.std()) if shot_motion.size else None,
    }
    return ComponentResult.ok(pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA), summary=summary, warnings=warnings)


SPEC = ComponentSpec(
    name="visual_pacing",
    modality=Modality.VISUAL,
    description="Cuts per minute, shot lengths and mean optical-flow motion per shot, from shot_boundaries and motion.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=VisualPacingConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=UPSTREAM,
    reads={"shot_boundaries": ("covered_s",), "video_probe": ("duration_s",)},
    # Deliberate: a clip too short for cuts is one shot (its motion is still measured), a clip
    # too short for motion has shots without motion, one too short for both is too_short; any
    # other empty input is passed on.
    accepts_empty_inputs=True,
    summary_keys=(
        "analysed_s",
        "cut_count",
        "cuts_per_minute",
        "mean_shot_length_s",
        "median_shot_length_s",
        "shot_count",
        "shot_motion_max",
        "shot_motion_mean",
        "shot_motion_std",
    ),
)
