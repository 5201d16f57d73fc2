"""The Definitions load, and one partition materializes through Dagster's own API."""

import dagster as dg

from dp_assets.runner import process_video
import pyarrow.parquet as pq

import importlib

from dp_assets.assembly import PROCESS_VIDEO_JOB, build_definitions
from dp_assets.factory import build_component_assets
from dp_assets.partitions import VIDEO_PARTITIONS_NAME
from dp_assets.profiles import load_profile
from dp_resources import ArtifactStore, VideoCatalog
from dp_resources.gpu import Gpu
from dp_resources.ids import VideoKey
from dp_resources.resources import ArtifactIndexResource, ArtifactStoreResource, GpuResource, VideoCatalogResource


def load_code_location() -> dg.Definitions:
    """The code location as Dagster loads it (workspace.yaml names this module): Dagster finds
    the ``@dg.definitions`` function and calls it."""
    return importlib.import_module("dp_assets.definitions").defs()


def test_definitions_load_every_asset_grouped_by_modality():
    defs = load_code_location()
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "raw_video": "core",
        "video_metadata": "core",
        "video_probe": "core",
        "features": "core",
        "frames": "visual",
        "shot_boundaries": "visual",
        "image_stats": "visual",
        "faces": "visual",
        "ocr_text": "visual",
        "visual_embedding": "visual",
        "motion": "visual",
        "visual_pacing": "visual",
        "audio_waveform": "audio",
        "loudness": "audio",
        "voice_activity": "audio",
        "transcript": "audio",
        "text_features": "text",
        "training_dataset": "dataset",
    }
    assert defs.resolve_job_def(PROCESS_VIDEO_JOB) is not None
    for key in graph.materializable_asset_keys - {dg.AssetKey("training_dataset")}:
        node = graph.get(key)
        assert node.code_version and node.partitions_def.name == VIDEO_PARTITIONS_NAME
    assert graph.get(dg.AssetKey("training_dataset")).partitions_def is None  # one dataset of every video


def test_materialize_one_partition_with_dagster_api(tmp_path, media):
    profile = load_profile("skeleton")
    store = ArtifactStore(root=str(tmp_path / "a"), frames_root=str(tmp_path / "f"))
    catalog = VideoCatalog(database_url=f"sqlite:///{tmp_path / 'dp.db'}")
    video = catalog.register(VideoKey("test", "obama"), str(media("obama_statement_face_speech.mp4")))
    resources = {
        "store": ArtifactStoreResource.of(store),
        "catalog": VideoCatalogResource.of(catalog),
        "index": ArtifactIndexResource(database_url=catalog.database_url),
        "gpu": GpuResource.of(Gpu(device="cpu", precision="fp32")),
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, ["test/obama"])
        result = dg.materialize(build_component_assets(profile), partition_key="test/obama", instance=instance, resources=resources)
        assert result.success
        materialization = instance.get_latest_materialization_event(dg.AssetKey("features"))
        assert materialization.dagster_event.partition == "test/obama"
        metadata = materialization.asset_materialization.metadata
        assert metadata["component_status"].value == "ok"
    versions = profile.artifact_versions(catalog.inputs(video))
    folder = store.artifact_dir("test", "obama", "features", versions["features"])
    row = pq.read_table(folder / "data.parquet").to_pylist()[0]
    assert row["has_audio"] is True
    assert (row["width"], row["height"]) == (320, 240)


def test_unregistered_partition_fails_with_a_clear_message(tmp_path):
    profile = load_profile("skeleton")
    definitions = build_definitions(
        profile,
        store=ArtifactStore(root=str(tmp_path / "a"), frames_root=str(tmp_path / "f")),
        catalog=VideoCatalog(database_url=f"sqlite:///{tmp_path / 'dp.db'}"),
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, ["yt/ghost", "legacy"])
        results = {
            key: definitions.resolve_job_def(PROCESS_VIDEO_JOB).execute_in_process(partition_key=key, instance=instance, raise_on_error=False)
            for key in ("yt/ghost", "legacy")
        }
    descriptions = {}
    for key, result in results.items():
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        descriptions[key] = failure.step_failure_data.user_failure_data.description
    assert "video yt/ghost is not in the video catalog" in descriptions["yt/ghost"]
    assert "--platform-id yt --video-id ghost" in descriptions["yt/ghost"]
    # a partition key from before videos were keyed by platform says what to do
    assert "is not <platform_id>/<video_id>" in descriptions["legacy"] and "dp migrate" in descriptions["legacy"]


def test_a_cpu_run_never_claims_a_gpu_slot(tmp_path, media):
    """Every GPU slot of the machine is held (a long GPU job elsewhere): a run on the CPU device
    still completes, because only a component computing on CUDA claims a slot."""
    from dp_resources.gpu import Gpu
    from tests.pipeline_helpers import Pipeline

    profile = tmp_path / "gpu_user.yaml"
    profile.write_text(
        "name: gpu_user\nsampling: {version: '1', fps: 1.0, max_frames: 10, max_side: 64}\n"
        "component_modules: [tests.fixtures.quick_on_gpu]\ncomponents: {video_probe: {}, quick_on_gpu: {}}\n"
    )
    gpu = Gpu(device="cpu", precision="fp32", gpu_max_concurrent="1", lock_dir=str(tmp_path / "gpu_locks"))
    pipeline = Pipeline(tmp_path / "home")
    with gpu.slots("cuda:0").hold():
        assert gpu.slots("cuda:0").held() == 1
        outcome = process_video(
            media("park_0p55s.mp4"), VideoKey("test", "park"), load_profile(profile),
            instance=pipeline.instance, store=pipeline.store, catalog=pipeline.catalog, index=pipeline.index, gpu=gpu,
        )
    assert outcome.ok and pipeline.entry(outcome, "quick_on_gpu").status == "ok"
