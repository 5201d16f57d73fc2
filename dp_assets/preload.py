"""Loading a profile's models (and what its components import lazily) before the first video needs them.

A process that computes videos loads each model once (``dp_resources.models.MODELS``). Loaded on
first use, the loads land inside the first video's components: ``dp process`` over the six
benchmark clips paid 2.4 s of model loads and 1.25 s of lazy imports (scipy for loudness,
py3langid's model for text_features) in its first video. :class:`Preloader` does that work on a
thread while the process sets up Dagster and decodes the first frames, so a component finds its
model ready, or waits only for the rest of that one model's load.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Iterable

from dp_core.contract import CPU, Runtime

log = logging.getLogger("dataprocessor.preload")


def prepare_components(components: Iterable, runtime: Runtime, stop: threading.Event | None = None) -> list[str]:
    """Load every model of ``components`` (profile ``ResolvedComponent``s) in order, and run their
    ``prepare`` hooks; the names of the models loaded. A failure raises: the caller decides.
    ``stop`` set: it returns before the next model."""
    from dp_resources.models import MODELS

    loaded = []
    for component in components:
        if stop is not None and stop.is_set():
            break
        for ref in component.models:
            # the runtime a component gets (dp_assets.video_run): its device only if it uses the GPU
            MODELS.get(ref, runtime if component.uses_gpu else CPU)
            loaded.append(ref.name)
        if component.spec.prepare is not None:
            component.spec.prepare()
    return loaded


class Preloader:
    """Prepares ``components`` on a thread.

    A failure is only logged: the component that needs the model loads it again in its own step,
    where the error is reported as that component's failure, with its reason. The owner calls
    :meth:`stop` when its work is done: a process must not exit while the thread is inside a
    model library's loader (a short clip that finished first ended ``dp process`` with SIGABRT in
    half of the tries, CTranslate2 or torch still loading).
    """

    def __init__(self, components: Iterable, runtime: Runtime):
        self._components = list(components)
        self._runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dp-preload", daemon=True)
        self.seconds: float | None = None  # how long the preparing took, once done

    def start(self) -> "Preloader":
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def stop(self) -> None:
        """Load no further model, and wait for the one being loaded."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            loaded = prepare_components(self._components, self._runtime, self._stop)
        except Exception as exc:  # noqa: BLE001 - reported again by the component that needs it
            log.debug("preloading stopped: %s: %s", type(exc).__name__, exc)
            return
        self.seconds = time.perf_counter() - started
        log.debug("preloaded %s in %.1f s", ", ".join(loaded) or "no model", self.seconds)
