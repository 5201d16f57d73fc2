"""``training_dataset``: the export as an (unpartitioned) asset, materializable from the UI.

It reads every video's stored results (no recomputation) and writes the dataset to
``DP_EXPORT_DIR`` (default ``$DP_HOME/exports/training_dataset``), replacing the previous one
atomically; which tables and since when are run config.
"""

# No `from __future__ import annotations`: Dagster reads the asset's annotations for config and resources.
import datetime as dt
from pathlib import Path

import dagster as dg

from dp_assets.export.dataset import FEATURES, ExportError, export_dataset, exportable_tables
from dp_assets.profiles import Profile
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore
from dp_resources.settings import current_settings

TRAINING_DATASET = "training_dataset"


class TrainingDatasetConfig(dg.Config):
    tables: list[str] = [FEATURES]
    since: str | None = None  # ISO date or time (UTC): only videos processed since then
    out: str | None = None  # default: DP_EXPORT_DIR


def build_training_dataset(profile: Profile) -> dg.AssetsDefinition | None:
    """The asset of a profile with a ``features`` component (None without one)."""
    if FEATURES not in profile.components:
        return None
    valid = exportable_tables(profile)

    @dg.asset(
        name=TRAINING_DATASET,
        group_name="dataset",
        deps=[dg.AssetKey(FEATURES)],
        kinds={"parquet"},
        description=f"Every processed video of profile {profile.name!r} as one Parquet dataset, hive-partitioned by "
        f"platform_id (features, and on request: {', '.join(t for t in valid if t != FEATURES)}).",
    )
    def training_dataset(
        context: dg.AssetExecutionContext,
        config: TrainingDatasetConfig,
        store: dg.ResourceParam[ArtifactStore],
        index: dg.ResourceParam[ArtifactIndex],
    ) -> dg.MaterializeResult:
        out = Path(config.out) if config.out else current_settings().export_dir
        out.parent.mkdir(parents=True, exist_ok=True)
        since = None
        if config.since:
            since = dt.datetime.fromisoformat(config.since)
            since = since if since.tzinfo else since.replace(tzinfo=dt.timezone.utc)
        try:
            result = export_dataset(out, profile, store, index, list(config.tables), since=since)
        except ExportError as exc:
            raise dg.Failure(description=str(exc)) from None
        for video, reason in result.skipped:
            context.log.warning(f"left out {video}: {reason}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(result.path)),
                "videos": result.videos,
                "left_out": len(result.skipped),
                **{f"rows/{table}": count for table, count in result.rows.items()},
                "dagster/row_count": result.rows.get(FEATURES, 0),
            }
        )

    return training_dataset
