"""A bucket sensor driven tick by tick on a real Dagster instance, and an S3 server on loopback."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from dp_assets.assembly import build_definitions
from dp_assets.ingest.ledger import IngestLedger, LedgerRow
from dp_assets.ingest.sensor import BUCKET_SENSOR
from dp_assets.profiles import load_profile
from dp_assets.partitions import VIDEO_PARTITIONS_NAME
from dp_resources import ArtifactStore, VideoCatalog
from dp_resources.video_bucket import VideoBucket

S3_BUCKET = "videos"
S3_KEY, S3_SECRET, S3_REGION = "testing-key", "testing-secret", "us-east-1"


@dataclass
class Harness:
    """Evaluates the sensor like the code server does and stores its cursor like the daemon."""

    home: Path
    bucket: VideoBucket
    catalog: VideoCatalog
    instance: dg.DagsterInstance
    cursor: str | None = None
    results: list = field(default_factory=list)
    definitions: dg.Definitions = field(init=False)

    def __post_init__(self):
        store = ArtifactStore(root=str(self.home / "artifacts"), frames_root=str(self.home / "frames"))
        self.definitions = build_definitions(load_profile("skeleton"), store=store, catalog=self.catalog, bucket=self.bucket)

    def tick(self, persist: bool = True, bucket: VideoBucket | None = None):
        """One evaluation; ``persist=False`` plays a daemon that died before storing the result."""
        # The code server's way: the context opens its own instance from the ref (and closes it).
        with dg.build_sensor_context(
            instance_ref=self.instance.get_ref(),
            cursor=self.cursor,
            definitions=self.definitions,
            resources={"bucket": bucket or self.bucket, "catalog": self.catalog},
        ) as context:
            data = self.definitions.get_sensor_def(BUCKET_SENSOR).evaluate_tick(context)
        if persist:
            self.cursor = data.cursor
        self.results.append(data)
        return data

    def requested(self, data) -> dict[str, str]:
        """Every requested video's partition -> the key of the run that processes it (a batch run
        covers a range of partitions)."""
        ordered = self.partitions()
        found = {}
        for request in data.run_requests:
            start = request.tags.get("dagster/asset_partition_range_start")
            if start is None:
                found[request.partition_key] = request.run_key
                continue
            end = request.tags["dagster/asset_partition_range_end"]
            for key in ordered[ordered.index(start) : ordered.index(end) + 1]:
                found[key] = request.run_key
        return found

    def ledger(self) -> dict[str, LedgerRow]:
        return IngestLedger(self.catalog.database_url, self.bucket.bucket_id()).load()

    def partitions(self) -> list[str]:
        return self.instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME)


@pytest.fixture
def harness_factory(tmp_path):
    instances = []

    def make(bucket: VideoBucket | None = None, database_url: str | None = None, **bucket_options) -> Harness:
        root = tmp_path / "bucket"
        root.mkdir(exist_ok=True)
        # A file these tests write is listed within milliseconds; an hour's settling time keeps
        # "a fresh local file waits for a second tick" true however slow the machine is
        # (test_bucket_sensor.py tests the settled case with its own setting).
        bucket_options.setdefault("settle_s", 3600.0)
        bucket = bucket or VideoBucket(url=str(root), cache_dir=str(tmp_path / "cache"), **bucket_options)
        catalog = VideoCatalog(database_url=database_url or f"sqlite:///{tmp_path / 'dp.db'}")
        context = dg.instance_for_test()
        instances.append(context)
        return Harness(tmp_path, bucket, catalog, context.__enter__())

    yield make
    for context in instances:
        context.__exit__(None, None, None)


@pytest.fixture
def harness(harness_factory) -> Harness:
    return harness_factory()


class SensorLog:
    """Lines the sensor logged so far (its logger writes to stderr and does not propagate to caplog)."""

    def __init__(self, capsys):
        self.capsys = capsys
        self.lines: list[str] = []

    def __iter__(self):
        self.lines += self.capsys.readouterr().err.splitlines()
        return iter(list(self.lines))

    def clear(self) -> None:
        self.capsys.readouterr()
        self.lines = []


@pytest.fixture
def sensor_log(capsys) -> SensorLog:
    return SensorLog(capsys)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3-compatible HTTP server (moto's) on 127.0.0.1, with one empty bucket."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.fail(f"moto[server] is a test requirement (pip install 'moto[server]'): {exc}")
    import boto3

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET, region_name=S3_REGION)
    client.create_bucket(Bucket=S3_BUCKET)
    try:
        yield endpoint, client
    finally:
        server.stop()


def ledger_states(harness: Harness) -> dict[str, tuple[str, str | None]]:
    return {key: (row.state, row.reason) for key, row in harness.ledger().items()}

