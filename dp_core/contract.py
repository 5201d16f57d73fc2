"""The data of the component contract: statuses, empty reasons, results, frame requests, runtimes, models.

Plain data with no behaviour beyond validation, shared by ``dp_assets`` (components, factory,
manifest) and ``dp_resources`` (artifact store, GPU resource, model store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

def parquet():
    """``pyarrow.parquet``, imported when first used: it pulls in ``pyarrow.dataset`` and, where
    pandas is installed, pandas (0.2 s, measured), which a request served from cache never needs."""
    import pyarrow.parquet

    return pyarrow.parquet


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


ENGINES = ("torch", "onnxruntime", "openvino", "ctranslate2", "opencv", "libfacedetection")


@dataclass(frozen=True)
class Runtime:
    """Where model-backed components run: ``cpu`` or ``cuda:N``, at ``fp32`` or ``fp16``."""

    device: str = "cpu"
    precision: str = "fp32"

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


CPU = Runtime()


class ModelUnavailableError(RuntimeError):
    """A model's package or weight file is missing or damaged; the message says what to install."""


@dataclass(frozen=True)
class ModelRef:
    """A pretrained model a component uses; the model store (``dp_resources.models``) resolves it.

    ``weight_files`` locates the weight files inside the installed package (raises
    ``ModelUnavailableError`` with an install hint when the package is missing); ``load`` builds
    the model for a runtime. ``cpu_only`` models (OpenCV cascades, ONNX on CPU) always sign as CPU.
    """

    name: str
    version: str
    engine: str
    package: str
    weight_files: Callable[[], list[Path]]
    load: Callable[[Runtime], Any] = field(compare=False, hash=False)
    cpu_only: bool = False

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"model {self.name}: engine {self.engine!r} is not one of {ENGINES}")

    def effective_runtime(self, runtime: Runtime) -> Runtime:
        return CPU if self.cpu_only else runtime
