"""Shot-boundary videos with exact ground truth: real shots spliced at known frame indices.

Each video is a script of shots (a source from ``sources.SOURCES``, where in it to start, how
many frames) joined by a transition: a hard cut, a dissolve or a fade through black of a known
number of frames. Inside a shot, flashes (a few frames washed towards white) and fast motion
(a handheld whip pan, a fast synthetic pan, cartoon animation) are changes that are *not*
shot boundaries. The frame indices of every transition follow from the script, so the ground
truth is exact, not annotated.

Conventions: a hard cut at frame ``k`` means frame ``k`` is the first frame of the new shot
(time ``k / fps``); a gradual transition occupies frames ``[start, end)`` in which both shots
are mixed (or the picture is black), and frame ``end`` is the first clean frame of the new shot.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import av
import numpy as np

from bench.eval.sources import frames_of, still

# Every shot video is 640x360 at 25 fps: a common web size, large enough for PySceneDetect at
# full resolution and small enough to generate and score in seconds.
WIDTH, HEIGHT, FPS = 640, 360, 25
# x264 quality: 16 is visually lossless, so compression artefacts do not create or hide cuts.
CRF = 16
# A flash washes frames this far towards white (1.0 = pure white): a camera flash or a strobe.
FLASH_STRENGTH = 0.85


@dataclass(frozen=True)
class Shot:
    source: str
    start_s: float  # where in the source the shot starts (seconds from the source's start)
    frames: int
    # Transition *into* this shot from the previous one: "cut", "dissolve" or "fade"; ignored
    # for the first shot. A gradual transition's frames are taken from the end of the previous
    # shot and the start of this one (they overlap by ``length`` frames).
    into: str = "cut"
    length: int = 0
    # Frame offsets (within this shot) where a flash of ``flash_frames`` frames starts.
    flashes: tuple[int, ...] = ()
    flash_frames: int = 2
    # A fast horizontal pan across a still of the source instead of its footage: pixels per frame.
    pan_px: int = 0


@dataclass
class Transition:
    kind: str  # "cut" or "gradual"
    start: int  # first frame of the transition (for a cut: the first frame of the new shot)
    end: int  # first clean frame of the new shot (== start for a cut)
    detail: str = ""

    def as_times(self, fps: float) -> dict:
        return {"kind": self.kind, "start_s": self.start / fps, "end_s": self.end / fps, "detail": self.detail}


@dataclass
class ShotVideo:
    name: str
    shots: tuple[Shot, ...]
    purpose: str
    transitions: list[Transition] = field(default_factory=list)
    # Frames with a deliberate non-cut event (flash, fast motion): where false cuts would be.
    distractors: list[tuple[int, int, str]] = field(default_factory=list)


def _shot_frames(shot: Shot, extra: int) -> np.ndarray:
    """The shot's own frames plus ``extra`` more (the tail a following gradual transition mixes in)."""
    count = shot.frames + extra
    if shot.pan_px:
        # A pan across a still twice the output size: the window moves pan_px per frame.
        base = still(shot.source, shot.start_s, WIDTH * 2, HEIGHT * 2)
        out = np.empty((count, HEIGHT, WIDTH, 3), np.uint8)
        for i in range(count):
            x = min(WIDTH, i * shot.pan_px)
            y = HEIGHT // 2
            out[i] = base[y : y + HEIGHT, x : x + WIDTH]
        return out
    frames = frames_of(shot.source, shot.start_s, count, FPS, WIDTH, HEIGHT)
    for at in shot.flashes:
        sl = frames[at : at + shot.flash_frames].astype(np.float32)
        frames[at : at + shot.flash_frames] = np.clip(sl * (1 - FLASH_STRENGTH) + 255 * FLASH_STRENGTH, 0, 255).astype(np.uint8)
    return frames


