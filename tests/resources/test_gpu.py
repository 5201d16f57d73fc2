"""The GPU resource on this machine: ``auto`` resolves without importing torch when no CUDA driver
reports a device (loading the code location must not pay ~1.2 s for torch on a CPU machine)."""

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
