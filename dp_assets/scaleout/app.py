"""The Celery app of ``dp worker`` (``celery -A dp_assets.scaleout.app worker``): the step task.

The task is dagster-celery's ``execute_plan`` (same name and arguments, so the executor's
submissions reach it), executed in a prefork child of the worker. Children are never recycled,
so what a child loads stays: the code location, the Dagster instance, and the models
(``dp_resources.models.MODELS``, one copy per child). Each child loads, as it starts, the models
of every component that the steps of its queues hold, so even its first step finds them loaded.
On top of dagster-celery's task:

- acknowledged late and rejected when its process dies (``config.CELERY_CONFIG``), so a step
  whose worker is killed is delivered again; a step delivered ``MAX_DELIVERIES`` times fails
  instead of killing worker after worker;
- its engine event names the Celery task id, queue, worker, process and delivery, so the event
  log says where every step ran;
- a step of a run that already ended (a redelivery after the run failed) is not executed, and a
  worker whose profile is not the run's refuses the step with the reason.
"""

from __future__ import annotations

import logging
import os
import time

from celery import Celery, signals
from dagster import DagsterInstance
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.events import DagsterEventType, EngineEventData
from dagster._core.execution.api import create_execution_plan, execute_plan_iterator
from dagster._grpc.types import ExecuteStepArgs
from dagster._serdes import serialize_value, unpack_value
from dagster_celery.config import TASK_EXECUTE_PLAN_NAME
from dagster_celery.core_execution_loop import DELEGATE_MARKER
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app

from dp_assets import run_tags
from dp_assets.scaleout.config import CELERY_CONFIG, backend_url, broker_url
from dp_resources.settings import current_settings

log = logging.getLogger("dataprocessor.celery")

# How often one step may be delivered: a step whose worker dies every time (say, out of memory)
# fails the run after this many tries instead of taking down every worker in turn.
MAX_DELIVERIES = 3
TASK_ID_KEY = "celery_task_id"

_instances: dict[str, DagsterInstance] = {}
_tasks_done = 0


def make_worker_app() -> Celery:
    """dagster-celery's app, configured from this machine's settings like the executor is."""
    settings = current_settings()
    executor = CeleryExecutor.for_cli(broker=broker_url(settings), backend=backend_url(settings), config_source=dict(CELERY_CONFIG))
    return make_app(executor.app_args())


def _instance(instance_ref) -> DagsterInstance:
    # One instance per process: opening one checks the storage schema (tens of ms per task).
    key = serialize_value(instance_ref)
    if key not in _instances:
        _instances[key] = DagsterInstance.from_ref(instance_ref)
    return _instances[key]


def _earlier_deliveries(instance: DagsterInstance, run_id: str, step_key: str, task_id: str) -> int:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    count = 0
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.step_key == step_key:
            metadata = event.engine_event_data.metadata or {}
            value = metadata.get(TASK_ID_KEY)
            count += value is not None and getattr(value, "value", value) == task_id
    return count


app = make_worker_app()


def preload_models(queues: set[str]) -> list[str]:
    """Load the models of every component in the steps that go to ``queues`` (this process's)."""
    from dp_assets.preload import prepare_components
    from dp_assets.profiles import load_profile
    from dp_assets.scaleout.executor import for_executor
    from dp_assets.scaleout.queues import queue_for
    from dp_assets.stages import plan_stages
    from dp_resources.gpu import gpu_from_env

    runtime = gpu_from_env().runtime()
    profile = for_executor(load_profile(current_settings().profile, runtime=runtime), "celery")
    mine = [component for stage in plan_stages(profile, profile.granularity) if queue_for(stage) in queues for component in stage]
    return prepare_components(mine, runtime)


@signals.worker_process_init.connect
def _warm_up(**kwargs):
    started = time.perf_counter()
    queues = set(app.amqp.queues.consume_from or ())
    try:
        import dp_assets.definitions

        # Build the code location once: the first step rebuilds it for its own job, but finds every
        # import done and every weight hashed.
        dp_assets.definitions.defs.load_fn()
        loaded = preload_models(queues)
    except Exception:  # the step that needs the model reports why it cannot load
        log.exception("could not load the models for queues %s before the first task", ", ".join(sorted(queues)))
        return
    log.info("process ready in %.1f s for queues %s (models: %s)", time.perf_counter() - started, ", ".join(sorted(queues)), ", ".join(loaded) or "none")


