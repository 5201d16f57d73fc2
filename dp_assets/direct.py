"""Runs a profile's components in order as plain function calls, without Dagster.

The reference the benchmarks compare the Dagster run against, and a quick way to debug one
component on one file from a Python shell.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dp_assets.contract import CPU, ComponentContext, ComponentResult
from dp_assets.execution import run_component
from dp_assets.observability import ComponentMetrics
from dp_assets.profiles import Profile


def run_profile_direct(
    profile: Profile,
    video_path: Path,
    out_dir: Path,
    video_id: str = "direct",
    platform_id: str = "direct",
    observe: bool = True,
) -> dict[str, tuple[ComponentResult, ComponentMetrics]]:
    results: dict[str, tuple[ComponentResult, ComponentMetrics]] = {}
    for name, component in profile.components.items():
        work_dir = out_dir / name
        work_dir.mkdir(parents=True, exist_ok=True)
        ctx = ComponentContext(
            video_path=Path(video_path),
            video_id=video_id,
            platform_id=platform_id,
            work_dir=work_dir,
            frames_dir=out_dir / "frames_dir",
            sampling=profile.sampling,
            log=logging.getLogger(f"dataprocessor.{name}"),
            runtime=profile.runtime if component.uses_gpu else CPU,
        )
        inputs = {up: results[up][0] for up in component.spec.upstream}
        results[name] = run_component(component.spec, ctx, component.config, inputs, observe=observe)
    return results
