"""The GPU settings: which device model-backed components use, at which precision, how many at once.

``device: auto`` picks ``cuda:0`` when torch sees a CUDA device, else ``cpu``; torch is imported
only when the CUDA driver reports a device, so a CPU machine never pays for importing it. The
concurrency limit is enforced by Dagster's ``gpu`` pool (see README "GPU"), so it holds across runs;
``gpu_max_concurrent: auto`` is 1 below 24 GiB of VRAM, else one slot per 24 GiB (at most 4),
because every slot may hold its own copy of the largest model plus a batch of frames.
Plain Python (no Dagster); ``dp_resources.resources.GpuResource`` wraps it for Dagster.
"""

from __future__ import annotations

import ctypes
from functools import cache

from pydantic import BaseModel, Field

from dp_core.contract import Runtime
from dp_resources.settings import Device, GpuLimit, Precision, current_settings

VRAM_PER_SLOT_GIB = 24
MAX_AUTO_SLOTS = 4


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


@cache
def _driver_sees_a_device() -> bool:
    """Whether the CUDA driver (``libcuda``) reports a device, asked without importing torch.

    Importing torch costs ~1.2 s, paid each time the code location loads; on a machine without
    the driver torch could not use a GPU anyway. The driver's answer cannot change within a
    process, and torch's ``is_available()`` initialises the same driver, so asking it first
    changes nothing on a GPU machine.
    """
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    return driver.cuInit(0) == 0 and driver.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0


def cuda_available() -> bool:
    """Whether torch can use a CUDA device; torch is imported only when the driver reports one."""
    if not _driver_sees_a_device():
        return False
    torch = _torch()
    return bool(torch is not None and torch.cuda.is_available())


class Gpu(BaseModel):
    device: Device = Field(default="auto", description="auto | cpu | cuda:N")
    precision: Precision = Field(default="auto", description="auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16")
    gpu_max_concurrent: GpuLimit = Field(default="auto", description="auto | N: GPU steps in flight across all runs")

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
        if not cuda_available():
            return 1
        device = self.resolved_device()
        index = int(device.split(":")[1]) if device.startswith("cuda") else 0
        vram_gib = _torch().cuda.get_device_properties(index).total_memory / 2**30
        return max(1, min(MAX_AUTO_SLOTS, int(vram_gib // VRAM_PER_SLOT_GIB)))


def gpu_from_env() -> Gpu:
    """The GPU settings of this deployment: ``DP_DEVICE``, ``DP_PRECISION``, ``DP_GPU_MAX_CONCURRENT``."""
    settings = current_settings()
    return Gpu(device=settings.device, precision=settings.precision, gpu_max_concurrent=settings.gpu_max_concurrent)


GPU_POOL = "gpu"


def configure_gpu_pool(instance, gpu: Gpu) -> int:
    """Set the instance's ``gpu`` pool limit to ``gpu_max_concurrent`` (what `dagster instance
    concurrency set gpu N` does), so the limit holds across every run of the deployment."""
    limit = gpu.max_concurrent()
    storage = instance.event_log_storage
    if storage.get_concurrency_info(GPU_POOL).slot_count != limit:
        storage.set_concurrency_slots(GPU_POOL, limit)
    return limit
