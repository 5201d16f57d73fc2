"""Builds the DataProcessor ``Definitions`` of one profile: its assets, the job, sensors, schedules
and resources. ``dp_assets.definitions`` (the code location) and ``dp process`` both call it with
the profile they were given; the only setting read here is the executor (``DP_EXECUTOR``, unless
given), because it decides the steps: Celery mode splits a video into stages
(``dp_assets.scaleout``)."""

from __future__ import annotations

import dagster as dg

from dp_assets import run_tags
from dp_assets.export.assets import build_training_dataset
from dp_assets.factory import build_component_assets, raw_video, video_metadata
from dp_assets.ingest.sensor import build_bucket_sensor
from dp_assets.maintenance.jobs import MAINTENANCE_JOBS
from dp_assets.maintenance.retention import RetentionPolicy
from dp_assets.maintenance.schedules import build_maintenance_schedules
from dp_assets.profiles import Profile
from dp_assets.scaleout.executor import executor_definition, for_executor
from dp_assets.sensors import build_manifest_sensors
from dp_assets.stages import whole_video_steps
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore
from dp_resources.gpu import Gpu
from dp_resources.resources import ArtifactIndexResource, ArtifactStoreResource, GpuResource, VideoCatalogResource
from dp_resources.settings import current_settings
from dp_resources.video_bucket import VideoBucket
from dp_resources.video_catalog import VideoCatalog

PROCESS_VIDEO_JOB = "process_video"


def build_definitions(
    profile: Profile,
    store: ArtifactStore | None = None,
    catalog: VideoCatalog | None = None,
    gpu: Gpu | None = None,
    bucket: VideoBucket | None = None,
    index: ArtifactIndex | None = None,
    retention: RetentionPolicy | None = None,
    executor: str | None = None,
) -> dg.Definitions:
    settings = current_settings()
    executor = executor or settings.executor
    profile = for_executor(profile, executor)
    catalog = catalog or VideoCatalog()
    assets = build_component_assets(profile)
    process_video = dg.define_asset_job(
        PROCESS_VIDEO_JOB,
        selection=dg.AssetSelection.assets(*assets),
        description=f"One video through every component of the {profile.name!r} profile.",
        tags={run_tags.PROFILE: profile.name},
    )
    dataset = build_training_dataset(profile)
    return dg.Definitions(
        executor=executor_definition(executor, settings),
        assets=[raw_video, video_metadata, *assets, *([dataset] if dataset else [])],
        jobs=[process_video, *MAINTENANCE_JOBS],
        sensors=[*build_manifest_sensors(profile), build_bucket_sensor(PROCESS_VIDEO_JOB, batchable=whole_video_steps(profile))],
        schedules=build_maintenance_schedules(),
        resources={
            "store": ArtifactStoreResource.of(store or ArtifactStore()),
            "catalog": VideoCatalogResource.of(catalog),
            "gpu": GpuResource.of(gpu or Gpu(device=profile.runtime.device, precision=profile.runtime.precision)),
            "bucket": bucket or VideoBucket(),
            # the index shares the catalog's database, whichever that is
            "index": ArtifactIndexResource.of(index or ArtifactIndex(database_url=catalog.database_url)),
            "retention": retention or RetentionPolicy(),
        },
    )
