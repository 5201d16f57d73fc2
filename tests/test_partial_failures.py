"""Required vs optional (docs/design.md §2), asset checks and per-component figures, on real runs."""

from pathlib import Path

import dagster as dg
import pytest
import yaml

from dp_assets.factory import EMPTY_REASON_CHECK, SUCCEEDED_CHECK
from dp_assets.run_tags import PARTIAL_FAILURE as PARTIAL_FAILURE_TAG
from dp_resources.ids import VideoKey
from dp_resources.run_records import component_history
from tests.pipeline_helpers import Pipeline

BASELINE = Path(__file__).resolve().parent.parent / "profiles" / "skeleton.yaml"


def profile_with(tmp_path: Path, extra: dict) -> Path:
    data = yaml.safe_load(BASELINE.read_text())
    data["component_modules"] = [f"tests.fixtures.{name}" for name in extra]
    data["components"].update(extra)
    path = tmp_path / "test_profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def latest_check(instance: dg.DagsterInstance, asset: str, check: str, partition: str | None = None):
    records = instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey(asset), check), limit=20)
    for record in records:
        evaluation = record.event.dagster_event.event_specific_data
        if partition is None or evaluation.partition == partition:
            return evaluation
    return None


@pytest.fixture
def pipeline(tmp_path) -> Pipeline:
    return Pipeline(tmp_path)


def test_optional_failure_keeps_the_run_ok(pipeline, tmp_path, media):
    profile = profile_with(tmp_path, {"always_fails": {"optional": True}, "after_failure": {"optional": True}})
    outcome = pipeline.process(media("obama_statement_face_speech.mp4"), "obama", profile=str(profile))

    assert outcome.ok and outcome.manifest.run_status == "ok"
    failed = pipeline.entry(outcome, "always_fails")
    assert failed.status == "error" and "simulated failure while analysing obama" in failed.error
    # Downstream still runs where it can: it reports the upstream failure instead of being skipped.
    after = pipeline.entry(outcome, "after_failure")
    assert after.status == "error" and "upstream always_fails failed" in after.error
    assert outcome.manifest.partial_failures == ["always_fails", "after_failure"]  # dependency order
    assert pipeline.features(outcome)["has_audio"] is True  # features still produced

    run = pipeline.instance.get_run_by_id(outcome.run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags[PARTIAL_FAILURE_TAG] == "after_failure,always_fails"
    warn = latest_check(pipeline.instance, "always_fails", SUCCEEDED_CHECK, partition="test/obama")
    assert warn.passed is False and warn.severity == dg.AssetCheckSeverity.WARN
    assert "simulated failure" in warn.description
    # Checks are per video: a second video's result does not replace this one's.
    pipeline.process(media("park_0p55s.mp4"), "park", profile=str(profile))
    assert latest_check(pipeline.instance, "always_fails", SUCCEEDED_CHECK, partition="test/obama").passed is False
    assert latest_check(pipeline.instance, "always_fails", SUCCEEDED_CHECK, partition="test/park") is not None
    materialization = pipeline.instance.get_latest_materialization_event(dg.AssetKey("always_fails"))
    assert materialization.asset_materialization.metadata["component_status"].value == "error"


def test_required_failure_fails_fast(pipeline, tmp_path, media):
    profile = profile_with(tmp_path, {"always_fails": {}, "after_failure": {}})
    outcome = pipeline.process(media("obama_statement_face_speech.mp4"), "obama", profile=str(profile))

    assert not outcome.ok
    assert outcome.manifest.failed_components == ["always_fails"]
    assert pipeline.entry(outcome, "after_failure").status == "not_executed"
    assert "always_fails" in outcome.manifest.run_error and "simulated failure while analysing obama" in outcome.manifest.run_error
    assert pipeline.instance.get_run_by_id(outcome.run_id).status == dg.DagsterRunStatus.FAILURE
    # The manifest on disk is valid JSON even for the failed run, and says why.
    assert '"run_status": "error"' in outcome.manifest_path.read_text()


def test_required_component_cannot_depend_on_optional(tmp_path):
    from dp_assets.profiles import ProfileError, load_profile

    profile = profile_with(tmp_path, {"always_fails": {"optional": True}, "after_failure": {}})
    with pytest.raises(ProfileError, match="components.after_failure: is required but needs 'always_fails', which is optional"):
        load_profile(profile)


def test_empty_without_reason_fails_the_check(pipeline, tmp_path, media):
    profile = profile_with(tmp_path, {"empty_without_reason": {}})
    outcome = pipeline.process(media("park_0p55s.mp4"), profile=str(profile))
    check = latest_check(pipeline.instance, "empty_without_reason", EMPTY_REASON_CHECK)
    assert check.passed is False and check.severity == dg.AssetCheckSeverity.ERROR
    assert "no empty_reason" in check.description
    # A real empty result (no audio track) passes the same check.
    assert latest_check(pipeline.instance, "loudness", EMPTY_REASON_CHECK).passed is True
    assert outcome.manifest.components  # the run itself finished


def test_peak_memory_and_timings_are_recorded(pipeline, tmp_path, media):
    profile = profile_with(tmp_path, {"allocates_200mb": {}})
    outcome = pipeline.process(media("park_0p55s.mp4"), "park", profile=str(profile))
    assert outcome.ok
    entry = pipeline.entry(outcome, "allocates_200mb")
    assert entry.peak_rss_delta_mb >= 200, entry
    assert entry.peak_rss_mb >= entry.peak_rss_delta_mb
    assert entry.wall_seconds >= 0.1 and entry.cpu_seconds > 0
    for other in outcome.manifest.components:
        assert other.wall_seconds is not None and other.peak_rss_mb is not None, other.component
    # The same figures are in the DataProcessor database and in the Dagster metadata.
    rows = {r["component"]: r for r in component_history(pipeline.catalog.database_url, VideoKey("test", "park"))}
    assert rows["allocates_200mb"]["peak_rss_delta_mb"] >= 200
    assert rows["allocates_200mb"]["run_status"] == "ok"
    metadata = pipeline.instance.get_latest_materialization_event(dg.AssetKey("allocates_200mb")).asset_materialization.metadata
    assert metadata["peak_rss_delta_mb"].value >= 200 and metadata["wall_seconds"].value >= 0.1
