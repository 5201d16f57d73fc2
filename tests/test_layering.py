"""The package layering and the cost of loading the code location, checked in fresh interpreters.

``dp_core`` imports neither package, ``dp_resources`` never imports ``dp_assets``, and importing
the code location loads no model library (they load inside model loaders).
"""

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
MODEL_LIBRARIES = ("torch", "onnxruntime", "openvino", "faster_whisper", "ctranslate2", "sentence_transformers", "transformers", "rapidocr", "scipy")


def imported_after(code: str, tmp_path: Path) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "DP_HOME": str(tmp_path), "PYTHONWARNINGS": "ignore", "DP_DEVICE": "auto"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def modules_of(package: str) -> list[str]:
    path = PROJECT / package
    return [package] + [f"{package}.{m.name}" for m in pkgutil.walk_packages([str(path)]) if not m.name.startswith("_")]


@pytest.mark.parametrize(("package", "forbidden"), [("dp_core", ("dp_assets", "dp_resources")), ("dp_resources", ("dp_assets",))])
def test_lower_packages_never_import_higher_ones(tmp_path, package, forbidden):
    imports = "; ".join(f"import {name}" for name in modules_of(package))
    loaded = imported_after(imports, tmp_path)
    assert [m for m in loaded if m.split(".")[0] in forbidden] == []


def test_the_code_location_loads_no_model_library(tmp_path):
    loaded = imported_after(
        "import importlib; defs = importlib.import_module('dp_assets.definitions').defs(); defs.resolve_asset_graph()", tmp_path
    )
    assert "dagster" in loaded and "dp_assets.components.audio.transcript" in loaded  # it really loaded the graph
    assert [m for m in MODEL_LIBRARIES if m in loaded] == []
