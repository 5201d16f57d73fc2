"""Which Celery queue a step goes to: ``gpu`` when one of its components uses the GPU, else ``cpu``.

The queue is the op tag ``dagster-celery/queue`` that ``dagster-celery`` reads when it submits a
step (``dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG``; spelled out here so that building the
assets never imports Celery). A worker's ``gpu`` queue runs ``gpu_max_concurrent`` tasks at once,
so the limit holds on every machine whatever the number of runs; the in-process executor ignores
the tag.
"""

from __future__ import annotations

from typing import Iterable

QUEUE_TAG = "dagster-celery/queue"
CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"
QUEUES = (CPU_QUEUE, GPU_QUEUE)


def queue_for(components: Iterable) -> str:
    """The queue of a step holding ``components`` (resolved components of a profile)."""
    return GPU_QUEUE if any(c.uses_gpu for c in components) else CPU_QUEUE


def step_tags(components: Iterable) -> dict[str, str]:
    """The op tags of a step holding ``components``."""
    return {QUEUE_TAG: queue_for(components)}
