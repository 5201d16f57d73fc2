"""The GPU resource: which device model-backed components use, at which precision, how many at once.

``device: auto`` picks ``cuda:0`` when torch sees a CUDA device, else ``cpu``. The concurrency
limit is enforced by Dagster's ``gpu`` pool (see README "GPU"), so it holds across runs;
``gpu_max_concurrent: auto`` is 1 below 24 GiB of VRAM, else one slot per 24 GiB (at most 4),
because every slot may hold its own copy of the largest model plus a batch of frames.
"""

from __future__ import annotations

import os
import re

from dagster import ConfigurableResource
from pydantic import Field, field_validator

from dp_core.contract import Runtime

VRAM_PER_SLOT_GIB = 24
MAX_AUTO_SLOTS = 4


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def cuda_available() -> bool:
    torch = _torch()
    return bool(torch is not None and torch.cuda.is_available())


class GpuResource(ConfigurableResource):
    device: str = Field(default="auto", description="auto | cpu | cuda:N")
    precision: str = Field(default="auto", description="auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16")
    gpu_max_concurrent: str = Field(default="auto", description="auto | N: GPU steps in flight across all runs")

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if value not in ("auto", "cpu") and not re.fullmatch(r"cuda:\d+", value):
            raise ValueError(f"device must be auto, cpu or cuda:N, not {value!r}")
        return value

    @field_validator("precision")
    @classmethod
    def _check_precision(cls, value: str) -> str:
        if value not in ("auto", "fp32", "fp16"):
            raise ValueError(f"precision must be auto, fp32 or fp16, not {value!r}")
        return value

    @field_validator("gpu_max_concurrent")
    @classmethod
    def _check_limit(cls, value: str) -> str:
        if value != "auto" and not (value.isdigit() and int(value) >= 1):
            raise ValueError(f"gpu_max_concurrent must be auto or a positive integer, not {value!r}")
        return value

    def resolved_device(self) -> str:
        if self.device == "auto":
            return "cuda:0" if cuda_available() else "cpu"
        if self.device.startswith("cuda") and not cuda_available():
            raise RuntimeError(f"device {self.device} was requested but torch sees no CUDA device")
        return self.device

    def runtime(self) -> Runtime:
        device = self.resolved_device()
        precision = self.precision
        if precision == "auto":
            precision = "fp16" if device.startswith("cuda") else "fp32"
        if precision == "fp16" and device == "cpu":
            raise RuntimeError("precision fp16 needs a CUDA device; use fp32 on cpu")
        return Runtime(device=device, precision=precision)

    def max_concurrent(self) -> int:
        if self.gpu_max_concurrent != "auto":
            return int(self.gpu_max_concurrent)
        torch = _torch()
        if torch is None or not torch.cuda.is_available():
            return 1
        index = int(self.resolved_device().split(":")[1]) if self.resolved_device().startswith("cuda") else 0
        vram_gib = torch.cuda.get_device_properties(index).total_memory / 2**30
        return max(1, min(MAX_AUTO_SLOTS, int(vram_gib // VRAM_PER_SLOT_GIB)))


def gpu_from_env() -> GpuResource:
    """The GPU settings of this deployment: ``DP_DEVICE``, ``DP_PRECISION``, ``DP_GPU_MAX_CONCURRENT``."""
    return GpuResource(
        device=os.environ.get("DP_DEVICE", "auto"),
        precision=os.environ.get("DP_PRECISION", "auto"),
        gpu_max_concurrent=os.environ.get("DP_GPU_MAX_CONCURRENT", "auto"),
    )


GPU_POOL = "gpu"


def configure_gpu_pool(instance, gpu: GpuResource) -> int:
    """Set the instance's ``gpu`` pool limit to ``gpu_max_concurrent`` (what `dagster instance
    concurrency set gpu N` does), so the limit holds across every run of the deployment."""
    limit = gpu.max_concurrent()
    storage = instance.event_log_storage
    if storage.get_concurrency_info(GPU_POOL).slot_count != limit:
        storage.set_concurrency_slots(GPU_POOL, limit)
    return limit
