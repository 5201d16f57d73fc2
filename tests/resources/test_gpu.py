"""The GPU resource on this machine: ``auto`` resolves without importing torch when no CUDA driver
reports a device (loading the code location must not pay ~1.2 s for torch on a CPU machine), and
the GPU slots limit concurrent holders across processes, sleep while waiting, and are freed when
their holder dies."""

import json
import subprocess
import sys

import pytest

from dp_resources.gpu import Gpu, _driver_sees_a_device

PROBE = """
import json, sys
from dp_resources.gpu import Gpu
gpu = Gpu(device="auto")
runtime = gpu.runtime()
print(json.dumps({"device": runtime.device, "precision": runtime.precision, "slots": gpu.max_concurrent(), "torch": "torch" in sys.modules}))
"""


cpu_only = pytest.mark.skipif(_driver_sees_a_device(), reason="a CUDA driver reports a device here: torch is rightly asked")


@cpu_only
def test_auto_on_a_cpu_machine_never_imports_torch():
    # A fresh interpreter: this test process may have imported torch for other tests already.
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(result.stdout.splitlines()[-1]) == {"device": "cpu", "precision": "fp32", "slots": 1, "torch": False}


@cpu_only
def test_explicit_cuda_without_a_usable_device_is_refused():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        Gpu(device="cuda:0").runtime()


@pytest.mark.parametrize("field, value", [("device", "gpu"), ("precision", "bf16"), ("gpu_max_concurrent", "0")])
def test_invalid_values_are_refused(field, value):
    with pytest.raises(ValueError):
        Gpu(**{field: value})


HOLDER = """
import sys, time
from dp_resources.gpu import GpuSlots
with GpuSlots("cuda:0", int(sys.argv[2]), sys.argv[1]).hold() as k:
    print(k, flush=True)
    time.sleep(600)
"""


def _holder(lock_dir, limit: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_dir), str(limit)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip().isdigit(), "the holder took no slot"
    return proc


def test_slots_are_shared_by_processes_sleep_while_waiting_and_die_with_their_holder(tmp_path):
    import os
    import threading
    import time

    import psutil

    from dp_resources.gpu import GpuSlots

    lock_dir = tmp_path / "gpu"
    slots = GpuSlots("cuda:0", 2, lock_dir, poll_s=0.05)
    first, second = _holder(lock_dir, 2), _holder(lock_dir, 2)
    try:
        assert slots.held() == 2
        got = threading.Event()

        def wait_for_a_slot():
            with slots.hold():
                got.set()

        cpu_before = psutil.Process(os.getpid()).cpu_times()
        waiter = threading.Thread(target=wait_for_a_slot, daemon=True)
        waiter.start()
        time.sleep(2.0)
        cpu_after = psutil.Process(os.getpid()).cpu_times()
        assert not got.is_set(), "a third holder got in with two slots taken"
        busy = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        assert busy < 0.05 * 2.0, f"waiting used {busy:.2f} s of CPU in 2 s: more than 5 % of a core"
        first.kill()  # kill -9: the kernel drops its lock
        first.wait()
        waiter.join(timeout=10)
        assert got.is_set(), "the slot of a killed holder was never freed"
        assert slots.held() == 1
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()
    assert slots.held() == 0
