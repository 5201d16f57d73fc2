"""Dagster's own per-partition staleness follows our versions (what the UI shows as stale)."""

import shutil
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.definitions.data_version import StaleCauseCategory, StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from dp_assets.factory import build_component_assets, raw_video
from dp_assets.profiles import load_profile
from dp_assets.runner import observe_raw_video
from tests.pipeline_helpers import Pipeline

SKELETON = Path(__file__).resolve().parent.parent / "profiles" / "skeleton.yaml"


def resolver(pipeline: Pipeline, profile):
    return get_stale_status_resolver(pipeline.instance, [raw_video, *build_component_assets(profile)])


def test_config_change_marks_only_that_component_stale(tmp_path, media):
    pipeline = Pipeline(tmp_path)
    pipeline.process(media("park_0p55s.mp4"), "park")
    data = yaml.safe_load(SKELETON.read_text())
    data["components"]["loudness"] = {"config": {"silence_threshold_dbfs": -40.0}}
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(data))
    status = resolver(pipeline, load_profile(tmp_path / "changed.yaml"))

    assert status.get_status(dg.AssetKey("loudness"), "park") == StaleStatus.STALE
    causes = status.get_stale_causes(dg.AssetKey("loudness"), "park")
    assert [c.category for c in causes] == [StaleCauseCategory.CODE]
    for fresh in ("video_probe", "frames", "image_stats", "audio_waveform"):
        assert status.get_status(dg.AssetKey(fresh), "park") == StaleStatus.FRESH, fresh


def test_replaced_video_marks_its_partition_stale(tmp_path, media):
    pipeline = Pipeline(tmp_path)
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(media("park_0p55s.mp4"), clip)
    pipeline.process(clip, "clip")
    pipeline.process(media("carphone_qcif_face_noaudio.mp4"), "other")
    shutil.copyfile(media("phone_rot180_vfr.mp4"), clip)  # new bytes under the same video_id
    observe_raw_video(pipeline.instance, "clip", pipeline.catalog.content_hash(pipeline.catalog.get("clip")))
    status = resolver(pipeline, load_profile("skeleton"))

    assert status.get_status(dg.AssetKey("video_probe"), "clip") == StaleStatus.STALE
    assert [c.category for c in status.get_stale_causes(dg.AssetKey("video_probe"), "clip")] == [StaleCauseCategory.DATA]
    assert status.get_status(dg.AssetKey("video_probe"), "other") == StaleStatus.FRESH
