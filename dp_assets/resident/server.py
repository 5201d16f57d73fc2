"""The ``dp serve`` process: models loaded once, one client's videos after another.

It listens on the socket of its DP_HOME (:func:`dp_assets.resident.protocol.socket_path`), loads
and warms the models of its profile before it says it is ready, and computes each request with a
:class:`dp_assets.runner.Processor` kept per profile: the same Dagster runs on the same instance
as an in-process ``dp process``, so the UI, the manifests and the cache cannot tell them apart.

Requests are computed one at a time in the main thread (the step stops between components on
:data:`dp_assets.progress.STOP`, which only the main thread's signal handler and this server
set); a client that arrives meanwhile is told it waits. SIGINT or SIGTERM stop the server after
the component it is computing; the client is told its videos did not all run.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from dp_assets.progress import STOP, VideoProgress, stop_after_current_component
from dp_assets.resident.protocol import Channel, differing, finished, settings_digests, socket_path
from dp_resources.ids import VideoKey
from dp_resources.settings import Settings

log = logging.getLogger("dataprocessor.serve")


_REQUEST_TIMEOUT_S = 10.0


class ServerRunning(RuntimeError):
    """Another ``dp serve`` already answers on this DP_HOME's socket."""


class _Events(VideoProgress):
    """Sends a request's progress to its client; a client that went away stops the request."""

    def __init__(self, channel: Channel):
        self.channel = channel

    def _send(self, message: dict) -> None:
        try:
            self.channel.send(message)
        except OSError:
            STOP.request("the client went away")

    def video_started(self, video, components):
        self._send({"event": "video_started", "video": video.partition_key, "components": components})

    def component_progress(self, video, component, done, total, unit):
        self._send({"event": "component_progress", "video": video.partition_key, "component": component, "done": done, "total": total, "unit": unit})

    def component_finished(self, video, component, status):
        self._send({"event": "component_finished", "video": video.partition_key, "component": component, "status": status})

    def video_finished(self, video, manifest, manifest_path, evicted=()):
        self._send({"event": "video_finished", **finished(manifest, manifest_path, evicted)})


def _watch(channel: Channel, answered: threading.Event) -> None:
    """Stop the request when its client asks (Ctrl-C) or disappears, until it was answered."""
    reason = "the client went away"
    try:
        while True:
            message = channel.receive()
            if message is None:
                break
            if message.get("op") == "stop":
                reason = "interrupted (Ctrl-C)"
                break
    except (OSError, ValueError):
        pass
    if not answered.is_set():
        STOP.request(reason)


