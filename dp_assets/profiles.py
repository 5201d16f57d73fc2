"""Analysis profiles (``profiles/*.yaml``): which components run, their config, and sampling.

``load_profile`` validates a profile completely before anything runs: unknown components, a
missing upstream, a cycle or a bad config value raise :class:`ProfileError`, whose message names
the file and the field (``profiles/x.yaml: components.loudness.config.window_s: ...``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dp_assets.contract import (
    CPU,
    EMPTY_DETAIL,
    FRAMES_COMPONENT,
    ComponentConfig,
    ComponentSpec,
    FrameRequest,
    ModelRef,
    ModelUnavailableError,
    Runtime,
    SamplingPolicy,
)
from dp_assets.registry import available_specs
from dp_assets.versioning import artifact_version, code_version, config_hash, idempotency_key
from dp_core.hashing import canonical_json, sha256_hex
from dp_resources.models import model_signature
from dp_resources.settings import current_settings
from dp_resources.ids import VideoKey
from dp_resources.video_catalog import VideoInputs

RAW_VIDEO = "raw_video"
# The metadata sidecar of a video, an input of the components that read it (``reads_sidecar``).
VIDEO_METADATA = "video_metadata"


class ProfileError(ValueError):
    """A profile that cannot be used; ``problems`` lists ``(field, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {field}: {message}" if field else f"{source}: {message}" for field, message in problems]
        super().__init__("invalid profile\n  " + "\n  ".join(lines))


class SamplingModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, description="sampling_policy_version: bump when the policy changes")
    fps: float = Field(gt=0, le=120, description="frames per second sampled for per-frame analysis")
    max_frames: int = Field(gt=0, le=100_000, description="cap on frames per request; long videos are sampled sparser")
    max_side: int = Field(ge=16, le=8192, description="longer display side of sampled frames, in pixels")


class ComponentEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    optional: bool = False
    config: dict[str, Any] = Field(default_factory=dict)


class ExecutionModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    granularity: Literal["stage", "component", "video"] = Field(
        default="video",
        description="Dagster steps per video: one for the whole video (default; a run may then take a batch of "
        "videos), one per stage, or one per component (for a distributed executor)",
    )


class ProfileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    description: str = ""
    sampling: SamplingModel
    execution: ExecutionModel = Field(default_factory=ExecutionModel)
    component_modules: list[str] = Field(default_factory=list)
    components: dict[str, ComponentEntry | None]


@dataclass(frozen=True)
class ResolvedComponent:
    spec: ComponentSpec
    config: ComponentConfig
    optional: bool
    config_hash: str
    sampling_policy_version: str
    model_signature: str
    code_version: str
    models: tuple[ModelRef, ...] = ()  # the models of this config (ComponentSpec.models_for)
    uses_gpu: bool = False  # with this config (ComponentSpec.uses_gpu_for)

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    sampling: SamplingPolicy
    components: dict[str, ResolvedComponent]  # in dependency order
    granularity: str = "video"
    runtime: Runtime = CPU

    def __getitem__(self, name: str) -> ResolvedComponent:
        return self.components[name]

    def artifact_versions(self, inputs: VideoInputs) -> dict[str, str]:
        """Every component's artifact version for one video (see ``versioning.artifact_version``).

        The video's bytes enter at the root of the graph and the sidecar only where a component
        reads it, so the same bytes under another id or platform get the same versions (a repost
        reuses them) and another title changes only the text side.
        """
        versions: dict[str, str] = {}
        for name, component in self.components.items():
            sources = {up: versions[up] for up in component.spec.upstream} or {RAW_VIDEO: inputs.video_sha256}
            if component.spec.reads_sidecar and inputs.sidecar_sha256 is not None:
                sources[VIDEO_METADATA] = inputs.sidecar_sha256
            versions[name] = artifact_version(component.code_version, sources)
        return versions

    @property
    def config_hash(self) -> str:
        """The profile-level config hash of the artifact index key: every component's code version."""
        return sha256_hex(canonical_json({name: c.code_version for name, c in self.components.items()}))

    def idempotency_key(self, name: str, video: VideoKey) -> dict:
        component = self.components[name]
        return idempotency_key(
            platform_id=video.platform_id,
            video_id=video.video_id,
            component=name,
            config_hash=component.config_hash,
            sampling_policy_version=component.sampling_policy_version,
            producer_version=component.spec.producer_version,
            schema_version=component.spec.schema_version,
            model_signature=component.model_signature,
        )


