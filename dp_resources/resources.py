"""The Dagster face of the stores: thin ``ConfigurableResource``s that hand ops the plain objects.

The artifact store, the video catalog, the artifact index and the GPU settings are plain Python
(``dp_process`` answers a cached request from them without importing Dagster). Each resource here
carries the same fields, shown and configurable in the UI, and its ``create_resource`` builds the
plain object; ops and sensors take it as ``dg.ResourceParam[ArtifactStore]`` and so on.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PositiveFloat, PositiveInt

from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore, default_root
from dp_resources.gpu import Gpu
from dp_resources.settings import Device, GpuLimit, Precision, Settings, current_settings, resource_field
from dp_resources.video_catalog import VideoCatalog


class ArtifactStoreResource(dg.ConfigurableResource):
    root: str = Field(default_factory=lambda: default_root("artifacts"), description="root folder of component artifacts")
    frames_root: str = Field(default_factory=lambda: default_root("frames"), description="root folder of decoded frames (retention-managed)")

    @classmethod
    def of(cls, store: ArtifactStore) -> "ArtifactStoreResource":
        return cls(**store.model_dump())

    def create_resource(self, context) -> ArtifactStore:
        return ArtifactStore(root=self.root, frames_root=self.frames_root)


class VideoCatalogResource(dg.ConfigurableResource):
    database_url: str = resource_field("database_url")

    @classmethod
    def of(cls, catalog: VideoCatalog) -> "VideoCatalogResource":
        return cls(**catalog.model_dump())

    def create_resource(self, context) -> VideoCatalog:
        return VideoCatalog(database_url=self.database_url)


class ArtifactIndexResource(dg.ConfigurableResource):
    database_url: str = resource_field("database_url")
    cache_ttl_days: PositiveFloat = resource_field("cache_ttl_days")
    max_videos: PositiveInt = resource_field("max_videos")

    @classmethod
    def of(cls, index: ArtifactIndex) -> "ArtifactIndexResource":
        return cls(**index.model_dump())

    def create_resource(self, context) -> ArtifactIndex:
        return ArtifactIndex(database_url=self.database_url, cache_ttl_days=self.cache_ttl_days, max_videos=self.max_videos)


class GpuResource(dg.ConfigurableResource):
    device: Device = Field(default="auto", description="auto | cpu | cuda:N")
    precision: Precision = Field(default="auto", description="auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16")
    gpu_max_concurrent: GpuLimit = Field(default="auto", description="auto | N: GPU components computing at once on this machine")
    lock_dir: str = Field(default_factory=lambda: str(current_settings().gpu_lock_dir), description=Settings.describe("gpu_lock_dir"))

    @classmethod
    def of(cls, gpu: Gpu) -> "GpuResource":
        return cls(**gpu.model_dump())

    def create_resource(self, context) -> Gpu:
        return Gpu(device=self.device, precision=self.precision, gpu_max_concurrent=self.gpu_max_concurrent, lock_dir=self.lock_dir)