@signals.after_setup_logger.connect
def _quiet_task_results(**kwargs):
    # Celery logs every task's return value (here: all the step's serialized events) on success;
    # the step task logs one line of its own instead.
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)


@app.task(bind=True, name=TASK_EXECUTE_PLAN_NAME, acks_late=True, reject_on_worker_lost=True)
def execute_plan(self, execute_step_args_packed, executable_dict):
    global _tasks_done
    started, started_cpu = time.perf_counter(), time.process_time()
    args = unpack_value(execute_step_args_packed, as_type=ExecuteStepArgs)
    instance = _instance(args.instance_ref)
    recon_job = ReconstructableJob.from_dict(executable_dict)
    run = instance.get_run_by_id(args.run_id)
    if run is None:
        raise RuntimeError(f"run {args.run_id} is not in the Dagster instance this worker reaches")
    step_keys = list(args.step_keys_to_execute or [])
    step_key = step_keys[0] if len(step_keys) == 1 else None
    delivery = self.request.delivery_info or {}
    if run.is_finished:
        # Delivered again after the run ended (its broker restarted, or it was terminated).
        event = instance.report_engine_event(
            f"Not executing steps {', '.join(step_keys)}: the run ended ({run.status.value}) before this task was delivered again",
            run,
            EngineEventData({TASK_ID_KEY: self.request.id}, marker_end=DELEGATE_MARKER),
            CeleryExecutor,
            step_key=step_key,
        )
        return [serialize_value(event)]
    earlier = _earlier_deliveries(instance, run.run_id, step_key, self.request.id) if step_key else 0
    if earlier >= MAX_DELIVERIES:
        raise RuntimeError(
            f"step {step_key} was delivered {earlier} times and each time its worker process died before it finished "
            "(out of memory, or killed); not trying again"
        )
    job_profile = recon_job.get_definition().tags.get(run_tags.PROFILE)
    run_profile = run.tags.get(run_tags.PROFILE)
    if run_profile and job_profile != run_profile:
        raise RuntimeError(
            f"this worker serves profile {job_profile!r} but run {run.run_id} is of profile {run_profile!r}: "
            "start dp worker with the settings of the daemon (DP_PROFILE)"
        )
    execution_plan = create_execution_plan(recon_job, run.run_config, step_keys_to_execute=step_keys, known_state=args.known_state)
    queue = delivery.get("routing_key") or ""
    engine_event = instance.report_engine_event(
        f"Executing steps {', '.join(step_keys)} in celery worker {self.request.hostname} "
        f"(task {self.request.id}, queue {queue}, delivery {earlier + 1})",
        run,
        EngineEventData(
            {
                "step_keys": ", ".join(step_keys),
                "Celery worker": self.request.hostname,
                TASK_ID_KEY: self.request.id,
                "celery_queue": queue,
                "pid": os.getpid(),
                "delivery": earlier + 1,
                "tasks_before_in_this_process": _tasks_done,
            },
            marker_end=DELEGATE_MARKER,
        ),
        CeleryExecutor,
        step_key=execution_plan.step_handle_for_single_step_plans().to_key(),
    )
    events = [engine_event]
    for event in execute_plan_iterator(
        execution_plan=execution_plan,
        job=recon_job,
        dagster_run=run,
        instance=instance,
        retry_mode=args.retry_mode,
        run_config=run.run_config,
    ):
        events.append(event)
    _tasks_done += 1
    log.info(
        "step %s of run %s done in %.2f s, %.2f s of CPU (task %d of this process)",
        ", ".join(step_keys),
        run.run_id,
        time.perf_counter() - started,
        time.process_time() - started_cpu,
        _tasks_done,
    )
    return [serialize_value(event) for event in events]
