"""Assembles the DataProcessor ``Definitions``: the active profile's assets, the job, resources.

The profile comes from ``DP_PROFILE`` (a name in ``profiles/`` or a path; default ``baseline``).
"""

from __future__ import annotations

import os

import dagster as dg

from dp_assets.factory import build_component_assets
from dp_assets.profiles import Profile, load_profile
from dp_resources import ArtifactStore, VideoCatalog

PROCESS_VIDEO_JOB = "process_video"
DEFAULT_PROFILE = "baseline"


def active_profile_name() -> str:
    return os.environ.get("DP_PROFILE", DEFAULT_PROFILE)


def build_definitions(
    profile: Profile, store: ArtifactStore | None = None, catalog: VideoCatalog | None = None
) -> dg.Definitions:
    assets = build_component_assets(profile)
    process_video = dg.define_asset_job(
        PROCESS_VIDEO_JOB,
        selection=dg.AssetSelection.assets(*assets),
        description=f"One video through every component of the {profile.name!r} profile.",
        tags={"dataprocessor/profile": profile.name},
    )
    return dg.Definitions(
        assets=assets,
        jobs=[process_video],
        resources={"store": store or ArtifactStore(), "catalog": catalog or VideoCatalog()},
    )


defs = build_definitions(load_profile(active_profile_name()))
