"""The ``dp process`` side: hand the videos to a running ``dp serve`` and follow them.

:func:`connect` finds the server of this DP_HOME, if one runs, without importing Dagster or a
model library. :meth:`ResidentClient.process` returns the outcomes as an in-process
:class:`dp_assets.runner.Processor` would, and reports each video's progress the same way; a
server that refuses (other settings, stale code, stopping) returns :class:`Refused` and the
caller computes in its own process.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from dp_assets.progress import STOP, VideoProgress
from dp_assets.resident.protocol import Channel, read_finished, settings_digests, socket_path
from dp_assets.serving import ProcessOutcome
from dp_resources.ids import VideoKey
from dp_resources.settings import Settings


@dataclass
class Refused:
    reason: str


class ServerError(RuntimeError):
    """The server could not compute the request (its message says why), or died during it."""


class ResidentClient:
    def __init__(self, channel: Channel, settings: Settings):
        self.channel = channel
        self.settings = settings
        self.pid: int | None = None

    def process(
        self, requests: list[tuple[Path, VideoKey]], profile: str, progress: VideoProgress, waiting=None
    ) -> list[ProcessOutcome] | Refused:
        """Compute ``requests`` with ``profile`` (a name, or a YAML path) on the server. ``waiting``
        is told once when another client's request goes first. A Ctrl-C here (:data:`STOP`) is
        passed on: the server stops after the component it computes."""
        self.channel.send(
            {
                "op": "process",
                "requests": [[str(path.resolve()), video.platform_id, video.video_id] for path, video in requests],
                "profile": _absolute(profile),
                "settings": settings_digests(self.settings),
            }
        )
        self.channel.sock.settimeout(0.25)  # a Ctrl-C is passed on within this
        stop_sent = False
        try:
            while True:
                if STOP.requested and not stop_sent:
                    self.channel.send({"op": "stop"})
                    stop_sent = True
                try:
                    message = self.channel.receive()
                except socket.timeout:
                    continue
                if message is None:
                    raise ServerError(f"dp serve{f' (pid {self.pid})' if self.pid else ''} stopped before it answered; the videos listed above finished")
                event = message.pop("event")
                if event == "refused":
                    return Refused(message["reason"])
                if event == "error":
                    raise ServerError(message["message"])
                if event in ("queued", "accepted"):
                    self.pid = message["pid"]
                    if event == "queued" and waiting is not None:
                        waiting(message["ahead"])
                elif event == "done":
                    if message["stopped"]:
                        STOP.request(message["stopped"])
                    return [_outcome(o) for o in message["outcomes"]]
                else:
                    _forward(progress, event, message)
        finally:
            self.channel.close()


def _absolute(profile: str) -> str:
    """A profile path as the server, in another working directory, finds it; a name as it is."""
    path = Path(profile).expanduser()
    return str(path.resolve()) if path.suffix in (".yaml", ".yml") and path.exists() else profile


def _outcome(data: dict) -> ProcessOutcome:
    _, manifest, manifest_path, evicted = read_finished(data)
    return ProcessOutcome(manifest, manifest_path, data["run_id"], served_from_cache=data["served_from_cache"], evicted=evicted)


def _forward(progress: VideoProgress, event: str, message: dict) -> None:
    if event == "video_finished":
        progress.video_finished(*read_finished(message))
        return
    video = VideoKey.parse(message["video"])
    if event == "video_started":
        progress.video_started(video, message["components"])
    elif event == "component_progress":
        progress.component_progress(video, message["component"], message["done"], message["total"], message["unit"])
    elif event == "component_finished":
        progress.component_finished(video, message["component"], message["status"])


def connect(settings: Settings, timeout_s: float = 2.0) -> ResidentClient | None:
    """A client of the ``dp serve`` of this DP_HOME, or None when none runs."""
    path = socket_path(settings)
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(str(path))
    except OSError:  # a socket file left by a server that died, or one we may not use
        sock.close()
        return None
    return ResidentClient(Channel(sock), settings)
