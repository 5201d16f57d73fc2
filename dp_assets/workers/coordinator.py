"""``WorkerRunCoordinator``: Dagster's run queue, with as many runs in flight as there are workers.

A run beyond ``DP_WORKERS`` stays QUEUED (not started, holding nothing) until one finishes;
``max_concurrent_runs`` in ``dagster.yaml`` overrides the setting. Configured in ``dagster.yaml``::

    run_coordinator:
      module: dp_assets.workers.coordinator
      class: WorkerRunCoordinator
      config: {dequeue_interval_s: 0.5}

``dequeue_interval_s`` may be under a second, which Dagster's ``dequeue_interval_seconds`` (an
integer) cannot say: a queued run waited 0.5-1.5 s for the queue's next pass (0.82 s measured
from enqueued to starting), most of the run start of a short video. Dagster's daemon loop sleeps
in 0.5 s steps, so 0.5 is the shortest period it keeps.
"""

from __future__ import annotations

from typing import Any

from dagster import Field
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator, RunQueueConfig

from dp_assets.workers.launcher import in_daemon_process, resolve_workers


class WorkerRunCoordinator(QueuedRunCoordinator):
    def __init__(self, max_concurrent_runs: int | None = None, dequeue_interval_s: float | None = None, **kwargs: Any):
        # Unset: as many as DP_WORKERS says, read when the queue is served (the setting may change).
        self._from_workers = max_concurrent_runs is None
        self._warmed = False
        self._interval_s = dequeue_interval_s
        super().__init__(max_concurrent_runs=max_concurrent_runs, **kwargs)

    @classmethod
    def config_type(cls):
        return {
            **super().config_type(),
            "dequeue_interval_s": Field(
                float, is_required=False, description="Seconds between two passes over the queue; may be under 1 (overrides dequeue_interval_seconds)."
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        coordinator = super().from_config_value(inst_data, config_value)
        interval = config_value.get("dequeue_interval_s")
        if interval is not None and interval <= 0:
            raise ValueError(f"run_coordinator dequeue_interval_s must be above 0 seconds, got {interval}")
        coordinator._interval_s = interval
        return coordinator

    @property
    def dequeue_interval_seconds(self) -> float:  # ty: ignore[invalid-method-override]
        return self._interval_s if self._interval_s is not None else super().dequeue_interval_seconds

    def get_run_queue_config(self) -> RunQueueConfig:
        if not self._warmed and self.has_instance and in_daemon_process():
            # The daemon serves the queue from its start: building the run launcher now starts
            # the warm workers before the first run arrives.
            self._warmed = True
            self._instance.run_launcher  # noqa: B018
        config = super().get_run_queue_config()
        if self._from_workers:
            config = config._replace(max_concurrent_runs=resolve_workers())
        return config
