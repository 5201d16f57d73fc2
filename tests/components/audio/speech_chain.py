"""Run ``video_probe`` -> ``audio_waveform`` -> ``voice_activity`` -> ``transcript`` without Dagster.

The speech components go through ``execution.run_component``, as the factory runs them, so an
empty ``voice_activity`` is passed on to ``transcript`` exactly as in a pipeline run, outputs are
held to their schemas, and each step's wall time is measured.
"""

from __future__ import annotations

from pathlib import Path

from dp_assets.components.audio import transcript, voice_activity
from dp_assets.contract import ComponentContext, ComponentResult, SamplingPolicy, Status
from dp_assets.execution import ComponentMetrics, run_component
from dp_assets.contract import CPU, Runtime

from .helpers import run_chain

SPEECH = (voice_activity, transcript)


def context(path: Path, root: Path, name: str, runtime: Runtime = CPU) -> ComponentContext:
    work_dir = root / name
    work_dir.mkdir(parents=True, exist_ok=True)
    return ComponentContext(
        video_path=Path(path),
        video_id="test",
        platform_id="test",
        work_dir=work_dir,
        frames_dir=root / "frames",
        sampling=SamplingPolicy("test", 1.0, 300, 1280),
        runtime=runtime,
    )


def speech_chain(
    path: Path, root: Path, upto: str = "transcript", runtime: Runtime = CPU, configs: dict | None = None
) -> tuple[dict[str, ComponentResult], dict[str, ComponentMetrics]]:
    """Results and metrics by component name; stops when ``audio_waveform`` is not ok."""
    configs = configs or {}
    results = run_chain(path, root, upto="audio_waveform")
    metrics: dict[str, ComponentMetrics] = {}
    if results["audio_waveform"].status != Status.OK:
        return results, metrics
    for module in SPEECH:
        spec = module.SPEC
        config = spec.config_model(**configs.get(spec.name, {}))
        inputs = {name: results[name] for name in spec.upstream}
        results[spec.name], metrics[spec.name] = run_component(spec, context(path, root, spec.name, runtime), config, inputs)
        if spec.name == upto:
            break
    return results, metrics
