"""Runs real videos through the real Dagster graph on a throwaway instance and DP_HOME."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from dp_assets.profiles import Profile, load_profile
from dp_assets.runner import ProcessOutcome, process_video
from dp_resources import ArtifactStore, VideoCatalog
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.ids import VideoKey
from dp_resources.video_catalog import VideoRef

PLATFORM = "test"


class Pipeline:
    def __init__(self, home: Path, database_url: str | None = None, max_videos: int = 10_000):
        self.home = home
        self.store = ArtifactStore(root=str(home / "artifacts"), frames_root=str(home / "frames"))
        self.catalog = VideoCatalog(database_url=database_url or f"sqlite:///{home / 'dp.db'}")
        self.index = ArtifactIndex(database_url=self.catalog.database_url, max_videos=max_videos)
        self.instance = dg.DagsterInstance.ephemeral()

    def process(
        self,
        path: Path,
        video_id: str | None = None,
        profile: str | Profile = "skeleton",
        now: dt.datetime | None = None,
        platform_id: str = PLATFORM,
    ) -> ProcessOutcome:
        resolved = profile if isinstance(profile, Profile) else load_profile(profile)
        return process_video(
            path,
            VideoKey(platform_id, video_id or path.stem),
            resolved,
            instance=self.instance,
            store=self.store,
            catalog=self.catalog,
            index=self.index,
            now=now,
        )

    def video(self, video_id: str, platform_id: str = PLATFORM) -> VideoRef:
        return self.catalog.get(VideoKey(platform_id, video_id))

    @staticmethod
    def entry(outcome: ProcessOutcome, component: str):
        return next(e for e in outcome.manifest.components if e.component == component)

    @staticmethod
    def computed(outcome: ProcessOutcome) -> set[str]:
        """Components this request actually computed (not cache hits)."""
        return {e.component for e in outcome.manifest.components if not e.cache_hit}

    def run_count(self) -> int:
        return len(self.instance.get_runs())

    def features(self, outcome: ProcessOutcome) -> dict:
        folder = Path(self.entry(outcome, "features").artifact_dir)
        return pq.read_table(folder / "data.parquet").to_pylist()[0]
