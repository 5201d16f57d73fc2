"""Hooks that let whoever started a run follow it video by video, and stop it between components.

``dp process`` installs its own :class:`VideoProgress` (a line per finished video, a progress
bar) around the runs it executes in its process (:func:`following`); runs launched by the daemon
get the silent default. :data:`STOP` is this process's request to
stop after the component that is computing now (the first Ctrl-C); the step that processes
videos checks it between components.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from dp_resources.ids import VideoKey

if TYPE_CHECKING:
    from dp_assets.manifest import Manifest


class VideoProgress:
    """Called from the step as it works; the default does nothing. ``finished_at``, when set,
    is the time recorded as each video's finish (a test's injected clock)."""

    finished_at = None

    def video_started(self, video: VideoKey, components: int) -> None:
        pass

    def component_progress(self, video: VideoKey, component: str, done: int, total: int | None, unit: str) -> None:
        pass

    def component_finished(self, video: VideoKey, component: str, status: str) -> None:
        pass

    def video_finished(self, video: VideoKey, manifest: "Manifest", manifest_path: Path, evicted: tuple[VideoKey, ...] = ()) -> None:
        pass


NO_PROGRESS = VideoProgress()
_following: list[VideoProgress] = []


def current() -> VideoProgress:
    """Who follows the runs executed in this process now (``dp process``), or nobody."""
    return _following[-1] if _following else NO_PROGRESS


@contextlib.contextmanager
def following(progress: VideoProgress) -> Iterator[VideoProgress]:
    """Runs executed in this process during the body report to ``progress``."""
    _following.append(progress)
    try:
        yield progress
    finally:
        _following.remove(progress)


class StopRequest:
    """Set by the first Ctrl-C: finish the component that is computing, then stop."""

    def __init__(self) -> None:
        self.reason: str | None = None

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        self.reason = self.reason or reason

    def clear(self) -> None:
        self.reason = None


STOP = StopRequest()


class Interrupted(Exception):
    """Raised between components once a stop was requested."""


# A graceful stop waits for the computing component at most this long: an interrupted process
# ends within it at any point, even during a long OCR pass.
STOP_GRACE_S = 20


@contextlib.contextmanager
def stop_after_current_component(announce=None) -> Iterator[StopRequest]:
    """While in the body, the first SIGINT asks to stop after the current component (``announce``
    is told), and a second one, or the same one after ``STOP_GRACE_S``, stops at once
    (KeyboardInterrupt). SIGTERM is not graceful: Dagster stops the run at once on it. Only the
    main thread can own signal handlers; elsewhere the body runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signo, frame):
        if STOP.requested:
            raise KeyboardInterrupt
        STOP.request("interrupted (Ctrl-C)")
        (announce or _default_announce)()
        deadline = threading.Timer(STOP_GRACE_S, os.kill, (os.getpid(), signal.SIGINT))
        deadline.daemon = True
        deadline.start()

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield STOP
    finally:
        signal.signal(signal.SIGINT, previous)


def _default_announce() -> None:
    print(f"\ndp: stopping after the current component (at most {STOP_GRACE_S} s; Ctrl-C again to stop now)", file=sys.stderr, flush=True)
