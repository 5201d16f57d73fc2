"""Run ``video_probe`` -> ``frames`` -> one visual component directly (no Dagster) on a real clip.

The component goes through ``execution.run_component``, the same wrapper the Dagster assets use,
so empty inputs propagate and the output is held to the declared schema as in a real run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dp_assets.components.core import video_probe
from dp_assets.components.visual import frames
from dp_assets.contract import ComponentContext, ComponentResult, ComponentSpec, FrameRequest, SamplingPolicy, Status
from dp_assets.execution import run_component
from dp_assets.media.frames_store import read_frames

# A small profile: 1 fps, at most 60 frames, 320 px on the long side keeps every clip in the
# test media under a second of decoding while still giving several frames per clip.
TEST_SAMPLING = SamplingPolicy(version="test-1", fps=1.0, max_frames=60, max_side=320)


@dataclass
class Chain:
    ctx: ComponentContext
    probe: ComponentResult
    frames: ComponentResult
    result: ComponentResult


def make_context(video: Path, root: Path, name: str, sampling: SamplingPolicy = TEST_SAMPLING) -> ComponentContext:
    work_dir = root / "work" / name
    work_dir.mkdir(parents=True, exist_ok=True)
    return ComponentContext(
        video_path=Path(video),
        video_id=Path(video).stem,
        platform_id="test",
        work_dir=work_dir,
        frames_dir=root / "frames",
        sampling=sampling,
    )


def frames_config(*requests: FrameRequest) -> frames.FramesConfig:
    return frames.FramesConfig(
        requests=tuple(frames.FrameRequestModel(fps=r.fps, max_side=r.max_side, max_frames=r.max_frames) for r in requests)
    )


def run_frames(video: Path, root: Path, *requests: FrameRequest, sampling: SamplingPolicy = TEST_SAMPLING):
    """``video_probe`` then ``frames`` for ``requests``; returns (ctx, probe, frames)."""
    ctx = make_context(video, root, "frames", sampling)
    probe = video_probe.compute(ctx, video_probe.VideoProbeConfig(), {})
    result = frames.compute(ctx, frames_config(*requests), {"video_probe": probe})
    return ctx, probe, result


def run_chain(
    video: Path, root: Path, spec: ComponentSpec, config: Any = None, sampling: SamplingPolicy = TEST_SAMPLING
) -> Chain:
    """The component ``spec`` on ``video``, with ``frames`` decoding exactly what it requests."""
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
