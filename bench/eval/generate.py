"""Build the evaluation set into a folder: ``python -m bench.eval.generate OUT_DIR [--part ...]``.

Deterministic: the same shared clips and code give the same frames (and, with one x264 thread,
the same files). Writes ``shots_*.mp4`` + ``shots_*.json``, ``text/`` + ``text_truth.json``,
``speech/`` + ``speech_truth.json`` (needs ``espeak-ng``); the faces part is the hand counts in
``faces.py`` over the shared clips themselves.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.eval import shots, speech, text


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--part", choices=["shots", "text", "speech"], nargs="*", default=["shots", "text", "speech"])
    args = parser.parse_args()
    out = Path(args.out_dir)
    start = time.perf_counter()
    if "shots" in args.part:
        for truth in shots.build(out):
            kinds = [t["kind"] for t in truth["transitions"]]
            print(f"{truth['video']}: {truth['duration_s']:.1f} s, {kinds.count('cut')} cuts, {kinds.count('gradual')} gradual")
    if "text" in args.part:
        truth = text.build(out)
        words = sum(len(item["text"].split()) for still in truth["stills"] for item in still["items"])
        lowres = sum(len(item["text"].split()) for still in truth["lowres_stills"] for item in still["items"])
        print(
            f"text: {len(truth['stills'])} stills, {words} words; {len(truth['lowres_stills'])} low-resolution stills, "
            f"{lowres} words; caption video {truth['caption_video']['duration_s']:.1f} s"
        )
    if "speech" in args.part:
        truth = speech.build(out)
        seconds = sum(clip["duration_s"] for clip in truth["clips"])
        words = sum(len(clip["text"].split()) for clip in truth["clips"])
        print(f"speech: {len(truth['clips'])} clips, {seconds:.0f} s, {words} words; {len(truth['real'])} real clips")
    print(f"built in {time.perf_counter() - start:.1f} s into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
