"""Per-component resource figures: wall and CPU seconds, peak RSS, peak GPU memory.

Peak RSS is sampled by a background thread (``RSS_SAMPLE_INTERVAL_S``) because the process-wide
``ru_maxrss`` never goes down and cannot be attributed to one component. GPU memory comes from
torch's allocator statistics, reset at the start of each component, when torch is loaded and
sees a CUDA device.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass

import psutil

# Short enough to catch a buffer that lives for 50 ms or more, long enough that the
# sampler costs well under 1 % of a core.
RSS_SAMPLE_INTERVAL_S = 0.02
MIB = 1024 * 1024


@dataclass(frozen=True)
class ComponentMetrics:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float | None = None  # peak resident memory of the process during the component
    peak_rss_delta_mb: float | None = None  # that peak minus the resident memory at its start
    peak_gpu_mb: float | None = None


def _cuda_torch():
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch
    return None


class _RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="dp-rss-sampler", daemon=True)
        self._process = psutil.Process()
        self._halt = threading.Event()
        self.start_rss = self.peak = self._process.memory_info().rss

    def run(self) -> None:
        while not self._halt.wait(RSS_SAMPLE_INTERVAL_S):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        return self.peak


class Measurement:
    """``with Measurement() as m: ...`` then ``m.metrics``; ``observe=False`` keeps only timings."""

    def __init__(self, observe: bool = True):
        self.observe = observe
        self.metrics: ComponentMetrics | None = None

    def __enter__(self) -> "Measurement":
        self._sampler = _RssSampler() if self.observe else None
        if self._sampler:
            self._sampler.start()
        torch = _cuda_torch() if self.observe else None
        if torch is not None:
            torch.cuda.reset_peak_memory_stats()
        self._wall0, self._cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        wall, cpu = time.perf_counter() - self._wall0, time.process_time() - self._cpu0
        peak_rss = self._sampler.stop() / MIB if self._sampler else None
        rss_delta = peak_rss - self._sampler.start_rss / MIB if self._sampler else None
        peak_gpu = None
        if self.observe:
            torch = _cuda_torch()  # a component may have initialised CUDA itself
            if torch is not None:
                peak_gpu = torch.cuda.max_memory_allocated() / MIB
        self.metrics = ComponentMetrics(
            wall_s=wall, cpu_s=cpu, peak_rss_mb=peak_rss, peak_rss_delta_mb=rss_delta, peak_gpu_mb=peak_gpu
        )
