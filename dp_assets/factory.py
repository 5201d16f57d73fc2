"""The one place that turns the components of a profile into Dagster assets.

Every component is its own software-defined asset (partitioned by video, ``<platform>/<video_id>``,
grouped by modality, ``code_version`` from its versions, config hash, sampling policy and model
signature) with two checks per partition: ``empty_reason_valid`` and ``succeeded`` (ERROR when a
required component failed, WARN when an optional one did). Components are grouped into steps by
``dp_assets.stages``; what a step does is ``dp_assets.video_steps`` (one step per video by
default, which may cover a batch of videos; or several steps per video), and the work itself is
``dp_assets.video_run.VideoRun``, which knows nothing of Dagster.

Required components fail the video when they fail (fail-fast: nothing downstream of them runs);
optional ones are materialized with ``component_status=error`` and the video goes on.
"""

# No `from __future__ import annotations` here: Dagster inspects the op function's real
# annotations to recognise the context and resource parameters.
from pathlib import Path

import dagster as dg

from dp_assets.partitions import video_partitions
from dp_assets.profiles import RAW_VIDEO, VIDEO_METADATA, Profile, ResolvedComponent
from dp_assets.progress import current as current_progress
from dp_assets.scaleout.queues import step_tags
from dp_assets.stages import plan_stages
from dp_assets.video_steps import EMPTY_REASON_CHECK, NO_SIDECAR, SUCCEEDED_CHECK, stage_step, videos_step
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore
from dp_resources.gpu import Gpu
from dp_resources.ids import InvalidIdError, VideoKey
from dp_resources.video_catalog import VideoCatalog, VideoRef

__all__ = ["EMPTY_REASON_CHECK", "NO_SIDECAR", "SUCCEEDED_CHECK", "build_component_assets", "raw_video", "video_metadata"]


def _check_specs(component: ResolvedComponent) -> list[dg.AssetCheckSpec]:
    # Partitioned like the asset, so each video keeps its own check result: one video's WARN is
    # not hidden by the next video passing.
    severity = "WARN when this optional component failed (partial failure)" if component.optional else "ERROR when this required component failed"
    return [
        dg.AssetCheckSpec(
            EMPTY_REASON_CHECK,
            asset=component.name,
            description="an empty output carries a reason from the fixed vocabulary",
            partitions_def=video_partitions,
        ),
        dg.AssetCheckSpec(SUCCEEDED_CHECK, asset=component.name, description=severity, partitions_def=video_partitions),
    ]


def _stage_name(components: list[ResolvedComponent], whole_video: bool) -> str:
    if whole_video:
        return "video_step"
    if len(components) == 1:
        return f"{components[0].name}_step"
    return f"{components[0].spec.modality.value}_{components[0].name}_stage"


def _deps(component: ResolvedComponent) -> list[dg.AssetKey]:
    deps = [dg.AssetKey(up) for up in component.spec.upstream] or [dg.AssetKey(RAW_VIDEO)]
    if component.spec.reads_sidecar:
        deps.append(dg.AssetKey(VIDEO_METADATA))
    return deps


def _build_stage(profile: Profile, components: list[ResolvedComponent], whole_video: bool) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=c.name,
            group_name=c.spec.modality.value,
            deps=_deps(c),
            code_version=c.code_version,
            description=c.spec.description,
            partitions_def=video_partitions,
            skippable=True,
            kinds={"python", "parquet"},
            tags={"dataprocessor/modality": c.spec.modality.value, "dataprocessor/required": str(not c.optional).lower()},
        )
        for c in components
    ]
    check_specs = [check for c in components for check in _check_specs(c)]

    @dg.multi_asset(
        name=_stage_name(components, whole_video),
        specs=specs,
        check_specs=check_specs,
        can_subset=True,
        partitions_def=video_partitions,
        # One step for the whole video can take a batch of videos in one run (a partition range);
        # several steps per video take one video per run.
        backfill_policy=dg.BackfillPolicy.single_run() if whole_video else dg.BackfillPolicy.multi_run(1),
        # the Celery queue of the step (gpu when a component uses the GPU); other executors ignore it
        op_tags=step_tags(components),
    )
    def _stage(
        context: dg.AssetExecutionContext,
        store: dg.ResourceParam[ArtifactStore],
        catalog: dg.ResourceParam[VideoCatalog],
        index: dg.ResourceParam[ArtifactIndex],
        gpu: dg.ResourceParam[Gpu],
    ):
        if whole_video:
            yield from videos_step(context, profile, components, store, catalog, index, gpu, current_progress())
        else:
            yield from stage_step(context, profile, components, store, catalog, index, gpu)

    return _stage


def _registered_videos(context, catalog: VideoCatalog) -> dict[str, VideoRef]:
    """Every partition's catalog entry whose file is still there (the others are logged)."""
    found = {}
    for partition_key in context.instance.get_dynamic_partitions(video_partitions.name):
        try:
            video = catalog.lookup(VideoKey.parse(partition_key))
        except InvalidIdError as exc:
            context.log.warning(str(exc))
            continue
        if video is None or not Path(video.uri).is_file():
            context.log.warning(f"video {partition_key}: {'not in the catalog' if video is None else f'file {video.uri} is missing'}")
            continue
        found[partition_key] = video
    return found


@dg.observable_source_asset(
    key=RAW_VIDEO,
    partitions_def=video_partitions,
    group_name="core",
    description="The video file of each partition; its data version is the file's sha256, so a replaced file makes the partition stale.",
)
def raw_video(context, catalog: dg.ResourceParam[VideoCatalog]) -> dg.DataVersionsByPartition:
    return dg.DataVersionsByPartition({key: catalog.content_hash(video) for key, video in _registered_videos(context, catalog).items()})


@dg.observable_source_asset(
    key=VIDEO_METADATA,
    partitions_def=video_partitions,
    group_name="core",
    description="The metadata sidecar next to each video (<video>.json: title, description, tags); its data version is the "
    "sidecar's sha256 ('none' without one). Only the components that read it go stale when it changes.",
)
def video_metadata(context, catalog: dg.ResourceParam[VideoCatalog]) -> dg.DataVersionsByPartition:
    return dg.DataVersionsByPartition(
        {key: catalog.inputs(video).sidecar_sha256 or NO_SIDECAR for key, video in _registered_videos(context, catalog).items()}
    )


def build_component_assets(profile: Profile, granularity: str | None = None) -> list[dg.AssetsDefinition]:
    stages = plan_stages(profile, granularity or profile.granularity)
    whole_video = len(stages) == 1
    return [_build_stage(profile, stage, whole_video) for stage in stages]
