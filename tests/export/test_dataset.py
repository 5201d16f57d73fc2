"""``dp export`` / ``training_dataset``: one row per processed video, readable by pyarrow and DuckDB,
hive-partitioned by platform, written atomically, with clear errors for what cannot be written."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dp_assets.export.assets import build_training_dataset
from dp_assets.export.dataset import MARKER, ExportError, export_dataset, parse_tables
from dp_assets.profiles import load_profile
from dp_resources.resources import ArtifactIndexResource, ArtifactStoreResource
from tests.pipeline_helpers import Pipeline

PROJECT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def processed(tmp_path_factory, media_dir):
    """Three videos on two platforms (one of them a repost under another id), skeleton profile."""
    home = tmp_path_factory.mktemp("export")
    pipeline = Pipeline(home)
    outcomes = {
        ("yt", "obama"): pipeline.process(media_dir / "obama_statement_face_speech.mp4", "obama", platform_id="yt", now=T0),
        ("yt", "car"): pipeline.process(media_dir / "carphone_qcif_face_noaudio.mp4", "car", platform_id="yt", now=T0 + dt.timedelta(days=1)),
        ("tt", "obama"): pipeline.process(media_dir / "obama_statement_face_speech.mp4", "obama", platform_id="tt", now=T0 + dt.timedelta(days=2)),
    }
    assert all(o.ok for o in outcomes.values())
    return pipeline, outcomes


def export(pipeline, out, **kwargs):
    return export_dataset(out, load_profile("skeleton"), pipeline.store, pipeline.index, **kwargs)


def test_one_row_per_video_readable_by_pyarrow_and_duckdb(processed, tmp_path):
    pipeline, outcomes = processed
    result = export(pipeline, tmp_path / "ds", tables=["features", "image_stats"])
    assert result.videos == 3 and result.rows["features"] == 3 and not result.skipped

    table = ds.dataset(tmp_path / "ds" / "features", partitioning="hive").to_table()
    rows = {(r["platform_id"], r["video_id"]): r for r in table.to_pylist()}
    assert set(rows) == set(outcomes)
    for key, outcome in outcomes.items():
        row, features = rows[key], pipeline.features(outcome)
        assert all(row[name] == value for name, value in features.items()), key
        assert row["features_schema_version"] == features["features_schema_version"]
        assert row["run_id"] == outcome.run_id and row["features_version"] == pipeline.entry(outcome, "features").artifact_version
        assert row["image_stats_version"] == pipeline.entry(outcome, "image_stats").artifact_version
        assert row["processed_at"].tzinfo is not None
    assert rows[("yt", "obama")]["has_audio"] is True and rows[("yt", "car")]["has_audio"] is False

    sql = f"SELECT platform_id, video_id, width, height FROM read_parquet('{tmp_path}/ds/features/**/*.parquet', hive_partitioning=true) ORDER BY 1, 2"
    assert duckdb.sql(sql).fetchall() == [("tt", "obama", 320, 240), ("yt", "car", 176, 144), ("yt", "obama", 320, 240)]
    per_frame = duckdb.sql(
        f"SELECT platform_id, video_id, count(*) FROM read_parquet('{tmp_path}/ds/image_stats/**/*.parquet', hive_partitioning=true) GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    expected = {k: pq.read_table(Path(pipeline.entry(o, "image_stats").artifact_dir) / "data.parquet").num_rows for k, o in outcomes.items()}
    assert per_frame == [(p, v, expected[(p, v)]) for p, v in sorted(expected)]
    assert sorted(p.name for p in (tmp_path / "ds" / "features").iterdir()) == ["platform_id=tt", "platform_id=yt"]


def test_since_keeps_the_videos_processed_from_that_date(processed, tmp_path):
    pipeline, _ = processed
    result = export(pipeline, tmp_path / "ds", since=T0 + dt.timedelta(hours=12))
    assert result.videos == 2
    keys = duckdb.sql(f"SELECT platform_id, video_id FROM read_parquet('{tmp_path}/ds/features/**/*.parquet', hive_partitioning=true) ORDER BY 1").fetchall()
    assert keys == [("tt", "obama"), ("yt", "car")]


def test_no_processed_video_gives_an_empty_dataset_with_the_full_schema(tmp_path):
    result = export(Pipeline(tmp_path / "home"), tmp_path / "ds")
    assert result.videos == 0 and result.rows == {"features": 0}
    dataset = ds.dataset(tmp_path / "ds" / "features", partitioning="hive")
    assert dataset.count_rows() == 0
    assert {"platform_id", "video_id", "features_schema_version", "duration_s", "run_id", "processed_at"} <= set(dataset.schema.names)
    columns = duckdb.sql(f"SELECT * FROM read_parquet('{tmp_path}/ds/features/**/*.parquet', hive_partitioning=true)").columns
    assert "duration_s" in columns and "platform_id" in columns


def test_an_unknown_table_is_an_error_listing_the_valid_ones():
    with pytest.raises(ExportError) as error:
        parse_tables(load_profile("skeleton"), "features,faces")
    assert "unknown table 'faces'" in str(error.value) and "features, audio_waveform, frames, image_stats" in str(error.value)


def test_a_folder_that_is_not_an_export_is_refused_unless_overwrite(processed, tmp_path):
    pipeline, _ = processed
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="holds no earlier export"):
        export(pipeline, target)
    assert (target / "notes.txt").read_text() == "keep me"
    export(pipeline, target, overwrite=True)
    assert not (target / "notes.txt").exists() and (target / MARKER).is_file()
    # an earlier export is replaced without asking, and nothing is left beside it
    first = json.loads((target / MARKER).read_text())["created_at"]
    export(pipeline, target)
    assert json.loads((target / MARKER).read_text())["created_at"] != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_a_video_whose_artifact_is_gone_is_left_out_and_reported(processed, tmp_path):
    pipeline, outcomes = processed
    features = Path(pipeline.entry(outcomes[("yt", "car")], "features").artifact_dir) / "data.parquet"
    saved = features.read_bytes()
    features.unlink()
    try:
        result = export(pipeline, tmp_path / "ds")
    finally:
        features.write_bytes(saved)
    assert result.videos == 2 and [str(v) for v, _ in result.skipped] == ["yt/car"]
    assert "missing or size mismatch" in result.skipped[0][1]


def test_training_dataset_asset_materializes_the_export(processed, tmp_path):
    pipeline, _ = processed
    asset = build_training_dataset(load_profile("skeleton"))
    resources = {"store": ArtifactStoreResource.of(pipeline.store), "index": ArtifactIndexResource.of(pipeline.index)}
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources=resources,
            run_config={"ops": {"training_dataset": {"config": {"out": str(tmp_path / "ds"), "tables": ["features"]}}}},
        )
        assert result.success
        metadata = instance.get_latest_materialization_event(dg.AssetKey("training_dataset")).asset_materialization.metadata
    assert metadata["videos"].value == 3 and metadata["dagster/row_count"].value == 3
    assert ds.dataset(tmp_path / "ds" / "features", partitioning="hive").count_rows() == 3


def test_dp_export_refuses_a_foreign_folder_in_one_line(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "data.csv").write_text("a,b\n")
    env = {**os.environ, "DP_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, "-m", "dp_assets.cli", "export", str(tmp_path / "out"), "--profile", "skeleton"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "pass --overwrite" in result.stderr
