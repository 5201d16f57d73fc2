"""``WorkerRunCoordinator``: Dagster's run queue, with as many runs in flight as there are workers.

A run beyond ``DP_WORKERS`` stays QUEUED (not started, holding nothing) until one finishes;
``max_concurrent_runs`` in ``dagster.yaml`` overrides the setting. Configured in ``dagster.yaml``::

    run_coordinator:
      module: dp_assets.workers.coordinator
      class: WorkerRunCoordinator
      config: {dequeue_interval_seconds: 1}
"""

from __future__ import annotations

from typing import Any

from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator, RunQueueConfig

from dp_assets.workers.launcher import in_daemon_process, resolve_workers


class WorkerRunCoordinator(QueuedRunCoordinator):
    def __init__(self, max_concurrent_runs: int | None = None, **kwargs: Any):
        # Unset: as many as DP_WORKERS says, read when the queue is served (the setting may change).
        self._from_workers = max_concurrent_runs is None
        self._warmed = False
        super().__init__(max_concurrent_runs=max_concurrent_runs, **kwargs)

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
