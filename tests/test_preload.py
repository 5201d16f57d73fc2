"""Models loaded on a thread ahead of the first video: one load per model, no waiting on another
model's load, and a model that cannot load reported by its component, not by the preloader."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from dp_assets.preload import Preloader, prepare_components
from dp_core.contract import CPU, ModelRef
import dp_resources.models as model_store
from dp_resources.models.store import ModelStore


def _ref(name: str, load) -> ModelRef:
    return ModelRef(name=name, version="1", engine="onnxruntime", package="none", weight_files=list, load=load)


@dataclass
class _Spec:
    prepare: object = None


@dataclass
class _Component:
    models: tuple
    spec: _Spec
    uses_gpu: bool = False


def test_a_slow_load_holds_back_only_that_model():
    release, started = threading.Event(), threading.Event()

    def slow(runtime):
        started.set()
        release.wait(10)
        return "slow"

    store = ModelStore()
    slow_ref, quick_ref = _ref("slow", slow), _ref("quick", lambda runtime: "quick")
    loader = threading.Thread(target=store.get, args=(slow_ref, CPU))
    loader.start()
    assert started.wait(10)
    began = time.monotonic()
    assert store.get(quick_ref, CPU) == "quick"  # not behind the slow load
    assert time.monotonic() - began < 5
    release.set()
    loader.join(10)
    assert store.get(slow_ref, CPU) == "slow"


def test_threads_asking_for_one_model_load_it_once():
    calls = []

    def load(runtime):
        calls.append(runtime)
        time.sleep(0.2)
        return object()

    store, ref = ModelStore(), _ref("once", load)
    got = []
    threads = [threading.Thread(target=lambda: got.append(store.get(ref, CPU))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1 and len({id(model) for model in got}) == 1
    assert store.loads[("once", "cpu", "fp32")] == 1


def test_prepare_components_loads_models_and_runs_prepare_hooks(monkeypatch):
    store = ModelStore()
    monkeypatch.setattr(model_store, "MODELS", store)
    prepared = []
    components = [
        _Component(models=(_ref("a", lambda runtime: "A"),), spec=_Spec(prepare=lambda: prepared.append("first"))),
        _Component(models=(), spec=_Spec(prepare=lambda: prepared.append("second"))),
    ]
    assert prepare_components(components, CPU) == ["a"]
    assert prepared == ["first", "second"] and store.loaded() == [("a", "cpu", "fp32")]


def test_a_failed_preload_is_left_to_the_component(monkeypatch, caplog):
    store = ModelStore()
    monkeypatch.setattr(model_store, "MODELS", store)

    def broken(runtime):
        raise RuntimeError("weights damaged")

    caplog.set_level("DEBUG", logger="dataprocessor.preload")
    preloader = Preloader([_Component(models=(_ref("broken", broken),), spec=_Spec())], CPU).start()
    preloader.join(10)
    assert preloader.seconds is None  # it stopped, and raised nothing in this thread
    assert "weights damaged" in caplog.text
    assert store.loaded() == []  # the component's own get() loads it again and reports the error


def test_stop_waits_for_the_model_being_loaded_and_loads_no_other(monkeypatch):
    store = ModelStore()
    monkeypatch.setattr(model_store, "MODELS", store)
    loading = threading.Event()

    def slow(runtime):
        loading.set()
        time.sleep(0.5)
        return "slow"

    components = [_Component(models=(_ref("slow", slow),), spec=_Spec()), _Component(models=(_ref("next", lambda runtime: "next"),), spec=_Spec())]
    preloader = Preloader(components, CPU).start()
    assert loading.wait(10)
    preloader.stop()
    assert not preloader._thread.is_alive()
    assert store.loaded() == [("slow", "cpu", "fp32")]  # finished, and nothing after it
