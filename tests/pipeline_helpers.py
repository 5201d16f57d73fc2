"""Runs real videos through the real Dagster graph on a throwaway instance and DP_HOME."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from dp_assets.profiles import load_profile
from dp_assets.runner import ProcessOutcome, process_video
from dp_resources import ArtifactStore, VideoCatalog


class Pipeline:
    def __init__(self, home: Path):
        self.home = home
        self.store = ArtifactStore(root=str(home / "artifacts"), frames_root=str(home / "frames"))
        self.catalog = VideoCatalog(database_url=f"sqlite:///{home / 'dp.db'}")
        self.instance = dg.DagsterInstance.ephemeral()

    def process(self, path: Path, video_id: str | None = None, profile: str = "baseline") -> ProcessOutcome:
        return process_video(
            path, video_id or path.stem, "test", load_profile(profile), instance=self.instance, store=self.store, catalog=self.catalog
        )

    @staticmethod
    def entry(outcome: ProcessOutcome, component: str):
        return next(e for e in outcome.manifest.components if e.component == component)

    def features(self, outcome: ProcessOutcome) -> dict:
        folder = Path(self.entry(outcome, "features").artifact_dir)
        return pq.read_table(folder / "data.parquet").to_pylist()[0]