def render(video: ShotVideo) -> np.ndarray:
    """The video's frames; fills ``video.transitions`` and ``video.distractors``."""
    video.transitions, video.distractors = [], []
    parts: list[np.ndarray] = []
    position = 0
    shots = video.shots
    for i, shot in enumerate(shots):
        following = shots[i + 1] if i + 1 < len(shots) else None
        overlap_out = following.length if following is not None and following.into != "cut" else 0
        own = _shot_frames(shot, overlap_out)
        overlap_in = shot.length if i > 0 and shot.into != "cut" else 0
        if i > 0:
            previous_tail = parts.pop()  # the previous shot's extra frames, mixed with ours
            if shot.into == "cut":
                video.transitions.append(Transition("cut", position, position, f"{shots[i-1].source} -> {shot.source}"))
            else:
                mixed = _mix(previous_tail, own[:overlap_in], shot.into)
                parts.append(mixed)
                video.transitions.append(
                    Transition("gradual", position, position + overlap_in, f"{shot.into} {overlap_in} frames {shots[i-1].source} -> {shot.source}")
                )
                position += overlap_in
        body = own[overlap_in : own.shape[0] - overlap_out]
        for at in shot.flashes:
            video.distractors.append((position + at - overlap_in, position + at - overlap_in + shot.flash_frames, "flash"))
        if shot.pan_px:
            video.distractors.append((position, position + body.shape[0], f"pan {shot.pan_px} px/frame"))
        if shot.source in ("whip", "pigs"):
            video.distractors.append((position, position + body.shape[0], f"fast motion ({shot.source})"))
        parts.append(body)
        position += body.shape[0]
        parts.append(own[own.shape[0] - overlap_out :])  # the tail (possibly empty)
    parts.pop()
    return np.concatenate(parts)