class ResidentServer:
    def __init__(self, settings: Settings, profile_name: str, warm_up: bool = True):
        from dp_assets.workers.worker import code_fingerprint

        self.settings = settings
        self.profile_name = profile_name
        self.warm_up = warm_up
        self.path = socket_path(settings)
        self.digests = settings_digests(settings)
        self.code = code_fingerprint()
        self.stopping = False
        self.busy = False
        self._pending: queue.Queue[Channel] = queue.Queue()
        self._processors: dict = {}
        self._listener: socket.socket | None = None

    # -- start -----------------------------------------------------------------------------
    def _bind(self) -> socket.socket:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink(missing_ok=True)  # left by a server that died
            else:
                probe.close()
                raise ServerRunning(f"dp serve already runs for DP_HOME {self.settings.home} (socket {self.path})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old_umask = os.umask(0o077)  # the socket computes as its owner: nobody else may connect
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old_umask)
        listener.listen(16)
        return listener

    def _prepare(self) -> str:
        from dp_assets.preload import prepare_components
        from dp_assets.profiles import load_profile
        from dp_assets.workers.worker import open_instance_storages, warm_up
        from dp_resources.gpu import gpu_from_env

        runtime = gpu_from_env().runtime()
        profile = load_profile(self.profile_name, runtime=runtime)
        loaded = prepare_components(profile.components.values(), runtime)
        # the instance opened, its partitions synced and its storages touched now, not in the
        # first request's time
        open_instance_storages(self._processor(profile)._instance())
        warm = warm_up(profile) if self.warm_up else 0.0
        return f"models: {', '.join(loaded) or 'none'}; warm-up pass {warm:.1f} s"

    def _processor(self, profile):
        from dp_assets.runner import Processor

        key = (profile.source, profile.granularity, profile.runtime, tuple((n, c.code_version) for n, c in profile.components.items()))
        if key not in self._processors:
            self._processors[key] = Processor(profile, dagster_log_level="CRITICAL")
        return self._processors[key]

    # -- the loop ----------------------------------------------------------------------------
    def serve(self, ready=None) -> int:
        """Serve until SIGINT or SIGTERM; ``ready`` is told the preparation's summary."""
        started = time.perf_counter()
        self._listener = self._bind()
        try:
            summary = self._prepare()
            (ready or print)(f"dp serve: ready in {time.perf_counter() - started:.1f} s on {self.path} ({summary})")
            threading.Thread(target=self._accept, name="dp-serve-accept", daemon=True).start()
            previous_term = signal.signal(signal.SIGTERM, lambda signo, frame: os.kill(os.getpid(), signal.SIGINT))
            try:
                with stop_after_current_component(announce=self._announce_stop):
                    while not self.stopping:
                        try:
                            channel = self._pending.get(timeout=0.5)
                        except queue.Empty:
                            continue
                        self._handle(channel)
            except KeyboardInterrupt:
                pass
            finally:
                signal.signal(signal.SIGTERM, previous_term)
        finally:
            self._close()
        return 0

    def _announce_stop(self) -> None:
        self.stopping = True
        STOP.reason = "dp serve was stopped (SIGINT or SIGTERM)"  # what its client is told
        state = "after the component it is computing" if self.busy else "now"
        print(f"dp serve: stopping {state} (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    def _accept(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed: the server stops
            # A connection that sends no request in time (not a dp client) is dropped, not waited for.
            conn.settimeout(_REQUEST_TIMEOUT_S)
            channel = Channel(conn)
            if self.busy or not self._pending.empty():
                try:
                    channel.send({"event": "queued", "pid": os.getpid(), "ahead": self._pending.qsize() + int(self.busy)})
                except OSError:
                    channel.close()
                    continue
            self._pending.put(channel)

    def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self.path.unlink(missing_ok=True)
        while not self._pending.empty():
            channel = self._pending.get()
            try:
                channel.send({"event": "refused", "reason": "dp serve is stopping"})
            except OSError:
                pass
            channel.close()

    def _refusal(self, request: dict) -> str | None:
        from dp_assets.workers.worker import code_fingerprint

        if self.stopping:
            return "dp serve is stopping"
        if request.get("op") != "process":
            return f"unknown request {request.get('op')!r}"
        names = differing(request.get("settings") or {}, self.digests)
        if names:
            return f"dp serve (pid {os.getpid()}) runs with other settings ({', '.join(names)}); restart it with this environment"
        if code_fingerprint() != self.code:
            self.stopping = True  # its code is stale: finish, and let the user start it again
            return f"dp serve (pid {os.getpid()}) runs code older than this checkout and stops; start it again"
        return None

    def _handle(self, channel: Channel) -> None:
        from dp_assets.profiles import ProfileError, load_profile
        from dp_resources.gpu import gpu_from_env
        from dp_resources.models import MODELS

        answered = threading.Event()  # set before the channel closes: the watcher then stops nothing
        try:
            request = channel.receive()
            if request is None:
                return
            channel.sock.settimeout(None)  # the request computes as long as it takes
            refusal = self._refusal(request)
            if refusal is not None:
                channel.send({"event": "refused", "reason": refusal})
                return
            try:
                profile = load_profile(request["profile"], runtime=gpu_from_env().runtime())
                requests = [(Path(path), VideoKey(platform, video)) for path, platform, video in request["requests"]]
            except (ProfileError, RuntimeError, ValueError) as exc:  # InvalidIdError is a ValueError
                channel.send({"event": "error", "message": str(exc)})
                return
            except (KeyError, TypeError) as exc:
                channel.send({"event": "error", "message": f"dp serve: malformed request ({type(exc).__name__}: {exc})"})
                return
            channel.send({"event": "accepted", "pid": os.getpid()})
            log.info("computing %d video(s) with profile %s", len(requests), profile.name)
            STOP.clear()
            self.busy = True
            threading.Thread(target=_watch, args=(channel, answered), name="dp-serve-watch", daemon=True).start()
            try:
                outcomes = self._processor(profile).process(requests, progress=_Events(channel))
            except Exception as exc:  # noqa: BLE001 - the client says it; the server goes on
                log.exception("request failed")
                channel.send({"event": "error", "message": f"dp serve: {type(exc).__name__}: {exc}"})
                return
            finally:
                self.busy = False
            channel.send(
                {
                    "event": "done",
                    "stopped": STOP.reason,
                    "outcomes": [
                        {"run_id": o.run_id, "served_from_cache": o.served_from_cache, **finished(o.manifest, o.manifest_path, o.evicted)}
                        for o in outcomes
                    ],
                    "model_loads": {name: count for (name, _, _), count in MODELS.loads.items()},
                }
            )
        except (OSError, ValueError):  # gone, silent past the timeout, or not speaking the protocol
            log.info("a client went away before its answer")
        finally:
            answered.set()
            if not self.stopping:
                STOP.clear()  # a stop asked by this client ends with its request
            channel.close()
