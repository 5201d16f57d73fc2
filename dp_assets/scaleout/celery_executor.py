"""``dagster-celery``'s executor, watching its broker: a run whose broker goes away fails naming it.

The orchestrating side is dagster-celery's own loop (``core_celery_execution_loop``: submit each
ready step to its queue, poll results once a second). Step results come back through the broker
(``rpc://``, the default backend), so when the broker restarts, the result of a step in flight can
be lost and the loop would wait for it forever. This executor keeps one connection of its own to
the broker and fails the run, naming the broker, as soon as that connection drops or the broker
cannot be reached; the steps that finished stay materialized (their artifacts are cache hits when
the run is executed again). It also warns once per queue when no worker consumes it, since its
steps would wait until one does.
"""

from __future__ import annotations

import socket

import dagster as dg
from dagster._core.execution.retries import RetryMode
from dagster_celery.executor import CELERY_CONFIG as CELERY_EXECUTOR_SCHEMA
from dagster_celery import core_execution_loop
from dagster_celery.executor import CeleryExecutor, _submit_task
from kombu import Connection
from kombu.exceptions import OperationalError

from dp_assets.scaleout.config import redacted

AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
# Connection attempts when the run starts talking to its broker (dagster-celery's own publishing
# retries about a second): a broker that is down is reported within seconds, not minutes.
CONNECT_RETRIES = 3
# dagster-celery's loop sleeps TICK_SECONDS (1 s) between two looks at the results, so each step
# waited half a second on average before the next was submitted, more than many stages compute
# (measured, bench/bench_scaleout.py). A look is one cheap poll of the reply queue per step in
# flight; this process only orchestrates.
core_execution_loop.TICK_SECONDS = 0.1


class BrokerLostError(Exception):
    """The run's Celery broker went away or could not be reached."""


class BrokerWatch:
    """One connection to the run's broker; ``check`` raises :class:`BrokerLostError` once it dropped."""

    def __init__(self, url: str):
        self.url = url
        self.watching = url.split(":", 1)[0] in AMQP_SCHEMES
        self._connection: Connection | None = None
        self._queues_seen: set[str] = set()

    def lost(self, cause: BaseException) -> BrokerLostError:
        return BrokerLostError(
            f"the Celery broker {redacted(self.url)} is unreachable or restarted ({type(cause).__name__}: {cause}); step results "
            "travel through it, so this run stops here. Steps that finished are kept and are cache hits when the run is executed again."
        )

    def _connected(self) -> Connection:
        if self._connection is None:
            connection = Connection(self.url, connect_timeout=5)
            try:
                connection.ensure_connection(max_retries=CONNECT_RETRIES)
            except Exception as exc:
                raise self.lost(exc) from None
            self._connection = connection
        return self._connection

    def check(self) -> None:
        if not self.watching:
            return
        connection = self._connected()
        try:
            # Nothing is consumed on this connection: reading times out, unless the broker closed it.
            connection.drain_events(timeout=0.01)
        except socket.timeout:
            return
        except Exception as exc:
            raise self.lost(exc) from None

    def warn_if_unserved(self, queue: str, log) -> None:
        if not self.watching or queue in self._queues_seen:
            return
        self._queues_seen.add(queue)
        channel = self._connected().channel()
        try:
            _, _, consumers = channel.queue_declare(queue=queue, passive=True)
        except Exception:  # the queue does not exist yet (the broker closes the channel): nobody consumes it
            consumers = 0
        finally:
            try:
                channel.close()
            except Exception:
                pass
        if not consumers:
            log.warning(
                f"no Celery worker consumes queue {queue!r} on {redacted(self.url)} yet: its steps wait until one does "
                f"(dp worker --queues {queue})"
            )

    def submit(self, app, plan_context, step, queue, priority, known_state):
        self.check()
        self.warn_if_unserved(queue, plan_context.log)
        return _WatchedResult(_submit_task(app, plan_context, step, queue, priority, known_state), self)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.release()


class _WatchedResult:
    """A step's ``AsyncResult``, asked only while the broker connection is known to be alive."""

    def __init__(self, result, watch: BrokerWatch):
        self.result, self.watch = result, watch

    def ready(self) -> bool:
        self.watch.check()
        return self.result.ready()

    def get(self):
        return self.result.get()

    def revoke(self):
        return self.result.revoke()


class WatchingCeleryExecutor(CeleryExecutor):
    def execute(self, plan_context, execution_plan):
        from dagster_celery.core_execution_loop import core_celery_execution_loop

        watch = BrokerWatch(self.broker)
        try:
            yield from core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=watch.submit)
        except BrokerLostError:
            raise
        except (OperationalError, ConnectionError, OSError) as exc:
            # publishing a task, or fetching a result, on a broker that is down
            raise watch.lost(exc) from None
        finally:
            watch.close()


@dg.executor(name="celery", config_schema=CELERY_EXECUTOR_SCHEMA, requirements=dg.multiple_process_executor_requirements())
def dataprocessor_celery_executor(init_context):
    """dagster-celery's executor (same configuration) that fails the run naming its broker when the broker goes away."""
    config = init_context.executor_config
    return WatchingCeleryExecutor(
        broker=config.get("broker"),
        backend=config.get("backend"),
        config_source=config.get("config_source"),
        include=config.get("include"),
        retries=RetryMode.from_config(config["retries"]),
    )
