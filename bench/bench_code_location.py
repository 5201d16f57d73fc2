"""What a process pays before any work: importing the code location and loading its Definitions.

Each figure is the median wall time of fresh interpreters (``--repeat``), side by side with an
empty interpreter and a bare ``import dagster``, and the heavy model libraries the import left in
``sys.modules`` (there should be none: they load inside model loaders).

Usage: python bench/bench_code_location.py [--repeat N] [--profile NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HEAVY = ("torch", "onnxruntime", "faster_whisper", "ctranslate2", "sentence_transformers", "transformers", "rapidocr", "scipy")

CASES = {
    "python -c pass": "pass",
    "import dagster": "import dagster",
    "import dp_assets.definitions": "import dp_assets.definitions",
    "load the code location": (
        "import importlib, dagster as dg; "
        "dg.load_definitions_from_module(importlib.import_module('dp_assets.definitions')).resolve_asset_graph()"
    ),
}


def measure(code: str, env: dict[str, str]) -> tuple[float, list[str], float]:
    probe = f"{code}\nimport sys, json, resource\nprint(json.dumps([[m for m in {HEAVY!r} if m in sys.modules], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))"
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    heavy, maxrss_kb = json.loads(out.strip().splitlines()[-1])
    return wall, heavy, maxrss_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", default="baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DP_HOME": home, "DP_PROFILE": args.profile, "PYTHONWARNINGS": "ignore"}
        env.pop("DAGSTER_HOME", None)
        measure(CASES["load the code location"], env)  # warm the weight-hash cache and the OS file cache
        print(f"profile: {args.profile}  repeats: {args.repeat}  (medians of fresh interpreters)")
        for label, code in CASES.items():
            runs = [measure(code, env) for _ in range(args.repeat)]
            wall = statistics.median(r[0] for r in runs)
            rss = statistics.median(r[2] for r in runs)
            heavy = runs[-1][1]
            print(f"{label:<30} {wall:6.2f} s  peak RSS {rss:5.0f} MB  heavy libraries loaded: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
