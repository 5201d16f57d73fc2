"""The model store's mechanics: weight files in installed packages, their hashes, loaded copies.

Weights always come from an installed registry package (never a hub download at run time).
A loaded model is cached per process, keyed by (model, device, precision), so components and
partitions share one copy. ``model_signature`` hashes names, versions, the sha256 of every weight
file, engine, precision and device: two runs on different devices or precisions never share an
artifact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from dp_core.contract import ModelRef, ModelUnavailableError, Runtime
from dp_core.hashing import canonical_json, sha256_hex

log = logging.getLogger("dataprocessor.models")


def package_file(package: str, *parts: str) -> Path:
    """A file shipped inside an installed package, or a clear error naming the package."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"model package {package!r} is not installed (pip install -c constraints.txt {package})")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    if not path.exists():
        raise ModelUnavailableError(f"{path} is missing from the installed package {package!r}")
    return path


def installed_version(distribution: str) -> str:
    """The installed version of a distribution whose code is part of a model (its pre- and
    post-processing), or ``not-installed``: the model then fails to load with its own message."""
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not-installed"


_hash_lock = threading.Lock()


def _hash_cache_path() -> Path:
    from dp_resources.settings import dp_home

    return dp_home() / "cache" / "weight_hashes.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def building_folder(target: Path) -> Iterator[Path]:
    """A fresh temporary sibling of ``target`` to write a derived model into (a joined or converted
    copy of packaged weights); when the block ends without error it is fsynced and renamed to
    ``target`` in one step, so a crash or a concurrent builder never leaves a partial model where
    a reader looks (a builder that finished first wins). On error nothing is left behind. Files
    written into it must be fsynced by the writer.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        yield staging
        _fsync_dir(staging)
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished the same folder first (the target is now a non-empty folder).
            if not target.is_dir():
                raise
        _fsync_dir(target.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def weight_sha256(path: Path) -> str:
    """sha256 of a weight file, cached by (path, size, mtime) so large weights hash once."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_file = _hash_cache_path()
    with _hash_lock:
        cache: dict[str, str] = {}
        if cache_file.is_file():
            try:
                cache = json.loads(cache_file.read_text())
            except (OSError, json.JSONDecodeError):
                cache = {}
        if key in cache:
            return cache[key]
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        cache[key] = digest.hexdigest()
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_file)
        return cache[key]


def model_signature(models: tuple[ModelRef, ...], runtime: Runtime) -> str:
    if not models:
        return "none"
    described = []
    for ref in sorted(models, key=lambda m: m.name):
        rt = ref.effective_runtime(runtime)
        described.append(
            {
                "name": ref.name,
                "version": ref.version,
                "engine": ref.engine,
                # "folder/name" keys: two files may share a name (config.json) in different folders
                "weights": {f"{p.parent.name}/{p.name}": weight_sha256(p) for p in sorted(ref.weight_files())},
                "device": rt.device,
                "precision": rt.precision,
            }
        )
    return sha256_hex(canonical_json(described))[:16]


class ModelStore:
    """Loaded models shared by every component and partition of this process."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()
        # One lock per model: a thread loading one model (dp_assets.preload) does not hold back a
        # component that needs another, and two threads asking for one model load it once.
        self._loading: dict[tuple[str, str, str], threading.Lock] = {}
        # How often each (model, device, precision) was loaded by this process: once, in a warm
        # worker or a dp process over many videos (the log says how long each load took).
        self.loads: Counter[tuple[str, str, str]] = Counter()

    def get(self, ref: ModelRef, runtime: Runtime) -> Any:
        rt = ref.effective_runtime(runtime)
        key = (ref.name, rt.device, rt.precision)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            if key not in self._models:
                started = time.perf_counter()
                self._models[key] = ref.load(rt)
                self.loads[key] += 1
                log.info("loaded model %s on %s (%s) in %.1f s", ref.name, rt.device, rt.precision, time.perf_counter() - started)
            return self._models[key]

    def loaded(self) -> list[tuple[str, str, str]]:
        return list(self._models)


MODELS = ModelStore()
