"""Our components on one file, as a real run calls them: ``video_probe`` -> ``frames`` -> one
visual component (through ``execution.run_component``), with wall times."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dp_assets.components.core import video_probe
from dp_assets.components.visual import frames
from dp_assets.contract import ComponentContext, ComponentResult, ComponentSpec, SamplingPolicy
from dp_assets.execution import run_component

# The baseline profile's sampling policy (profiles/baseline.yaml).
BASELINE_SAMPLING = SamplingPolicy(version="1", fps=1.0, max_frames=300, max_side=1280)


@dataclass
class Run:
    result: ComponentResult
    frames: ComponentResult
    frames_s: float  # wall seconds of the frames decode for this component's request alone
    compute_s: float  # wall seconds of the component itself
    duration_s: float
    compute_cpu_s: float = 0.0  # CPU seconds of the component (all threads)


def run_visual(video: Path, spec: ComponentSpec, config: Any, work: Path, sampling: SamplingPolicy = BASELINE_SAMPLING) -> Run:
    video, work = Path(video), Path(work)

    def ctx(name: str) -> ComponentContext:
        (work / name).mkdir(parents=True, exist_ok=True)
        return ComponentContext(video, video.stem, "eval", work / name, work / "frames_dir", sampling, logging.getLogger(f"eval.{name}"))

    probe, _ = run_component(video_probe.SPEC, ctx("video_probe"), video_probe.VideoProbeConfig(), {})
    request = spec.frame_request(config, sampling)
    frames_config = frames.FramesConfig(requests=(frames.FrameRequestModel(fps=request.fps, max_side=request.max_side, max_frames=request.max_frames),))
    frames_result, frames_metrics = run_component(frames.SPEC, ctx("frames"), frames_config, {"video_probe": probe})
    result, metrics = run_component(spec, ctx(spec.name), config, {"frames": frames_result})
    if result.error:
        raise RuntimeError(f"{spec.name} failed on {video.name}: {result.error}")
    return Run(result, frames_result, frames_metrics.wall_s, metrics.wall_s, probe.summary.get("duration_s") or 0.0, metrics.cpu_s)


def run_transcript(media: Path, config: Any, work: Path) -> tuple[ComponentResult, float]:
    """``video_probe`` -> ``audio_waveform`` -> ``voice_activity`` -> ``transcript`` on one file, as a
    real run chains them: the transcript's result and its wall seconds."""
    from dp_assets.components.audio import audio_waveform, transcript, voice_activity

    media, work = Path(media), Path(work)

    def ctx(name: str) -> ComponentContext:
        (work / name).mkdir(parents=True, exist_ok=True)
        return ComponentContext(media, media.stem, "eval", work / name, work / "frames_dir", BASELINE_SAMPLING, logging.getLogger(f"eval.{name}"))

    probe, _ = run_component(video_probe.SPEC, ctx("video_probe"), video_probe.VideoProbeConfig(), {})
    waveform, _ = run_component(audio_waveform.SPEC, ctx("audio_waveform"), audio_waveform.AudioWaveformConfig(), {"video_probe": probe})
    vad, _ = run_component(voice_activity.SPEC, ctx("voice_activity"), voice_activity.VoiceActivityConfig(), {"audio_waveform": waveform})
    result, metrics = run_component(transcript.SPEC, ctx("transcript"), config, {"audio_waveform": waveform, "voice_activity": vad})
    if result.error:
        raise RuntimeError(f"transcript failed on {media.name}: {result.error}")
    return result, metrics.wall_s
