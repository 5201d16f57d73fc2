"""``features``: the training row equals what its sources measured; a missing source says why."""

import pyarrow.parquet as pq
import pytest

from dp_assets.components.core.features import COLUMNS, FEATURES_SCHEMA_VERSION, OUTPUT_SCHEMA
from dp_assets.contract import Status
from dp_assets.direct import run_profile_direct
from dp_assets.profiles import load_profile


@pytest.fixture(scope="module")
def skeleton():
    return load_profile("skeleton")


def test_the_row_is_the_upstream_summaries(skeleton, media, tmp_path):
    results = run_profile_direct(skeleton, media("obama_statement_face_speech.mp4"), tmp_path, video_id="obama", platform_id="web")
    features, _ = results["features"]
    assert features.status is Status.OK and features.table.schema.equals(OUTPUT_SCHEMA)
    row = features.table.to_pylist()[0]
    assert row["features_schema_version"] == FEATURES_SCHEMA_VERSION
    assert "video_id" not in row and "platform_id" not in row  # identity is the export's, reposts share the row
    for column, (source, key, _) in COLUMNS.items():
        assert row[column] == pytest.approx(results[source][0].summary[key]), column
    assert (row["width"], row["height"], row["has_audio"]) == (320, 240, True)
    assert row["cuts_per_minute"] == pytest.approx(row["cut_count"] * 60 / row["duration_s"])
    assert row["loudness_status"] == "ok" and row["loudness_empty_reason"] is None


def test_a_silent_source_leaves_its_columns_null_and_says_why(skeleton, media, tmp_path):
    results = run_profile_direct(skeleton, media("carphone_qcif_face_noaudio.mp4"), tmp_path)
    row = results["features"][0].table.to_pylist()[0]
    assert row["has_audio"] is False
    assert (row["integrated_lufs"], row["rms_dbfs"], row["silence_ratio"]) == (None, None, None)
    assert (row["loudness_status"], row["loudness_empty_reason"]) == ("empty", "no_audio_track")
    assert row["brightness_mean"] is not None and row["image_stats_status"] == "ok"


def test_an_audio_only_file_has_null_picture_columns(skeleton, media, tmp_path):
    results = run_profile_direct(skeleton, media("jfk_inaugural_speech.flac"), tmp_path)
    table = results["features"][0].table
    row = table.to_pylist()[0]
    assert (row["image_stats_status"], row["image_stats_empty_reason"]) == ("empty", "no_video_track")
    assert row["brightness_mean"] is None and row["cut_count"] is None and row["cuts_per_minute"] is None
    assert row["integrated_lufs"] is not None
    pq.write_table(table, tmp_path / "row.parquet")  # the fixed schema round-trips through Parquet
    assert pq.read_schema(tmp_path / "row.parquet").remove_metadata().equals(OUTPUT_SCHEMA)
