"""Runs one component's compute with the contract's rules, independent of Dagster.

The factory's assets, the direct runner used by benchmarks, and tests all go through
:func:`run_component`, so empty propagation, error capture and output validation behave the same
everywhere.
"""

from __future__ import annotations

import errno
import math
import traceback
from dataclasses import replace
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from dp_assets.contract import EMPTY_DETAIL, FRAMES_COMPONENT, ComponentContext, ComponentResult, ComponentSpec, Status
from dp_assets.media.container import MediaError
from dp_assets.media.frames_store import read_frames
from dp_assets.observability import ComponentMetrics, Measurement


def _upstream_verdict(spec: ComponentSpec, inputs: Mapping[str, ComponentResult]) -> ComponentResult | None:
    """An empty or failed input means this component has nothing to work on, unless it says it
    takes such inputs itself (see ``ComponentSpec.accepts_empty_inputs`` / ``tolerates_failed_inputs``)."""
    for name in spec.upstream:
        upstream = inputs[name]
        if upstream.status is Status.EMPTY and not spec.accepts_empty_inputs:
            detail = upstream.summary.get(EMPTY_DETAIL)
            return ComponentResult.empty(
                upstream.empty_reason or "", f"upstream {name} is empty" + (f": {detail}" if detail else "")
            )
        if upstream.status is Status.ERROR and not spec.tolerates_failed_inputs:
            return ComponentResult.failed(f"upstream {name} failed: {upstream.error}")
    return None


def _with_frames(spec: ComponentSpec, ctx: ComponentContext, config: Any, inputs: Mapping[str, ComponentResult]) -> ComponentContext:
    """Hand a visual component the frames of the request it declared (memory-mapped, read-only)."""
    if spec.frame_request is None or inputs.get(FRAMES_COMPONENT) is None or inputs[FRAMES_COMPONENT].status is not Status.OK:
        return ctx
    return replace(ctx, frames=read_frames(inputs[FRAMES_COMPONENT], spec.frame_request(config, ctx.sampling)))


def plain(value: Any) -> Any:
    """JSON-safe Python values: numpy scalars unwrapped, NaN/inf as None (never a fake number)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _conform(spec: ComponentSpec, result: ComponentResult) -> ComponentResult:
    """Hold the output to the declared schema; a mismatch is a bug in the component, not data."""
    result.summary = plain(result.summary)
    undeclared = sorted(set(result.summary) - set(spec.summary_keys) - {EMPTY_DETAIL})
    if undeclared:
        return ComponentResult.failed(
            f"{spec.name} returned summary keys it does not declare in SPEC.summary_keys: {', '.join(undeclared)}"
        )
    if result.table is None or result.table.schema.equals(spec.output_schema):
        return result
    try:
        result.table = result.table.select(spec.output_schema.names).cast(spec.output_schema)
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        return ComponentResult.failed(f"{spec.name} produced a table that does not match its output schema: {exc}")
    return result


def is_out_of_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def no_space_message(component: str, video: str, exc: BaseException) -> str | None:
    """The one line a full disk deserves, naming what was being written; None for other errors."""
    if not is_out_of_space(exc):
        return None
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return f"no space left on device while writing {component} for {video}{where}"


def run_component(
    spec: ComponentSpec, ctx: ComponentContext, config: Any, inputs: Mapping[str, ComponentResult], observe: bool = True
) -> tuple[ComponentResult, ComponentMetrics]:
    """Run one component; ``observe=False`` skips memory sampling (for measuring its overhead)."""
    with Measurement(observe) as measurement:
        result = _upstream_verdict(spec, inputs)
        if result is None:
            try:
                result = _conform(spec, spec.compute(_with_frames(spec, ctx, config, inputs), config, inputs))
            except MediaError as exc:
                result = ComponentResult.failed(f"cannot decode {exc}")
            except OSError as exc:
                result = ComponentResult.failed(
                    no_space_message(spec.name, f"{ctx.platform_id}/{ctx.video_id}", exc) or f"{type(exc).__name__}: {exc}"
                )
                if not is_out_of_space(exc):
                    ctx.log.error("component %s raised:\n%s", spec.name, traceback.format_exc(limit=6))
            except Exception as exc:  # a component bug must surface as this component's error, with its cause
                tb = traceback.format_exc(limit=6)
                ctx.log.error("component %s raised:\n%s", spec.name, tb)
                result = ComponentResult.failed(f"{type(exc).__name__}: {exc}")
    return result, measurement.metrics
