"""Per-component cost of a profile on this machine, in seconds of compute per minute of video.

Runs the profile's components directly (no Dagster) on each clip after one warm-up pass (model
loading is reported separately: it happens once per process). Usage:
python bench/bench_components.py [--profile baseline] [CLIP ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from dp_assets.direct import run_profile_direct
from dp_assets.profiles import load_profile

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
DEFAULT_CLIPS = ["bbb_intro_vp8_vorbis.webm", "obama_statement_face_speech.mp4", "screenrec_h264_noduration.mkv"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("clips", nargs="*", default=[str(MEDIA / c) for c in DEFAULT_CLIPS])
    parser.add_argument("--profile", default="baseline")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory() as tmpdir:
        start = time.perf_counter()
        run_profile_direct(profile, Path(args.clips[0]), Path(tmpdir) / "warmup")
        print(f"warm-up on {Path(args.clips[0]).name} (imports + model loading): {time.perf_counter() - start:.1f} s")
        rows = {}
        for clip in map(Path, args.clips):
            results = run_profile_direct(profile, clip, Path(tmpdir) / clip.stem)
            duration = results["video_probe"][0].summary.get("duration_s") or 0.0
            rows[clip.name] = (duration, {name: metrics.wall_s for name, (_, metrics) in results.items()})
    names = list(profile.components)
    clips = list(rows)
    print(f"\nseconds per minute of video (profile {profile.name}; wall time, warm models)")
    print(f"{'component':<18}" + "".join(f"{c[:24]:>26}" for c in clips))
    for name in names + ["TOTAL"]:
        cells = []
        for clip in clips:
            duration, walls = rows[clip]
            seconds = sum(walls.values()) if name == "TOTAL" else walls[name]
            cells.append(f"{seconds * 60 / duration:>26.2f}" if duration else f"{'n/a':>26}")
        print(f"{name:<18}" + "".join(cells))
    print("".join([f"{'duration (s)':<18}"] + [f"{rows[c][0]:>26.1f}" for c in clips]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
