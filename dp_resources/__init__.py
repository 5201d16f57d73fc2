"""Dagster resources of DataProcessor: where artifacts live and which file a video_id names."""

from dp_resources.artifact_store import ArtifactStore
from dp_resources.settings import dp_home
from dp_resources.video_catalog import VideoCatalog, VideoRef

__all__ = ["ArtifactStore", "VideoCatalog", "VideoRef", "dp_home"]
