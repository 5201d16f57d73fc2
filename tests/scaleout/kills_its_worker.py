"""Test-only component that kills the process computing it for the video ``doomed`` (as running out
of memory would), and does nothing for any other video. Named in ``celery_profile.yaml``."""

import os
import signal

import pyarrow as pa

from dp_assets.contract import ComponentResult
from tests.fixtures.flaky_components import fixture_spec

DOOMED = "doomed"


def _compute(ctx, config, inputs):
    if ctx.video_id == DOOMED:
        os.kill(os.getpid(), signal.SIGKILL)
    return ComponentResult.ok(pa.table({"value": [1]}))


SPEC = fixture_spec("kills_its_worker", _compute)
