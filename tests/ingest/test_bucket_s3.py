"""The bucket sensor against a real S3-compatible server (moto's, on 127.0.0.1): objects are
decided on first sight (an upload is complete when listed), downloaded with their sidecar before
registration, bad objects are rejected before any download, and the deployment's environment
variables reach the client."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest

from dp_assets.components.text.text_features import _metadata
from dp_assets.assembly import PROCESS_VIDEO_JOB
from dp_assets.maintenance.jobs import CACHE_MAINTENANCE_JOB, CACHE_MAINTENANCE_OP, cache_maintenance_job
from dp_assets.maintenance.retention import RetentionPolicy
from dp_resources import ArtifactStore
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.ids import VideoKey
from dp_resources.resources import GpuResource
from dp_resources.video_bucket import VideoBucket, bucket_from_env
from tests.ingest.conftest import S3_BUCKET, S3_KEY, S3_REGION, S3_SECRET, free_port, ledger_states

PARK = "park_0p55s.mp4"


@pytest.fixture
def prefix(request) -> str:
    # One prefix per test: the server is shared by the module.
    return f"in-{request.node.name[:40].replace('_', '-')}"


def s3_bucket(endpoint: str, prefix: str, tmp_path: Path, **options) -> VideoBucket:
    return VideoBucket(
        url=f"s3://{S3_BUCKET}/{prefix}",
        endpoint_url=endpoint,
        access_key_id=S3_KEY,
        secret_access_key=S3_SECRET,
        region=S3_REGION,
        cache_dir=str(tmp_path / "cache"),
        **options,
    )


def test_objects_are_downloaded_with_their_sidecar_then_registered(s3_endpoint, prefix, harness_factory, media, tmp_path):
    endpoint, client = s3_endpoint
    body = media(PARK).read_bytes()
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/park.mp4", Body=body)
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/park.json", Body=json.dumps({"title": "Park at dusk", "tags": ["outdoor"]}).encode())
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/renamed.mp4", Body=b"plain text, renamed\n" * 100)
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/archived.mp4", Body=body, StorageClass="GLACIER")
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/../../escape.mp4", Body=body)
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/with space.mp4", Body=body)
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/empty.mp4", Body=b"")
    harness = harness_factory(bucket=s3_bucket(endpoint, prefix, tmp_path))

    # An object store lists an object once its upload is complete: decided on first sight.
    first = harness.tick()
    assert set(harness.requested(first)) == {"yt/park"}

    video = harness.catalog.get(VideoKey("yt", "park"))
    local = Path(video.uri)
    assert local.is_file() and local.is_relative_to(tmp_path / "cache") and local.name == "park.mp4"
    assert hashlib.sha256(local.read_bytes()).hexdigest() == hashlib.sha256(body).hexdigest()
    # text_features reads <video>.json next to the video path: the downloaded sidecar is there.
    assert "Park at dusk" in _metadata(local.with_suffix(".json"), []).text

    states = ledger_states(harness)
    assert states["yt/renamed.mp4"][0] == "rejected" and "not a video container" in states["yt/renamed.mp4"][1]
    assert states["yt/archived.mp4"][0] == "rejected" and "unreadable" in states["yt/archived.mp4"][1]
    assert states["yt/../../escape.mp4"][0] == "rejected" and "'..' segment" in states["yt/../../escape.mp4"][1]
    assert states["yt/with space.mp4"][0] == "rejected" and "rename it, e.g. to with_space.mp4" in states["yt/with space.mp4"][1]
    assert states["yt/empty.mp4"] == ("rejected", "empty file (0 bytes)")
    downloaded = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert downloaded == ["park.json", "park.mp4"], "a rejected object is never downloaded"
    assert not harness.tick().run_requests


def test_a_new_etag_is_a_new_version_and_the_old_download_is_pruned(s3_endpoint, prefix, harness_factory, media, tmp_path):
    endpoint, client = s3_endpoint
    key = f"{prefix}/yt/clip.mp4"
    client.put_object(Bucket=S3_BUCKET, Key=key, Body=media(PARK).read_bytes())
    harness = harness_factory(bucket=s3_bucket(endpoint, prefix, tmp_path))
    first = harness.requested(harness.tick())["yt/clip"]
    old_uri = Path(harness.catalog.get(VideoKey("yt", "clip")).uri)
    client.put_object(Bucket=S3_BUCKET, Key=key, Body=media("carphone_qcif_face_noaudio.mp4").read_bytes())
    second = harness.requested(harness.tick())["yt/clip"]
    new_uri = Path(harness.catalog.get(VideoKey("yt", "clip")).uri)
    assert second != first and new_uri != old_uri and old_uri.is_file() and new_uri.is_file()

    # cache_maintenance with its clock two days ahead removes the superseded download only.
    resources = {
        "store": ArtifactStore(root=str(tmp_path / "a"), frames_root=str(tmp_path / "f")),
        "index": ArtifactIndex(database_url=harness.catalog.database_url),
        "catalog": harness.catalog,
        "bucket": harness.bucket,
        "retention": RetentionPolicy(report_dir=str(tmp_path / "reports")),
    }
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat()
    result = cache_maintenance_job.execute_in_process(
        run_config={"ops": {CACHE_MAINTENANCE_OP: {"config": {"now": later}}}}, resources=resources, instance=harness.instance
    )
    assert result.success
    assert not old_uri.exists() and new_uri.is_file()
    report = json.loads(next((tmp_path / "reports" / CACHE_MAINTENANCE_JOB).glob("*.json")).read_text())
    assert [r["path"] for r in report["removed_downloads"]] == [str(old_uri.parent)]


def test_a_downloaded_object_runs_through_the_graph(s3_endpoint, prefix, harness_factory, media, tmp_path):
    endpoint, client = s3_endpoint
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/park.mp4", Body=media(PARK).read_bytes())
    harness = harness_factory(bucket=s3_bucket(endpoint, prefix, tmp_path))
    (request,) = harness.tick().run_requests
    job = harness.definitions.resolve_job_def(PROCESS_VIDEO_JOB)
    result = job.execute_in_process(
        instance=harness.instance,
        partition_key=request.partition_key,
        tags=request.tags,
        resources={"gpu": GpuResource(device="cpu", precision="fp32")},
        raise_on_error=False,
    )
    assert result.success
    event = harness.instance.get_latest_materialization_event(dg.AssetKey("features"))
    assert event.dagster_event.partition == "yt/park"


def test_credentials_and_endpoint_come_from_the_environment(s3_endpoint, prefix, harness_factory, media, tmp_path, monkeypatch):
    endpoint, client = s3_endpoint
    client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/park.mp4", Body=media(PARK).read_bytes())
    for name, value in {
        "DP_BUCKET_URL": f"s3://{S3_BUCKET}/{prefix}",
        "DP_BUCKET_ENDPOINT_URL": endpoint,
        "DP_BUCKET_ACCESS_KEY_ID": S3_KEY,
        "DP_BUCKET_SECRET_ACCESS_KEY": S3_SECRET,
        "DP_BUCKET_REGION": S3_REGION,
        "DP_BUCKET_CACHE_DIR": str(tmp_path / "env-cache"),
    }.items():
        monkeypatch.setenv(name, value)
    bucket = bucket_from_env()
    assert isinstance(bucket.endpoint_url, dg.EnvVar) and isinstance(bucket.secret_access_key, dg.EnvVar)
    resolved = VideoBucket(url=bucket.url, endpoint_url=endpoint, cache_dir=bucket.cache_dir)
    harness = harness_factory(bucket=resolved)
    assert set(harness.requested(harness.tick(bucket=bucket))) == {"yt/park"}
    assert Path(harness.catalog.get(VideoKey("yt", "park")).uri).is_relative_to(tmp_path / "env-cache")


def test_an_unreachable_endpoint_skips_with_the_reason(harness_factory, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    bucket = VideoBucket(url=f"s3://{S3_BUCKET}/x", endpoint_url=dead, access_key_id=S3_KEY, secret_access_key=S3_SECRET, region=S3_REGION, cache_dir=str(tmp_path / "c"))
    harness = harness_factory(bucket=bucket)
    data = harness.tick()
    assert not data.run_requests and "cannot list bucket" in data.skip_message
    assert data.cursor is None, "a failed listing keeps the cursor"


def test_the_byte_budget_defers_downloads_but_always_takes_one(s3_endpoint, prefix, harness_factory, media, tmp_path):
    endpoint, client = s3_endpoint
    body = media(PARK).read_bytes()
    for name in ("a", "b", "c"):
        client.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/yt/{name}.mp4", Body=body)
    harness = harness_factory(bucket=s3_bucket(endpoint, prefix, tmp_path, max_bytes_per_tick=len(body) + 1))
    assert [len(harness.tick().run_requests) for _ in range(4)] == [1, 1, 1, 0]
