"""The executor of a run, chosen by ``DP_EXECUTOR``: in-process (the default), or Celery.

In Celery mode the run's process (a warm run worker of the daemon, or any process executing the
run) only orchestrates: it submits each step as a task of ``dagster-celery`` to the step's queue
(``dp_assets.scaleout.queues``) and follows the results, while ``dp worker`` processes execute
the steps. A profile that processes a whole video in one step is split into its stages there (one
video per run), so each stage is a task and visual and audio go to workers in parallel. Celery is
imported only when this mode is chosen.
"""

from __future__ import annotations

import dataclasses
import os

import dagster as dg

from dp_assets.profiles import Profile
from dp_assets.scaleout.config import CELERY_CONFIG, backend_url, broker_url, check_shared_state
from dp_resources.settings import Settings

# The granularity a whole-video profile takes in Celery mode: one task per stage of a video.
DISTRIBUTED_GRANULARITY = "stage"


def for_executor(profile: Profile, executor: str) -> Profile:
    """The profile as ``executor`` executes it: Celery splits a whole-video step into stages (a
    profile that already chose ``stage`` or ``component`` keeps its choice)."""
    if executor == "celery" and profile.granularity == "video":
        return dataclasses.replace(profile, granularity=DISTRIBUTED_GRANULARITY)
    return profile


def _source(variable: str, value: str) -> str | dict:
    # Read from the environment of the process executing the run when it is set there, so a
    # secret never becomes part of a definition; the built-in default otherwise.
    return {"env": variable} if os.environ.get(variable) else value


def executor_definition(executor: str, settings: Settings) -> dg.ExecutorDefinition:
    """The Dagster executor of ``executor`` (``in_process`` or ``celery``)."""
    if executor == "in_process":
        # One process per run: a step in its own process costs ~1.4 s and re-imports the models
        # (measured), more than most components; stages already group the work.
        return dg.in_process_executor
    check_shared_state(settings)
    from dp_assets.scaleout.celery_executor import dataprocessor_celery_executor

    config = {
        "broker": _source(Settings.variable("celery_broker_url"), broker_url(settings)),
        "backend": _source(Settings.variable("celery_backend_url"), backend_url(settings)),
        "config_source": dict(CELERY_CONFIG),
    }
    return dataprocessor_celery_executor.configured(config, name="celery")
