"""The one test harness for components: real clips through chains of real components, no Dagster.

Every component runs through ``execution.run_component``, the wrapper the Dagster assets use, so
empty inputs propagate, visual components get their frames in ``ctx.frames``, and outputs are
held to their schema and declared summary keys exactly as in a real run.

- ``run_upto(path, root, "loudness")``: the component and everything upstream of it, in
  dependency order; an empty or failed result is passed on as in a real run.
- ``run_chain(path, root, SPEC)``: ``video_probe`` -> ``frames`` (decoding exactly the
  component's frame request) -> one visual component; keeps the context for further calls.
- ``run_frames`` / ``make_context`` for tests of the decode itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from dp_assets.components.core import video_probe
from dp_assets.components.visual import frames
from dp_assets.contract import CPU, ComponentContext, ComponentResult, ComponentSpec, FrameRequest, Runtime, SamplingPolicy, Status
from dp_assets.execution import run_component
from dp_assets.media.frames_store import read_frames
from dp_assets.observability import ComponentMetrics
from dp_assets.registry import builtin_specs

# A small profile: 1 fps, at most 60 frames, 320 px on the long side keeps every clip in the
# test media under a second of decoding while still giving several frames per clip.
TEST_SAMPLING = SamplingPolicy(version="test-1", fps=1.0, max_frames=60, max_side=320)


def make_context(
    video: Path, root: Path, name: str, sampling: SamplingPolicy = TEST_SAMPLING, runtime: Runtime = CPU
) -> ComponentContext:
    work_dir = root / name
    work_dir.mkdir(parents=True, exist_ok=True)
    return ComponentContext(
        video_path=Path(video),
        video_id=Path(video).stem,
        platform_id="test",
        work_dir=work_dir,
        frames_dir=root / "frames_dir",
        sampling=sampling,
        runtime=runtime,
    )


def _chain_to(name: str) -> list[str]:
    specs = builtin_specs()
    graph: dict[str, set[str]] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current not in graph:
            graph[current] = set(specs[current].upstream)
            todo += specs[current].upstream
    return list(TopologicalSorter(graph).static_order())


def run_upto(
    path: Path,
    root: Path,
    upto: str,
    configs: dict[str, dict[str, Any]] | None = None,
    runtime: Runtime = CPU,
    sampling: SamplingPolicy = TEST_SAMPLING,
) -> tuple[dict[str, ComponentResult], dict[str, ComponentMetrics]]:
    """Results and metrics by component name for ``upto`` and its upstream (not visual chains:
    ``frames`` needs the requests of its consumers, see ``run_chain``)."""
    configs = configs or {}
    specs = builtin_specs()
    results: dict[str, ComponentResult] = {}
    metrics: dict[str, ComponentMetrics] = {}
    for name in _chain_to(upto):
        spec = specs[name]
        config = spec.config_model(**configs.get(name, {}))
        ctx = make_context(path, root, name, sampling, runtime if spec.uses_gpu else CPU)
        results[name], metrics[name] = run_component(spec, ctx, config, {up: results[up] for up in spec.upstream})
    return results, metrics


@dataclass
class Chain:
    ctx: ComponentContext
    probe: ComponentResult
    frames: ComponentResult
    result: ComponentResult


def frames_config(*requests: FrameRequest) -> frames.FramesConfig:
    return frames.FramesConfig(
        requests=tuple(frames.FrameRequestModel(fps=r.fps, max_side=r.max_side, max_frames=r.max_frames) for r in requests)
    )


def run_frames(video: Path, root: Path, *requests: FrameRequest, sampling: SamplingPolicy = TEST_SAMPLING):
    """``video_probe`` then ``frames`` for ``requests``; returns (ctx, probe, frames)."""
    ctx = make_context(video, root, "frames", sampling)
    probe, _ = run_component(video_probe.SPEC, make_context(video, root, "video_probe", sampling), video_probe.VideoProbeConfig(), {})
    result, _ = run_component(frames.SPEC, ctx, frames_config(*requests), {"video_probe": probe})
    return ctx, probe, result


def run_chain(
    video: Path, root: Path, spec: ComponentSpec, config: Any = None, sampling: SamplingPolicy = TEST_SAMPLING
) -> Chain:
    """The visual component ``spec`` on ``video``, with ``frames`` decoding exactly what it requests."""
    config = spec.config_model() if config is None else config
    request = spec.frame_request(config, sampling)
    _, probe, frames_result = run_frames(video, root, request, sampling=sampling)
    # The context as run_component hands it to compute, so a test may call compute again on it.
    frames_set = read_frames(frames_result, request) if frames_result.status is Status.OK else None
    ctx = replace(make_context(video, root, spec.name, sampling), frames=frames_set)
    result, _ = run_component(spec, ctx, config, {"frames": frames_result})
    # run_component turns a raised exception into an error result; surface it as the failure.
    assert result.error is None, result.error
    return Chain(ctx=ctx, probe=probe, frames=frames_result, result=result)
