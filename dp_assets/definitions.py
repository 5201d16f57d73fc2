"""Assembles the DataProcessor ``Definitions``: the active profile's assets, the job, resources.

The profile comes from ``DP_PROFILE`` (a name in ``profiles/`` or a path; default ``baseline``);
the GPU settings from ``DP_DEVICE`` / ``DP_PRECISION`` / ``DP_GPU_MAX_CONCURRENT``. Both are read
when the code location loads because they decide the assets' code versions.
"""

from __future__ import annotations

import os

import dagster as dg

from dp_assets.factory import build_component_assets, raw_video
from dp_assets.profiles import Profile, load_profile
from dp_assets.sensors import build_manifest_sensors
from dp_resources import ArtifactStore, VideoCatalog
from dp_resources.gpu import GpuResource, gpu_from_env

PROCESS_VIDEO_JOB = "process_video"
DEFAULT_PROFILE = "baseline"


def active_profile_name() -> str:
    return os.environ.get("DP_PROFILE", DEFAULT_PROFILE)


def build_definitions(
    profile: Profile,
    store: ArtifactStore | None = None,
    catalog: VideoCatalog | None = None,
    gpu: GpuResource | None = None,
) -> dg.Definitions:
    assets = build_component_assets(profile)
    process_video = dg.define_asset_job(
        PROCESS_VIDEO_JOB,
        selection=dg.AssetSelection.assets(*assets),
        description=f"One video through every component of the {profile.name!r} profile.",
        tags={"dataprocessor/profile": profile.name},
    )
    return dg.Definitions(
        assets=[raw_video, *assets],
        jobs=[process_video],
        sensors=build_manifest_sensors(profile),
        resources={
            "store": store or ArtifactStore(),
            "catalog": catalog or VideoCatalog(),
            "gpu": gpu or GpuResource(device="cpu", precision="fp32"),
        },
    )


def load_definitions() -> dg.Definitions:
    gpu = gpu_from_env()
    return build_definitions(load_profile(active_profile_name(), runtime=gpu.runtime()), gpu=gpu)


defs = load_definitions()
