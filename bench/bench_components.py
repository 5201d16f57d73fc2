"""Per-component cost of a profile on this machine, in seconds of compute per minute of video.

Runs the profile's components directly (no Dagster) on each clip after one warm-up pass (model
loading is reported separately: it happens once per process), ``--repeat`` times, and reports
the median wall time and the median CPU time (all threads of the process) per component. The
machine's load average is printed with the figures: other work on a shared machine inflates
wall time much more than CPU time. ``--frames-ratio`` also times ``frames`` against a plain
PyAV decode of each clip. Usage:
python bench/bench_components.py [--profile baseline] [--repeat 3] [--frames-ratio] [CLIP ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dp_assets.direct import run_profile_direct
from dp_assets.profiles import load_profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_skeleton import decode_and_convert, frames_component, plain_decode  # noqa: E402  (the same timings)

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
DEFAULT_CLIPS = ["bbb_intro_vp8_vorbis.webm", "obama_statement_face_speech.mp4", "screenrec_h264_noduration.mkv"]


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def print_table(title: str, names: list[str], rows: dict, key: str) -> None:
    clips = list(rows)
    print(f"\n{title}")
    print(f"{'component':<18}" + "".join(f"{c[:24]:>26}" for c in clips))
    for name in names + ["TOTAL"]:
        cells = []
        for clip in clips:
            duration, per = rows[clip]
            seconds = sum(v[key] for v in per.values()) if name == "TOTAL" else per[name][key]
            cells.append(f"{seconds * 60 / duration:>26.2f}" if duration else f"{'n/a':>26}")
        print(f"{name:<18}" + "".join(cells))
    print("".join([f"{'duration (s)':<18}"] + [f"{rows[c][0]:>26.1f}" for c in clips]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("clips", nargs="*", default=[str(MEDIA / c) for c in DEFAULT_CLIPS])
    parser.add_argument("--profile", default="baseline")
    parser.add_argument("--repeat", type=int, default=1, help="runs per clip; medians are reported")
    parser.add_argument("--frames-ratio", action="store_true", help="also time frames against a plain decode")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory() as tmpdir:
        start = time.perf_counter()
        run_profile_direct(profile, Path(args.clips[0]), Path(tmpdir) / "warmup")
        print(f"warm-up on {Path(args.clips[0]).name} (imports + model loading): {time.perf_counter() - start:.1f} s")
        rows = {}
        for clip in map(Path, args.clips):
            runs = []
            for i in range(args.repeat):
                results = run_profile_direct(profile, clip, Path(tmpdir) / f"{clip.stem}-{i}")
                runs.append(results)
            duration = runs[0]["video_probe"][0].summary.get("duration_s") or 0.0
            per = {
                name: {
                    "wall": statistics.median(r[name][1].wall_s for r in runs),
                    "cpu": statistics.median(r[name][1].cpu_s for r in runs),
                }
                for name in runs[0]
            }
            rows[clip.name] = (duration, per)
        ratios = {}
        if args.frames_ratio:
            for clip in map(Path, args.clips):
                decode, frames, converted = [], [], []
                for i in range(max(3, args.repeat)):  # interleaved: drift hits all three alike
                    decode.append(plain_decode(clip))
                    work = Path(tmpdir) / f"ratio-{clip.stem}-{i}"
                    frames.append(frames_component(profile, clip, work))
                    converted.append(decode_and_convert(clip, work / "frames"))
                ratios[clip.name] = tuple(map(statistics.median, (decode, frames, converted)))
    names = list(profile.components)
    print_table(f"wall seconds per minute of video (profile {profile.name}; warm models; median of {args.repeat})", names, rows, "wall")
    print_table("CPU seconds per minute of video (all threads of the process)", names, rows, "cpu")
    for clip, (decode, frames, converted) in ratios.items():
        print(f"frames vs plain decode, {clip}: {frames:.3f} s / {decode:.3f} s = {frames / decode:.2f} (goal <= 1.1)")
        print(
            f"  plain decode + the same conversions {converted:.3f} s: the tiers cost {converted / decode:.2f}x the decode,"
            f" frames takes {frames / converted:.2f}x that"
        )
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
