"""The component contract: what every DataProcessor component declares, receives and returns.

A component is one module under ``dp_assets/components/<modality>/`` that exposes ``SPEC``, a
:class:`ComponentSpec`. Its compute is a plain function (no Dagster import) so it can be tested and
benchmarked directly; ``dp_assets.factory`` is the only place that turns specs into Dagster assets.
The data types of the contract live in :mod:`dp_core.contract` and are re-exported here, so a
component imports everything it needs from this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import pyarrow as pa

from dp_core.contract import (
    CPU,
    EMPTY_REASONS,
    ComponentConfig,
    ComponentResult,
    EmptyReason,
    FrameRequest,
    Modality,
    ModelRef,
    ModelUnavailableError,
    Runtime,
    SamplingPolicy,
    Status,
)
from dp_resources.models import MODELS, ModelStore

if TYPE_CHECKING:
    from dp_assets.media.frames_store import FrameSet

__all__ = [
    "CPU",
    "EMPTY_REASONS",
    "EMPTY_DETAIL",
    "FRAMES_COMPONENT",
    "ComponentConfig",
    "ComponentContext",
    "ComponentResult",
    "ComponentSpec",
    "ComputeFn",
    "EmptyReason",
    "FrameRequest",
    "Modality",
    "ModelRef",
    "ModelUnavailableError",
    "Runtime",
    "SamplingPolicy",
    "Status",
]

# The shared decode every visual component reads its frames from.
FRAMES_COMPONENT = "frames"
# The summary key ``ComponentResult.empty`` writes its detail to; every component may produce it.
EMPTY_DETAIL = "empty_detail"


@dataclass
class ComponentContext:
    """Everything a compute function may know about the video and where to write."""

    video_path: Path
    # For log lines only: no output may depend on who uploaded the video, because a repost of the
    # same bytes under another id or platform shares every artifact that does not read the sidecar.
    video_id: str
    platform_id: str
    work_dir: Path  # this component's own artifact folder for extra files (created, empty)
    frames_dir: Path  # the video's retention-managed frames folder (only ``frames`` writes it)
    sampling: SamplingPolicy
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("dataprocessor"))
    # Model-backed components load through ``models.get(ref, runtime)`` (cached per process).
    runtime: Runtime = CPU
    models: ModelStore = MODELS
    # For a component with a ``frame_request``: the frames of that request, read from the shared
    # ``frames`` decode by ``execution.run_component`` before compute is called.
    frames: "FrameSet | None" = None
    # Long components say how far they are (units done, total or None, what a unit is); a
    # terminal's progress bar shows it. Cheap to call once per frame.
    progress: Callable[[int, int | None, str], None] = field(default=lambda done, total, unit: None)


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
    # Visual components that read the shared frames say which frames they need; they get exactly
    # those in ``ctx.frames``.
    frame_request: Callable[[Any, SamplingPolicy], FrameRequest] | None = None
    # The keys this component may put in ``ComponentResult.summary`` (``empty_detail`` is always
    # allowed); a result with any other key is a component bug and fails the component.
    summary_keys: tuple[str, ...] = ()
    # Summary keys read from each upstream (upstream name -> keys). A profile whose components
    # read a key that the upstream does not declare is rejected when it loads.
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # By default an empty input makes this component empty with the same reason (no audio -> no
    # loudness) and a failed one fails it. Aggregators like ``features`` take empty inputs
    # themselves; components that do without a failed optional input (``text_features`` without
    # the transcript) say they tolerate it, and only those may be required on optional inputs.
    accepts_empty_inputs: bool = False
    tolerates_failed_inputs: bool = False
    # When the models (or whether it runs on the GPU) depend on the config, e.g. a choice of
    # detector: the models of a given config, and whether it uses the GPU with it. They decide
    # the model signature, the runtime a component gets and the GPU slot it takes.
    models_for: Callable[[Any], tuple[ModelRef, ...]] | None = None
    uses_gpu_for: Callable[[Any], bool] | None = None
    # Reads the metadata sidecar next to the video (``<video>.json``: title, description, tags).
    # Only such components (and what depends on them) change when the sidecar does, so a repost
    # with another title still reuses every other artifact.
    reads_sidecar: bool = False
    # Imports and loads what ``compute`` needs besides its models (a library slow to import, a
    # bundled lookup table), so a process can do it before its first video (dp_assets.preload).
    # Called at most a few times per process, from any thread; it must be cheap once done.
    prepare: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"component name {self.name!r} must be a Python identifier")
        unknown = sorted(set(self.reads) - set(self.upstream))
        if unknown:
            raise ValueError(f"component {self.name}: reads summary keys of {', '.join(unknown)}, which are not upstream")
