"""The component contract: what every DataProcessor component declares and returns.

A component is one module under ``dp_assets/components/<modality>/`` that exposes ``SPEC``, a
:class:`ComponentSpec`. Its compute is a plain function (no Dagster import) so it can be tested and
benchmarked directly; ``dp_assets.factory`` is the only place that turns specs into Dagster assets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Mapping

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from dp_assets.models import CPU, MODELS, ModelCache, ModelRef, Runtime


class Modality(str, Enum):
    CORE = "core"
    VISUAL = "visual"
    AUDIO = "audio"
    TEXT = "text"


class Status(str, Enum):
    OK = "ok"
    EMPTY = "empty"
    ERROR = "error"


class EmptyReason(str, Enum):
    """The fixed vocabulary for ``empty`` outputs; an empty result must carry one of these."""

    NO_VIDEO_TRACK = "no_video_track"
    NO_AUDIO_TRACK = "no_audio_track"
    NO_FRAMES = "no_frames"
    NO_AUDIO_SAMPLES = "no_audio_samples"
    NO_SPEECH = "no_speech"
    NO_FACES = "no_faces"
    NO_TEXT = "no_text"
    NO_METADATA = "no_metadata"
    TOO_SHORT = "too_short"


EMPTY_REASONS = frozenset(r.value for r in EmptyReason)


class ComponentConfig(BaseModel):
    """Base for component config models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class FrameRequest:
    """Which frames a visual component wants from the shared ``frames`` decode.

    ``fps=None`` asks for every decoded frame. ``max_side`` bounds the longer display side in
    pixels (frames are never upscaled). ``max_frames`` caps how many frames the request gets;
    when the duration is known the sampling rate is lowered so the cap spans the whole video.
    """

    fps: float | None
    max_side: int
    max_frames: int | None = None

    @property
    def key(self) -> str:
        fps = "all" if self.fps is None else f"{self.fps:g}"
        cap = "" if self.max_frames is None else f"_n{self.max_frames}"
        return f"fps{fps}_side{self.max_side}{cap}"


@dataclass
class ComponentResult:
    """What a compute function returns: a status, a reason when empty, and the data.

    ``table`` is the component's row data (matching ``SPEC.output_schema``), ``summary`` holds
    per-video scalars that go to Dagster metadata, the manifest and ``features``; ``files`` names
    extra artifacts on disk (e.g. ``frames_dir``); ``warnings`` records damage that did not stop
    the component (e.g. a truncated file decoded up to the damage).
    """

    status: Status
    table: pa.Table | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    empty_reason: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def ok(cls, table: pa.Table | None = None, **kwargs: Any) -> "ComponentResult":
        return cls(status=Status.OK, table=table, **kwargs)

    @classmethod
    def empty(cls, reason: EmptyReason | str, detail: str | None = None, **kwargs: Any) -> "ComponentResult":
        value = reason.value if isinstance(reason, EmptyReason) else reason
        summary = dict(kwargs.pop("summary", {}))
        if detail:
            summary["empty_detail"] = detail
        return cls(status=Status.EMPTY, empty_reason=value, summary=summary, **kwargs)

    @classmethod
    def failed(cls, message: str, **kwargs: Any) -> "ComponentResult":
        return cls(status=Status.ERROR, error=message, **kwargs)


@dataclass(frozen=True)
class SamplingPolicy:
    version: str
    fps: float
    max_frames: int
    max_side: int

    @property
    def default_request(self) -> FrameRequest:
        return FrameRequest(fps=self.fps, max_side=self.max_side, max_frames=self.max_frames)


@dataclass
class ComponentContext:
    """Everything a compute function may know about the video and where to write."""

    video_path: Path
    video_id: str
    platform_id: str
    work_dir: Path  # this component's own artifact folder for extra files (created, empty)
    frames_dir: Path  # the video's retention-managed frames folder (only ``frames`` writes it)
    sampling: SamplingPolicy
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("dataprocessor"))
    # Model-backed components load through ``models.get(ref, runtime)`` (cached per process).
    runtime: Runtime = CPU
    models: ModelCache = MODELS


ComputeFn = Callable[[ComponentContext, Any, Mapping[str, ComponentResult]], ComponentResult]


@dataclass(frozen=True)
class ComponentSpec:
    """The declaration of one component; see the module docstring."""

    name: str
    modality: Modality
    description: str
    producer_version: str
    schema_version: int
    config_model: type[ComponentConfig]
    output_schema: pa.Schema
    compute: ComputeFn
    upstream: tuple[str, ...] = ()
    models: tuple[ModelRef, ...] = ()
    uses_gpu: bool = False
    # Visual components that read the shared frames say which frames they need.
    frame_request: Callable[[Any, SamplingPolicy], FrameRequest] | None = None
    # Most components have nothing to do when an input is empty (no audio -> no loudness), and
    # pass the input's reason on; aggregators like ``features`` handle empty inputs themselves.
    handles_empty_inputs: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"component name {self.name!r} must be a Python identifier")
