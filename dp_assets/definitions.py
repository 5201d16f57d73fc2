"""Assembles the DataProcessor ``Definitions``: the active profile's assets, the job, resources.

The profile comes from ``DP_PROFILE`` (a name in ``profiles/`` or a path; default ``baseline``);
the GPU settings from ``DP_DEVICE`` / ``DP_PRECISION`` / ``DP_GPU_MAX_CONCURRENT``. Both are read
when the code location loads because they decide the assets' code versions. The bucket sensor
watches ``DP_BUCKET_URL`` (endpoint and keys from ``DP_BUCKET_*``); the maintenance schedules
run daily.
"""

from __future__ import annotations

import os

import dagster as dg

from dp_assets.factory import build_component_assets, raw_video
from dp_assets.ingest.sensor import build_bucket_sensor
from dp_assets.maintenance.jobs import MAINTENANCE_JOBS
from dp_assets.maintenance.retention import RetentionPolicy
from dp_assets.maintenance.schedules import build_maintenance_schedules
from dp_assets.profiles import Profile, load_profile
from dp_assets.sensors import build_manifest_sensors
from dp_resources import ArtifactStore, VideoCatalog
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.gpu import GpuResource, gpu_from_env
from dp_resources.video_bucket import VideoBucket, bucket_from_env

PROCESS_VIDEO_JOB = "process_video"
DEFAULT_PROFILE = "baseline"


def active_profile_name() -> str:
    return os.environ.get("DP_PROFILE", DEFAULT_PROFILE)


def build_definitions(
    profile: Profile,
    store: ArtifactStore | None = None,
    catalog: VideoCatalog | None = None,
    gpu: GpuResource | None = None,
    bucket: VideoBucket | None = None,
    index: ArtifactIndex | None = None,
    retention: RetentionPolicy | None = None,
) -> dg.Definitions:
    catalog = catalog or VideoCatalog()
    assets = build_component_assets(profile)
    process_video = dg.define_asset_job(
        PROCESS_VIDEO_JOB,
        selection=dg.AssetSelection.assets(*assets),
        description=f"One video through every component of the {profile.name!r} profile.",
        tags={"dataprocessor/profile": profile.name},
    )
    return dg.Definitions(
        # One process per run: a step in its own process costs ~1.4 s and re-imports the models
        # (measured), more than most components; stages already group the work.
        executor=dg.in_process_executor,
        assets=[raw_video, *assets],
        jobs=[process_video, *MAINTENANCE_JOBS],
        sensors=[*build_manifest_sensors(profile), build_bucket_sensor(PROCESS_VIDEO_JOB)],
        schedules=build_maintenance_schedules(),
        resources={
            "store": store or ArtifactStore(),
            "catalog": catalog,
            "gpu": gpu or GpuResource(device="cpu", precision="fp32"),
            "bucket": bucket or VideoBucket(),
            # the index shares the catalog's database, whichever that is
            "index": index or ArtifactIndex(database_url=catalog.database_url),
            "retention": retention or RetentionPolicy(),
        },
    )


def load_definitions() -> dg.Definitions:
    gpu = gpu_from_env()
    return build_definitions(load_profile(active_profile_name(), runtime=gpu.runtime()), gpu=gpu, bucket=bucket_from_env())


defs = load_definitions()
