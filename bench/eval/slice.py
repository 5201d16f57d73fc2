"""The small slice of the evaluation set that the regression tests (tests/eval) run.

Chosen to run in well under a minute on 2 cores while still spanning what the full set tests:
hard cuts at the clip's edges and sub-second shots, dissolves and fades, a held-out random
script, every fourth text still (all heights, fonts and styles, LCD digits included), every
second low-resolution still, and five speech clips with the two real ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.eval import shots, speech, text

SHOT_VIDEOS = ("cuts_edges", "gradual_short", "montage", "held_out_101")
# TransNetV2 costs ~50 ms a frame on 2 CPU cores: its tests run the shortest video only.
TRANSNET_VIDEO = "montage"
STILL_STRIDE = 4
LOWRES_STRIDE = 2
# Two clean speech clips and three over music, in four voices (not clip 3: Whisper takes its
# Scottish voice for Welsh, see docs/benchmarks.md).
SPEECH_CLIPS = (0, 1, 4, 5, 9)


def build_shots(out_dir: Path) -> dict[str, dict]:
    """Ground truth by video name, the videos written into ``out_dir``."""
    names = tuple(n for n in SHOT_VIDEOS if not n.startswith("held_out"))
    truths = shots.build(out_dir, names)
    seeds = [int(n.rsplit("_", 1)[1]) for n in SHOT_VIDEOS if n.startswith("held_out")]
    for seed in seeds:
        video = shots.held_out(seed)
        frames = shots.render(video)
        path = Path(out_dir) / f"shots_{video.name}.mp4"
        shots.encode(frames, path)
        truths.append(shots.ground_truth(video, frames.shape[0]) | {"video": path.name})
    return {t["name"]: t for t in truths}


def stills() -> list[tuple[np.ndarray, list[text.TextItem]]]:
    return text.stills()[::STILL_STRIDE]


def lowres_stills() -> list[tuple[np.ndarray, list[text.TextItem]]]:
    return text.lowres_stills()[::LOWRES_STRIDE]


def build_speech(out_dir: Path) -> dict:
    return speech.build(out_dir, only=SPEECH_CLIPS)
