"""Real footage for the evaluation set: stretches of the shared clips decoded upright and resampled.

A *source* is one continuous shot of one shared clip (checked on contact sheets), so that any
splice of two different sources is a true shot change and no splice hides an unlabelled one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np


def media_dir() -> Path:
    """``shared/media`` next to the checkout (or ``$DP_SHARED_DIR/media``), as the tests find it."""
    override = os.environ.get("DP_SHARED_DIR")
    candidates = [Path(override)] if override else []
    here = Path(__file__).resolve()
    candidates += [parent / "shared" for parent in here.parents]
    for candidate in candidates:
        if (candidate / "media" / "MANIFEST.tsv").is_file():
            return candidate / "media"
    raise FileNotFoundError("shared/media not found next to the checkout; set DP_SHARED_DIR")


@dataclass(frozen=True)
class Source:
    """One continuous shot: ``clip`` from ``start_s`` to ``end_s`` (seconds, the clip's timestamps)."""

    clip: str
    start_s: float
    end_s: float
    what: str


# Every stretch was checked to be a single shot on a contact sheet (4-10 frames per second).
SOURCES: dict[str, Source] = {
    # Big Buck Bunny's first 30 s holds four shots; cuts at 11.8, 15.7 and 23.0 s and a fade-in
    # from black over the first 2 s, which is kept out.
    "meadow": Source("bbb_intro_vp8_vorbis.webm", 2.5, 11.7, "wide meadow under a pink sky"),
    "grass": Source("bbb_intro_vp8_vorbis.webm", 11.9, 15.6, "close-up of grass and a path"),
    "bird": Source("bbb_intro_vp8_vorbis.webm", 15.8, 21.5, "a bird on a branch (before the title text)"),
    "burrow": Source("bbb_intro_vp8_vorbis.webm", 23.1, 30.0, "the bunny's burrow under a tree"),
    "bunny": Source("bbb_h264_aac51.mp4", 0.0, 5.3, "the bunny climbing out of the burrow"),
    "lectern": Source("obama_statement_face_speech.mp4", 0.0, 2.3, "two men at lecterns (before the caption)"),
    "car": Source("carphone_qcif_face_noaudio.mp4", 0.0, 4.0, "a man talking in a car, 176x144"),
    "tree": Source("tree_cinepak_noaudio.avi", 0.0, 23.0, "a tree, locked-off camera (before the hand)"),
    # A handheld whip pan from a stove to a person: real fast camera motion, not a cut.
    "whip": Source("phone_rot180_vfr.mp4", 0.0, 2.38, "handheld whip pan across a living room"),
    "park": Source("park_0p55s.mp4", 0.0, 0.55, "a park, handheld"),
    # Fast, full-frame cartoon animation: large changes between frames that are not cuts.
    "pigs": Source("pigs_in_a_polka_314x273.gif", 0.0, 3.0, "two dancing cartoon pigs"),
}


def _fill(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover ``width`` x ``height`` and crop the centre (no black bars shared by shots)."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (sw, sh), interpolation=interpolation)
    x, y = (sw - width) // 2, (sh - height) // 2
    return np.ascontiguousarray(resized[y : y + height, x : x + width])


def _decode(clip: str, first_s: float, last_s: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """The frames of a shared clip on screen from ``first_s`` to ``last_s``: upright RGB at the
    display size, with their timestamps. Seeks to the keyframe before ``first_s`` and stops after
    ``last_s`` (keeping a whole 720p clip in memory would cost gigabytes)."""
    times: list[float] = []
    images: list[np.ndarray] = []
    with av.open(str(media_dir() / clip)) as container:
        stream = container.streams.video[0]
        if first_s > 1.0 and stream.time_base:
            container.seek(int(first_s / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            t = float(frame.time) if frame.time is not None else len(times) / float(stream.average_rate)
            if t > last_s + 1e-6 and times:
                break
            # Keep only the last frame before first_s (the one on screen at first_s) and later
            # ones; converted at the end, so frames decoded on the way there cost no conversion.
            if t <= first_s + 1e-6:
                times, images = [], []
            times.append(t)
            images.append(frame)
        return np.array(times), [_upright(frame) for frame in images]


def _upright(frame: av.VideoFrame) -> np.ndarray:
    image = frame.to_ndarray(format="rgb24")
    turns = int(round((frame.rotation or 0) / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


def frames_of(name: str, start_s: float, count: int, fps: float, width: int, height: int) -> np.ndarray:
    """``count`` frames of source ``name`` from ``start_s`` (relative to the source) at ``fps``.

    Each output frame shows the source frame on screen at its time (sample and hold), so a
    12 fps clip plays at its own speed inside a 25 fps composite. Asking for more than the source
    holds is a bug in a script, not something to pad silently.
    """
    source = SOURCES[name]
    first = source.start_s + start_s
    last = first + (count - 1) / fps
    if last > source.end_s + 1e-6:
        raise ValueError(f"{name}: {count} frames from {start_s} s run past the source's end ({source.end_s} s)")
    times, images = _decode(source.clip, first, last)
    out = np.empty((count, height, width, 3), np.uint8)
    filled: dict[int, np.ndarray] = {}
    for i in range(count):
        t = first + i / fps
        k = max(0, int(np.searchsorted(times, t + 1e-6, side="right")) - 1)
        if k not in filled:
            filled[k] = _fill(images[k], width, height)
        out[i] = filled[k]
    return out


def still(name: str, at_s: float, width: int, height: int) -> np.ndarray:
    """One frame of source ``name`` at ``at_s`` (relative to the source), filled to the size."""
    return frames_of(name, at_s, 1, 1.0, width, height)[0]
