"""The GPU settings: which device model-backed components use, at which precision, how many at once.

``device: auto`` picks ``cuda:0`` when torch sees a CUDA device, else ``cpu``; torch is imported
only when the CUDA driver reports a device, so a CPU machine never pays for importing it.

The concurrency limit holds GPU work only: a component that runs on a CUDA device holds one of
``gpu_max_concurrent`` slots of this machine while it computes (:class:`GpuSlots`, one file lock
per slot), so CPU components of any number of runs go on meanwhile, and on the CPU device
nothing is claimed at all. A waiting component sleeps between tries; a process that dies loses
its lock with it (the kernel releases it), so a crash never wedges the slots.
``gpu_max_concurrent: auto`` is 1 below 24 GiB of VRAM, else one slot per 24 GiB (at most 4),
because every slot may hold its own copy of the largest model plus a batch of frames.
Plain Python (no Dagster); ``dp_resources.resources.GpuResource`` wraps it for Dagster.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import time
from functools import cache
from pathlib import Path
from typing import Callable, Iterator

from pydantic import BaseModel, Field

from dp_core.contract import Runtime
from dp_resources.settings import Device, GpuLimit, Precision, current_settings

VRAM_PER_SLOT_GIB = 24
MAX_AUTO_SLOTS = 4
# How often a component waiting for a GPU slot tries again: a sleeping waiter costs nothing, and
# a GPU component runs for seconds, so a fifth of a second of latency is noise.
SLOT_POLL_S = 0.2


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
    gpu_max_concurrent: GpuLimit = Field(default="auto", description="auto | N: GPU components computing at once on this machine")
    lock_dir: str = Field(
        default_factory=lambda: str(current_settings().gpu_lock_dir), description="folder of this machine's GPU slot locks"
    )

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


    def slots(self, device: str) -> GpuSlots:
        return GpuSlots(device, self.max_concurrent(), Path(self.lock_dir))

    @contextlib.contextmanager
    def slot(self, runtime: Runtime, on_wait: Callable[[], None] | None = None) -> Iterator[int | None]:
        """Hold one of this machine's GPU slots while a component computes on ``runtime``; on the
        CPU nothing is claimed (``None``)."""
        if not runtime.is_cuda:
            yield None
            return
        with self.slots(runtime.device).hold(on_wait) as k:
            yield k


def gpu_from_env() -> Gpu:
    """The GPU settings of this deployment: ``DP_DEVICE``, ``DP_PRECISION``, ``DP_GPU_MAX_CONCURRENT``."""
    settings = current_settings()
    return Gpu(device=settings.device, precision=settings.precision, gpu_max_concurrent=settings.gpu_max_concurrent)


class GpuSlots:
    """At most ``limit`` holders of ``device`` at once across every process of this machine.

    Slot ``k`` is the file ``<lock_dir>/<device>.slot<k>``, held with an exclusive ``flock`` for as
    long as the holder computes; the kernel drops the lock when the process ends, however it ends.
    """

    def __init__(self, device: str, limit: int, lock_dir: Path, poll_s: float = SLOT_POLL_S):
        self.device, self.limit, self.lock_dir, self.poll_s = device, limit, Path(lock_dir), poll_s

    def _paths(self) -> list[Path]:
        name = self.device.replace(":", "")
        return [self.lock_dir / f"{name}.slot{k}" for k in range(self.limit)]

    @contextlib.contextmanager
    def hold(self, on_wait: Callable[[], None] | None = None) -> Iterator[int]:
        """Hold a slot for the body; ``on_wait`` is called once if none is free at first."""
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        waited = False
        while True:
            for k, path in enumerate(self._paths()):
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                try:
                    yield k
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                return
            if not waited and on_wait is not None:
                on_wait()
            waited = True
            time.sleep(self.poll_s)

    def held(self) -> int:
        """How many slots are held right now (by any process of this machine)."""
        busy = 0
        for path in self._paths():
            if not path.exists():
                continue
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except BlockingIOError:
                busy += 1
            finally:
                os.close(fd)
        return busy