def _field(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


def profile_path(name_or_path: str | os.PathLike) -> Path:
    """A profile name (``baseline``) resolves in ``DP_PROFILES_DIR`` (default: the project's ``profiles/``)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    directory = current_settings().profiles_dir
    return directory / f"{name_or_path}.yaml"


def load_profile(name_or_path: str | os.PathLike, runtime: Runtime = CPU) -> Profile:
    path = profile_path(name_or_path)
    source = str(path)
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise ProfileError(source, [("", f"no such profile file (profiles in {path.parent}: {', '.join(known) or 'none'})")])
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(source, [("", f"not valid YAML: {exc}")]) from None
    return parse_profile(raw, source, runtime)


def parse_profile(raw: Any, source: str = "<profile>", runtime: Runtime = CPU) -> Profile:
    """Validate a profile; ``runtime`` (device, precision) enters GPU components' model signature."""
    try:
        model = ProfileModel.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(source, [(_field(e["loc"]), e["msg"]) for e in exc.errors()]) from None
    try:
        specs = available_specs(model.component_modules)
    except (ImportError, ValueError) as exc:
        raise ProfileError(source, [("component_modules", str(exc))]) from None

    problems: list[tuple[str, str]] = []
    entries = {name: entry or ComponentEntry() for name, entry in model.components.items()}
    for name in entries:
        if name not in specs:
            problems.append((f"components.{name}", f"unknown component (known: {', '.join(sorted(specs))})"))
    configs: dict[str, ComponentConfig] = {}
    for name, entry in entries.items():
        if name not in specs:
            continue
        for upstream in specs[name].upstream:
            if upstream not in entries:
                problems.append((f"components.{name}", f"needs upstream component {upstream!r}, which the profile does not enable"))
            elif not entry.optional and entries[upstream].optional and not specs[name].tolerates_failed_inputs:
                # A required output cannot be produced from a best-effort input that may fail.
                problems.append(
                    (f"components.{name}", f"is required but needs {upstream!r}, which is optional; mark {name} optional too")
                )
        problems += _undeclared_reads(name, specs)
        try:
            configs[name] = specs[name].config_model.model_validate(entry.config)
        except ValidationError as exc:
            problems += [(f"components.{name}.config.{_field(e['loc'])}", e["msg"]) for e in exc.errors()]
    if problems:
        raise ProfileError(source, problems)

    graph = {name: set(specs[name].upstream) for name in entries}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise ProfileError(source, [("components", f"dependency cycle: {cycle}")]) from None

    sampling = SamplingPolicy(**model.sampling.model_dump())
    configs = _with_frame_union(configs, specs, sampling, source)
    downstream_of_frames = _downstream_of(FRAMES_COMPONENT, graph)
    resolved: dict[str, ResolvedComponent] = {}
    for name in order:
        spec = specs[name]
        chash = config_hash(configs[name])
        # Only outputs computed from sampled frames depend on the sampling policy; keying audio on
        # it would recompute audio whenever the frame rate of visual analysis changes.
        spv = sampling.version if name in downstream_of_frames else "-"
        models = spec.models_for(configs[name]) if spec.models_for else spec.models
        uses_gpu = spec.uses_gpu_for(configs[name]) if spec.uses_gpu_for else spec.uses_gpu
        try:
            msig = model_signature(models, runtime if uses_gpu else CPU)
        except ModelUnavailableError as exc:
            raise ProfileError(source, [(f"components.{name}", str(exc))]) from None
        resolved[name] = ResolvedComponent(
            spec=spec,
            config=configs[name],
            optional=entries[name].optional,
            config_hash=chash,
            sampling_policy_version=spv,
            model_signature=msig,
            code_version=code_version(
                producer_version=spec.producer_version,
                schema_version=spec.schema_version,
                config_hash=chash,
                sampling_policy_version=spv,
                model_signature=msig,
            ),
            models=tuple(models),
            uses_gpu=uses_gpu,
        )
    return Profile(
        name=model.name,
        source=source,
        sampling=sampling,
        components=resolved,
        granularity=model.execution.granularity,
        runtime=runtime,
    )


def _undeclared_reads(name: str, specs: dict[str, ComponentSpec]) -> list[tuple[str, str]]:
    """Summary keys ``name`` reads that its upstream does not declare: a renamed key would
    otherwise read as null in every video."""
    problems = []
    for upstream, keys in specs[name].reads.items():
        if upstream not in specs:
            continue
        declared = {*specs[upstream].summary_keys, EMPTY_DETAIL}
        for key in keys:
            if key not in declared:
                problems.append(
                    (
                        f"components.{name}",
                        f"reads summary key {key!r} of {upstream}, which {upstream} does not declare "
                        f"(declared: {', '.join(sorted(declared))})",
                    )
                )
    return problems


def _downstream_of(root: str, graph: dict[str, set[str]]) -> set[str]:
    reached = {root} if root in graph else set()
    changed = True
    while changed:
        changed = False
        for name, upstream in graph.items():
            if name not in reached and upstream & reached:
                reached.add(name)
                changed = True
    return reached


def _with_frame_union(
    configs: dict[str, ComponentConfig], specs: dict[str, ComponentSpec], sampling: SamplingPolicy, source: str
) -> dict[str, ComponentConfig]:
    """Give ``frames`` the union of the enabled visual components' frame requests.

    The policy's own request is always part of it: ``frames_dir`` keeps the sampled frames for
    debugging and re-rendering even when no analysis asks for them.
    """
    requests: set[FrameRequest] = {sampling.default_request}
    for name, config in configs.items():
        spec = specs[name]
        if spec.frame_request is not None:
            requests.add(spec.frame_request(config, sampling))
    if FRAMES_COMPONENT not in configs:
        if any(specs[name].frame_request is not None for name in configs):
            raise ProfileError(source, [("components", f"visual components need the {FRAMES_COMPONENT!r} component")])
        return configs
    frames_config = configs[FRAMES_COMPONENT]
    union = sorted(requests, key=lambda r: r.key)
    updated = dict(configs)
    updated[FRAMES_COMPONENT] = frames_config.model_validate(
        {**frames_config.model_dump(), "requests": [vars(r) for r in union]}
    )
    return updated
