"""What a ``dp process`` client and ``dp serve`` say to each other: one JSON object per line over
a Unix socket.

Client -> server: ``{"op": "process", "requests": [[path, platform_id, video_id], ...],
"profile": NAME_OR_PATH, "settings": {field: digest}}``, then ``{"op": "stop"}`` on Ctrl-C (end
of stream means the same: nobody is left to report to).

Server -> client: ``queued`` (busy with another client), ``accepted``, or ``refused`` (the client
computes in its own process), then the progress events of :class:`dp_assets.progress.VideoProgress`
(``video_started``, ``component_progress``, ``component_finished``, ``video_finished`` with the
manifest), then ``done`` with every outcome, or ``error`` with a message.
"""

from __future__ import annotations

import hashlib
import json
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dp_resources.ids import VideoKey
from dp_resources.settings import Settings

if TYPE_CHECKING:
    from dp_assets.manifest import Manifest

SOCKET_NAME = "serve.sock"
# sockaddr_un holds 108 bytes; a deeper DP_HOME gets a socket named after it in the temp folder.
_MAX_SOCKET_PATH = 100
# Settings a client and its server may hold differently: the client names its own profile, and
# the server computes in its own process whatever the number of daemon workers.
_CLIENT_ONLY = frozenset({"profile", "workers"})


def socket_path(settings: Settings) -> Path:
    path = Path(settings.home).resolve() / SOCKET_NAME
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"dp-serve-{digest}.sock"


def settings_digests(settings: Settings) -> dict[str, str]:
    """A digest of each setting that decides what a video's computation produces or where it goes:
    a server whose settings differ from the client's would compute something else than asked."""
    digests = {}
    for name in type(settings).model_fields:
        if name in _CLIENT_ONLY:
            continue
        value = getattr(settings, name)
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        digests[name] = hashlib.sha256(repr(value).encode()).hexdigest()[:16]
    return digests


def finished(manifest: "Manifest", manifest_path: Path, evicted) -> dict[str, Any]:
    """A finished video as both ``video_finished`` and ``done`` carry it."""
    return {
        "video": VideoKey(manifest.platform_id, manifest.video_id).partition_key,
        "manifest": manifest.model_dump(mode="json"),
        "manifest_path": str(manifest_path),
        "evicted": [v.partition_key for v in evicted],
    }


def read_finished(message: dict[str, Any]) -> tuple[VideoKey, "Manifest", Path, tuple[VideoKey, ...]]:
    """What :func:`finished` wrote."""
    from dp_assets.manifest import Manifest

    evicted = tuple(VideoKey.parse(v) for v in message["evicted"])
    return VideoKey.parse(message["video"]), Manifest.model_validate(message["manifest"]), Path(message["manifest_path"]), evicted


def differing(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    return sorted(name for name in mine.keys() | theirs.keys() if mine.get(name) != theirs.get(name))


class Channel:
    """One connection: JSON lines in both directions. A receive that times out (the socket's
    timeout) raises ``socket.timeout`` and loses nothing: the next one goes on with the line."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buffer = bytearray()

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall((json.dumps(message, default=str) + "\n").encode())

    def receive(self) -> dict[str, Any] | None:
        """The next message, or None at the end of the stream."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return json.loads(line)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self._buffer += chunk

    def close(self) -> None:
        self.sock.close()
