"""Accuracy of shot_boundaries, ocr_text and faces on the evaluation set, side by side with peers.

Builds the set (``bench/eval``) into a folder unless ``--set`` points at one already built, then:

- shots: ours (the component, each ``detector``) vs PySceneDetect 0.7 ContentDetector and
  AdaptiveDetector vs TransNetV2: precision / recall / F1 for hard cuts, gradual transitions and
  all (tuned scripts and held-out random scripts apart), and seconds per minute of video;
- text: word recall and precision of ``ocr_text`` on the 1280x720 and the 320x240 stills by text
  height, font and style, and per sampled frame of the caption video run through the component;
- faces: per-frame precision / recall of ``faces`` against the hand counts;
- speech: word error rate of ``transcript`` (through ``voice_activity``, as a run chains them)
  on the synthetic clips, clean and over music, and on the two real speech clips, with seconds
  per clip; ``--transcript-config`` runs it with another config (e.g. greedy decoding).

Usage: python bench/bench_accuracy.py [--set DIR] [--part shots text faces speech] [--json OUT]
The peers need the ``bench`` extra (pip install -c constraints.txt -e '.[bench]').
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

# Run as a script (python bench/bench_accuracy.py), the project root is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.eval import faces as face_set  # noqa: E402
from bench.eval import shots as shot_set
from bench.eval import speech as speech_set
from bench.eval import text as text_set
from bench.eval.peers import scenedetect_boundaries, transnetv2_boundaries
from bench.eval.run import BASELINE_SAMPLING, run_transcript, run_visual
from bench.eval.score import PRF, score_counts, score_shots, score_words, word_errors, words_of
from bench.eval.sources import media_dir
from dp_assets.components.audio import transcript
from dp_assets.components.visual import faces, ocr_text, shot_boundaries
from dp_assets.contract import CPU, SamplingPolicy
from dp_assets.media.frames_store import read_frames


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _fmt(prf: PRF) -> str:
    return f"P {prf.precision:.3f} R {prf.recall:.3f} F1 {prf.f1:.3f} ({prf.true_positives}/{prf.actual})"


def shot_detectors() -> dict:
    def ours(make_config):
        def run(video: Path) -> tuple[list[float], float]:
            with tempfile.TemporaryDirectory() as tmp:
                r = run_visual(video, shot_boundaries.SPEC, make_config(), Path(tmp))
            # frames (this detector's request alone) + the component: what a run pays for it.
            return r.result.summary.get("cut_times_s", []), r.frames_s + r.compute_s

        return run

    def timed(fn):
        def run(video: Path) -> tuple[list[float], float]:
            start = time.perf_counter()
            out = fn(video)
            return out, time.perf_counter() - start

        return run

    # Configs are built when a detector runs, so --only "ours (histogram)" also measures an
    # older shot_boundaries (whose config has no detector field) on PYTHONPATH.
    return {
        "ours (histogram)": ours(lambda: shot_boundaries.ShotBoundariesConfig()),
        "ours (histogram, cuts only)": ours(lambda: shot_boundaries.ShotBoundariesConfig(gradual=False)),
        "ours (transnetv2)": ours(lambda: shot_boundaries.ShotBoundariesConfig(detector="transnetv2")),
        "PySceneDetect ContentDetector": timed(lambda v: scenedetect_boundaries(v, "content")),
        "PySceneDetect AdaptiveDetector": timed(lambda v: scenedetect_boundaries(v, "adaptive")),
        "TransNetV2 (reference use)": timed(transnetv2_boundaries),
    }


def bench_shots(set_dir: Path, only: list[str] | None) -> dict:
    truths = [json.loads(p.read_text()) for p in sorted(set_dir.glob("shots_*.json"))]
    # Warm up model loading (once per process, reported apart from per-video cost).
    if not only or any("ransnet" in o for o in only):
        from dp_resources.models import MODELS
        from dp_resources.models.transnetv2 import TRANSNETV2

        start = time.perf_counter()
        MODELS.get(TRANSNETV2, CPU)
        print(f"TransNetV2 loaded in {time.perf_counter() - start:.1f} s (once per process)")
    results: dict = {}
    for name, run in shot_detectors().items():
        if only and not any(o in name for o in only):
            continue
        sums = {group: defaultdict(lambda: PRF(0, 0, 0)) for group in ("tuned", "held_out")}
        seconds = duration = 0.0
        per_video = {}
        for truth in truths:
            boundaries, wall = run(set_dir / truth["video"])
            seconds += wall
            duration += truth["duration_s"]
            group = "held_out" if truth["name"].startswith("held_out") else "tuned"
            scores = score_shots(boundaries, truth["transitions"])
            for kind, prf in scores.items():
                sums[group][kind] = sums[group][kind] + prf
            per_video[truth["name"]] = {k: v.as_dict() for k, v in scores.items()}
        total = {k: sums["tuned"][k] + sums["held_out"][k] for k in ("hard", "gradual", "all")}
        results[name] = {
            "s_per_min": seconds * 60 / duration,
            "groups": {g: {k: v.as_dict() for k, v in s.items()} for g, s in sums.items()},
            "total": {k: v.as_dict() for k, v in total.items()},
            "videos": per_video,
        }
        print(f"\n{name}: {seconds * 60 / duration:.2f} s per minute of video (load {load_average()})")
        for group in ("tuned", "held_out"):
            for kind in ("hard", "gradual", "all"):
                print(f"  {group:<9} {kind:<8} {_fmt(sums[group][kind])}")
        for kind in ("hard", "gradual", "all"):
            print(f"  {'total':<9} {kind:<8} {_fmt(total[kind])}")
    return results


def _bucket(height: int) -> str:
    return "10-16 px" if height < 20 else ("20-32 px" if height <= 32 else "40-80 px")


def _lowres_bucket(height: int) -> str:
    return "6 px" if height < 7 else ("7-9 px" if height < 10 else "10-20 px")


def score_stills(set_dir: Path, stills: list[dict], engine, config: ocr_text.OcrTextConfig, bucket, tall_px: int) -> dict:
    """Word precision and recall of ``ocr_text`` on built stills, by height, bucket, font and style;
    the words of ``tall_px`` and taller that were missed are listed."""
    by: dict[str, dict[str, PRF]] = {k: defaultdict(lambda: PRF(0, 0, 0)) for k in ("height", "bucket", "font", "style")}
    total = PRF(0, 0, 0)
    misses = []
    seconds = cpu = 0.0
    for still in stills:
        image = np.asarray(Image.open(set_dir / still["image"]).convert("RGB"))
        start, start_cpu = time.perf_counter(), time.process_time()
        lines = ocr_text.read_lines(engine, image, config)
        seconds += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        read = [w for line in lines for w in words_of(line["text"])]
        rendered = [(item, w) for item in still["items"] for w in item["text"].split()]
        prf, found = score_words(read, [w for _, w in rendered])
        total = total + prf
        for i, (item, word) in enumerate(rendered):
            hit = PRF(int(i in found), 0, 1)
            for key, value in (("height", item["height_px"]), ("bucket", bucket(item["height_px"])), ("font", item["font"]), ("style", item["style"])):
                by[key][str(value)] = by[key][str(value)] + hit
            if i not in found and item["height_px"] >= tall_px:
                misses.append(f"{still['image']}: {word!r} {item['height_px']} px {item['font']} {item['style']}")
    size = "x".join(map(str, Image.open(set_dir / stills[0]["image"]).size))
    print(f"\nOCR stills: {len(stills)} images, {seconds / len(stills):.2f} s ({cpu / len(stills):.2f} s CPU) per {size} image (load {load_average()})")
    print(f"  all words: {_fmt(total)}")
    for key in ("bucket", "height", "font", "style"):
        print(f"  recall by {key}: " + ", ".join(f"{k} {v.recall:.2f} ({v.true_positives}/{v.actual})" for k, v in sorted(by[key].items(), key=lambda kv: (len(kv[0]), kv[0]))))
    print(f"  missed words of {tall_px} px and taller:\n    " + "\n    ".join(misses) if misses else f"  no word of {tall_px} px or taller missed")
    return {
        "words": total.as_dict(),
        "recall_by": {k: {kk: vv.recall for kk, vv in v.items()} for k, v in by.items()},
        f"misses_{tall_px}px_up": misses,
        "s_per_image": seconds / len(stills),
    }


def bench_text(set_dir: Path, config: ocr_text.OcrTextConfig) -> dict:
    truth = json.loads((set_dir / "text_truth.json").read_text())
    from dp_resources.models import MODELS

    engine = MODELS.get(ocr_text.MODEL, CPU)
    out = {"stills": score_stills(set_dir, truth["stills"], engine, config, _bucket, 20)}
    if truth.get("lowres_stills"):  # sets built before they were added have none
        out["lowres_stills"] = score_stills(set_dir, truth["lowres_stills"], engine, config, _lowres_bucket, 7)
    out["caption_video"] = bench_caption_video(set_dir, truth["caption_video"], config)
    return out


def bench_caption_video(set_dir: Path, truth: dict, config: ocr_text.OcrTextConfig) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        r = run_visual(set_dir / truth["video"], ocr_text.SPEC, config, Path(tmp))
    rows = r.result.table.to_pylist() if r.result.table is not None else []
    frame_times = sorted({float(t) for t in r.frames.table.column("pts_s").to_pylist()}) if r.frames.table is not None else []
    total = PRF(0, 0, 0)
    for t in frame_times:
        visible = [w for c in truth["captions"] if c["start_s"] <= t < c["end_s"] for w in c["text"].split()]
        read = [w for row in rows if abs(row["pts_s"] - t) < 1e-6 for w in words_of(row["text"])]
        prf, _ = score_words(read, visible)
        total = total + prf
    all_words = [w for c in truth["captions"] for w in c["text"].split()]
    video_prf, _ = score_words(words_of(r.result.summary.get("video_text", "")), all_words)
    s_per_min = (r.frames_s + r.compute_s) * 60 / truth["duration_s"]
    print(f"OCR caption video ({truth['duration_s']:.0f} s, {len(frame_times)} sampled frames): per frame {_fmt(total)}; "
          f"video text {_fmt(video_prf)}; {r.compute_s * 60 / truth['duration_s']:.1f} s/min OCR ({r.compute_cpu_s * 60 / truth['duration_s']:.1f} s CPU) + {r.frames_s * 60 / truth['duration_s']:.1f} s/min its frames (load {load_average()})")
    return {"per_frame": total.as_dict(), "video_text": video_prf.as_dict(), "s_per_min": s_per_min, "ocr_s_per_min": r.compute_s * 60 / truth["duration_s"]}


def bench_faces(detectors: list[str]) -> dict:
    sampling = SamplingPolicy(version="eval", fps=face_set.FACE_FPS, max_frames=300, max_side=1280)
    out = {}
    for detector in detectors:
        config = faces.FacesConfig(detector=detector)
        all_faces = frontal = PRF(0, 0, 0)
        per_clip = {}
        seconds = duration = 0.0
        print(f"\nfaces, detector {detector} ({config.frame_side} px):")
        for counts in face_set.COUNTS:
            with tempfile.TemporaryDirectory() as tmp:
                r = run_visual(media_dir() / counts.clip, faces.SPEC, config, Path(tmp), sampling)
                if r.result.table is not None:
                    detected = [row["face_count"] for row in r.result.table.to_pylist()]
                else:  # empty (no_faces): none in any of the frames it was given
                    detected = [0] * len(read_frames(r.frames, faces.SPEC.frame_request(config, sampling)))
            seconds += r.compute_s
            duration += r.duration_s
            a, f = score_counts(detected, list(counts.faces)), score_counts(detected, list(counts.frontal))
            all_faces, frontal = all_faces + a, frontal + f
            per_clip[counts.clip] = {"detected": detected, "all": a.as_dict(), "frontal": f.as_dict()}
            print(f"  {counts.clip:<36} detected {sum(detected):>3} in {len(detected):>2} frames; faces {sum(counts.faces):>3} (frontal {sum(counts.frontal)})")
        print(f"  all faces {_fmt(all_faces)}; frontal faces {_fmt(frontal)}; {seconds * 60 / duration:.2f} s/min at 2 fps (load {load_average()})")
        out[detector] = {"all": all_faces.as_dict(), "frontal": frontal.as_dict(), "s_per_min_2fps": seconds * 60 / duration, "clips": per_clip}
    return out


def bench_speech(set_dir: Path, config: transcript.TranscriptConfig) -> dict:
    truth = json.loads((set_dir / "speech_truth.json").read_text())
    print(f"\n{'speech clip':<40}{'words':>7}{'errors':>8}{'WER':>7}{'s':>7}  transcript")
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with tempfile.TemporaryDirectory() as work:
        entries = [(set_dir / "speech" / c["file"], c["text"], "over music" if c["music_snr_db"] else "clean") for c in truth["clips"]]
        entries += [(Path(c["file"]), c["text"], "real") for c in truth["real"]]
        for media, text, group in entries:
            result, seconds = run_transcript(media, config, Path(work) / media.stem)
            said = result.summary.get("text", "")
            reference = words_of(text)
            errors = word_errors(words_of(said), reference)
            for key in (group, "all synthetic") if group != "real" else (group,):
                groups[key][0] += errors
                groups[key][1] += len(reference)
            print(f"{media.name[:38]:<40}{len(reference):>7}{errors:>8}{errors / len(reference):>7.3f}{seconds:>7.2f}  {said}")
    out = {name: {"errors": e, "words": n, "wer": e / n} for name, (e, n) in groups.items()}
    for name, figures in out.items():
        print(f"{name:<40}{figures['words']:>7}{figures['errors']:>8}{figures['wer']:>7.3f}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", help="a built evaluation set (default: build one in a temporary folder)")
    parser.add_argument("--part", nargs="*", choices=["shots", "text", "faces", "speech"], default=["shots", "text", "faces", "speech"])
    parser.add_argument("--only", nargs="*", help="shot detectors whose name contains one of these")
    parser.add_argument("--ocr-config", default="{}", help='ocr_text config as JSON, e.g. \'{"detect_side": 960}\'')
    parser.add_argument("--transcript-config", default="{}", help='transcript config as JSON, e.g. \'{"beam_size": 1}\'')
    parser.add_argument("--face-detectors", nargs="*", default=["libfacedetection", "haar"])
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        set_dir = Path(args.set) if args.set else Path(tmp)
        if not args.set:
            start = time.perf_counter()
            shot_set.build(set_dir)
            text_set.build(set_dir)
            if "speech" in args.part:
                speech_set.build(set_dir)
            print(f"evaluation set built in {time.perf_counter() - start:.0f} s")
        out = {}
        if "shots" in args.part:
            out["shots"] = bench_shots(set_dir, args.only)
        if "text" in args.part:
            config = ocr_text.OcrTextConfig(**json.loads(args.ocr_config))
            print(f"\nocr_text config: {config.model_dump()}")
            out["text"] = bench_text(set_dir, config)
        if "faces" in args.part:
            out["faces"] = bench_faces(args.face_detectors)
        if "speech" in args.part:
            config = transcript.TranscriptConfig(**json.loads(args.transcript_config))
            print(f"\ntranscript config: {config.model_dump()}")
            out["speech"] = bench_speech(set_dir, config)
    print(f"load average at end: {load_average()}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