def _mix(a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    """Frames of a gradual transition from ``a`` to ``b`` (same length)."""
    n = a.shape[0]
    out = np.empty_like(a)
    for i in range(n):
        if kind == "dissolve":
            alpha = (i + 1) / (n + 1)
            out[i] = (a[i] * (1 - alpha) + b[i] * alpha).round().astype(np.uint8)
        elif kind == "fade":
            # Out to black over the first half, in from black over the second.
            half = n // 2
            if i < half:
                level = 1 - (i + 1) / half
                out[i] = (a[i] * level).round().astype(np.uint8)
            else:
                level = (i - half + 1) / (n - half + 1)
                out[i] = (b[i] * level).round().astype(np.uint8)
        else:
            raise ValueError(f"unknown transition {kind!r}")
    return out


def encode(frames: Iterable[np.ndarray], path: Path, fps: int = FPS, size: tuple[int, int] | None = None) -> None:
    """H.264 at CRF 16, one encoder thread so the same frames give the same file; ``size``
    (width, height) when ``frames`` is not an array."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size or (frames.shape[2], frames.shape[1])
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(CRF), "preset": "veryfast", "threads": "1"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


S = Shot
# The scripts. Frame counts are at 25 fps (25 frames = 1 s).
VIDEOS: tuple[ShotVideo, ...] = (
    ShotVideo(
        "cuts_edges",
        (
            S("burrow", 0.4, 12),  # a cut at 0.48 s: in the first second
            S("meadow", 0.5, 100),
            S("lectern", 0.0, 55),
            S("car", 0.5, 20),  # a 0.8 s shot
            S("grass", 0.2, 60),
            S("bunny", 0.3, 90),
            S("tree", 1.0, 70),
            S("bird", 0.5, 12),  # a 0.48 s shot
            S("meadow", 5.0, 70),
            S("pigs", 0.2, 50),
            S("burrow", 3.0, 14),  # starts 0.56 s before the end: a cut in the last second
        ),
        "hard cuts, including in the first and the last second, and shots under 1 s",
    ),
    ShotVideo(
        "gradual",
        (
            S("meadow", 0.2, 80),
            S("bunny", 0.2, 75, into="dissolve", length=12),
            S("grass", 0.5, 60, into="dissolve", length=24),
            S("tree", 2.0, 70, into="fade", length=20),
            S("burrow", 0.5, 65, into="cut"),
            S("bird", 0.3, 70, into="fade", length=32),
            S("car", 0.2, 60, into="dissolve", length=36),
            S("meadow", 4.0, 60, into="cut"),
            S("lectern", 0.1, 50, into="dissolve", length=16),
        ),
        "dissolves of 12-36 frames and fades through black of 20-32 frames, with a few cuts",
    ),
    ShotVideo(
        "gradual_short",
        (
            S("bunny", 0.0, 50),
            S("tree", 0.5, 60, into="dissolve", length=6),
            S("bird", 1.0, 55, into="fade", length=12),
            S("lectern", 0.0, 36, into="dissolve", length=10),
            S("burrow", 1.0, 60, into="dissolve", length=18),
            S("meadow", 3.0, 80, into="fade", length=40),
            S("grass", 0.0, 45, into="cut"),
            S("car", 1.0, 50, into="dissolve", length=14),
        ),
        "short dissolves (6-18 frames) and fades (12 and 40 frames)",
    ),
    ShotVideo(
        "distractors",
        (
            S("meadow", 1.0, 90, flashes=(30,)),
            S("whip", 0.0, 59),  # the handheld whip pan (real fast camera motion)
            S("tree", 3.0, 80, flashes=(20, 55), flash_frames=1),
            S("burrow", 2.0, 40, pan_px=24),  # a fast pan: the picture shifts 24 px a frame
            S("pigs", 0.0, 74),
            S("bunny", 1.0, 80, flashes=(40,), flash_frames=3),
            S("grass", 1.0, 36, pan_px=16),
            S("lectern", 0.2, 50),
        ),
        "flashes, a whip pan, fast pans and cartoon animation that are not cuts, between hard cuts",
    ),
    ShotVideo(
        "montage",
        (
            S("car", 0.0, 10),  # a cut at 0.4 s
            S("meadow", 2.0, 18),
            S("park", 0.0, 13),
            S("bird", 1.0, 15),
            S("bunny", 2.0, 22),
            S("tree", 5.0, 12),
            S("grass", 2.0, 20),
            S("lectern", 1.0, 16),
            S("burrow", 4.0, 24, into="dissolve", length=8),
            S("pigs", 1.5, 17),
            S("meadow", 7.0, 25),
            S("whip", 1.2, 20),
            S("car", 2.5, 11),
        ),
        "a fast montage of 0.4-1 s shots",
    ),
)


# Held-out videos: scripts drawn at random (seeded) from the same sources, written after the
# detector's thresholds were set on the hand-written scripts above, to show how much of their
# score is fitted to them. Shot lengths 0.4-4 s; into each shot a cut (60 %), a dissolve
# (25 %, 6-30 frames) or a fade through black (15 %, 10-36 frames); a flash in 15 % of shots.
HELD_OUT_SEEDS = (101, 102, 103, 104)
HELD_OUT_SHOTS = 10


def held_out(seed: int) -> ShotVideo:
    from bench.eval.sources import SOURCES

    rng = np.random.default_rng(seed)
    names = sorted(SOURCES)
    shots: list[Shot] = []
    previous = None
    for i in range(HELD_OUT_SHOTS):
        name = str(rng.choice([n for n in names if n != previous]))
        available = int((SOURCES[name].end_s - SOURCES[name].start_s) * FPS) - 1
        next_overlap = 30  # room for a gradual transition out of this shot
        frames = int(rng.integers(10, 101))
        frames = max(10, min(frames, available - next_overlap - 1)) if available > next_overlap + 11 else max(1, min(frames, available - 1))
        start_frames = int(rng.integers(0, max(1, available - frames - next_overlap)))
        roll = rng.random()
        into, length = ("cut", 0)
        if i > 0 and roll >= 0.6:
            into, length = ("dissolve", int(rng.integers(6, 31))) if roll < 0.85 else ("fade", int(rng.integers(10, 37)))
            # Both shots must hold the transition's frames: the previous one past its end (within
            # its source), this one from its start (a few clean frames left after it).
            prev = shots[-1]
            prev_available = int((SOURCES[prev.source].end_s - SOURCES[prev.source].start_s) * FPS) - 1
            length = min(length, prev_available - int(round(prev.start_s * FPS)) - prev.frames, prev.frames - 2, frames - 4)
            if length < 6:
                into, length = "cut", 0
        flashes = (int(rng.integers(3, frames - 3)),) if frames > 12 and rng.random() < 0.15 else ()
        shots.append(Shot(name, start_frames / FPS, frames, into=into, length=length, flashes=flashes))
        previous = name
    return ShotVideo(f"held_out_{seed}", tuple(shots), f"random script, seed {seed} (held out)")


def ground_truth(video: ShotVideo, frame_count: int) -> dict:
    return {
        "name": video.name,
        "purpose": video.purpose,
        "fps": FPS,
        "width": WIDTH,
        "height": HEIGHT,
        "frames": frame_count,
        "duration_s": frame_count / FPS,
        "transitions": [t.as_times(FPS) | {"start_frame": t.start, "end_frame": t.end} for t in video.transitions],
        "distractors": [{"start_frame": a, "end_frame": b, "what": w} for a, b, w in video.distractors],
        "shots": [asdict(s) for s in video.shots],
    }


def build(out_dir: Path, names: tuple[str, ...] | None = None) -> list[dict]:
    """Render, encode and describe the shot videos (all, or those in ``names``) into ``out_dir``."""
    out_dir = Path(out_dir)
    written = []
    for video in VIDEOS + tuple(held_out(seed) for seed in HELD_OUT_SEEDS):
        if names is not None and video.name not in names:
            continue
        frames = render(video)
        path = out_dir / f"shots_{video.name}.mp4"
        encode(frames, path)
        truth = ground_truth(video, frames.shape[0]) | {"video": path.name}
        (out_dir / f"shots_{video.name}.json").write_text(json.dumps(truth, indent=1))
        written.append(truth)
    return written
