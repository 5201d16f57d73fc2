"""The instance's event log (``dp_assets/event_log_storage.py``): Dagster's files in Dagster's place,
written through kept connections, by several processes at once."""

import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from dp_assets.event_log_storage import FastSqliteEventLogStorage
from dp_resources.settings import PROJECT_DIR, install_instance_yaml

PROJECT = Path(__file__).resolve().parent.parent


def _instance(home: Path) -> dg.DagsterInstance:
    install_instance_yaml(PROJECT_DIR / "dagster.yaml", home)
    return dg.DagsterInstance.from_config(str(home))


def _materialize(instance: dg.DagsterInstance, asset: str, partitions: range) -> None:
    for i in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=f"p{i}", metadata={"i": i}))


def test_the_installed_instance_names_its_own_folder_whatever_dagster_home_says(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "somewhere_else"))
    instance = _instance(tmp_path / "home")
    storage = instance.event_log_storage
    assert isinstance(storage, FastSqliteEventLogStorage)
    assert Path(storage._base_dir) == (tmp_path / "home" / "history" / "runs").resolve()
    assert "${DAGSTER_HOME}" not in (tmp_path / "home" / "dagster.yaml").read_text()
    instance.dispose()


def test_events_are_dagsters_own_rows_readable_by_dagsters_storage(tmp_path):
    instance = _instance(tmp_path)
    _materialize(instance, "frames", range(20))
    instance.dispose()

    plain = SqliteEventLogStorage(str(tmp_path / "history" / "runs"))
    partitions = plain.get_materialized_partitions(dg.AssetKey("frames"))
    assert partitions == {f"p{i}" for i in range(20)}
    latest = plain.get_latest_materialization_events([dg.AssetKey("frames")])[dg.AssetKey("frames")]
    assert latest.asset_materialization.metadata["i"].value == 19


@pytest.mark.parametrize(("mode", "expected"), [("NORMAL", 1), ("FULL", 2)])
def test_connections_use_the_configured_synchronous_mode(tmp_path, mode, expected):
    storage = FastSqliteEventLogStorage(str(tmp_path), synchronous=mode)
    with storage.index_connection() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    storage.dispose()


def test_a_bad_synchronous_mode_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(Exception, match="synchronous must be one of NORMAL, FULL"):
        FastSqliteEventLogStorage(str(tmp_path), synchronous="OFF")


def test_the_uninstalled_template_is_refused_with_the_way_to_install_it(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    (tmp_path / "dagster.yaml").write_text((PROJECT_DIR / "dagster.yaml").read_text())  # copied by hand
    with pytest.raises(Exception, match=r"install_instance_yaml"):
        dg.DagsterInstance.from_config(str(tmp_path)).event_log_storage  # noqa: B018


WRITER = """
import sys, dagster as dg
instance = dg.DagsterInstance.from_config(sys.argv[1])
for i in range(int(sys.argv[3])):
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=sys.argv[2], partition=f"p{i}"))
instance.dispose()
"""


def test_processes_writing_at_once_lose_no_event(tmp_path):
    # The daemon, the webserver and run workers keep connections to the same shards open.
    instance = _instance(tmp_path)
    _materialize(instance, "warm", range(1))  # this process keeps its connection open meanwhile
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), asset, "60"], stderr=subprocess.PIPE, text=True)
        for asset in ("frames", "faces", "ocr_text")
    ]
    _materialize(instance, "motion", range(60))
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    for asset in ("frames", "faces", "ocr_text", "motion"):
        assert len(instance.get_materialized_partitions(dg.AssetKey(asset))) == 60, asset
    index = sqlite3.connect(tmp_path / "history" / "runs" / "index.db")
    assert index.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    instance.dispose()


_INHERITED: list = []  # the parent's instance, as a forked child sees it


def _child_writes() -> None:
    _materialize(_INHERITED[0], "child", range(5))


def test_a_forked_child_opens_its_own_connections(tmp_path):
    instance = _instance(tmp_path)
    _materialize(instance, "parent", range(3))  # the parent's connections are open when it forks
    _INHERITED[:] = [instance]
    child = multiprocessing.get_context("fork").Process(target=_child_writes)
    child.start()
    child.join(60)
    assert child.exitcode == 0
    _materialize(instance, "parent", range(3, 6))  # and the parent's still work
    assert len(instance.get_materialized_partitions(dg.AssetKey("child"))) == 5
    assert len(instance.get_materialized_partitions(dg.AssetKey("parent"))) == 6
    instance.dispose()


def test_an_existing_table_is_looked_up_once_and_a_missing_one_every_time(tmp_path, monkeypatch):
    storage = FastSqliteEventLogStorage(str(tmp_path))
    asked = []
    original = SqliteEventLogStorage.has_table
    monkeypatch.setattr(SqliteEventLogStorage, "has_table", lambda self, name: asked.append(name) or original(self, name))
    assert all(storage.has_table("asset_check_executions") for _ in range(5))
    assert not storage.has_table("no_such_table") and not storage.has_table("no_such_table")
    assert asked == ["asset_check_executions", "no_such_table", "no_such_table"]
    storage.wipe()  # a wipe may drop tables: they are asked for again
    assert storage.has_table("asset_check_executions") and asked[-1] == "asset_check_executions"
    storage.dispose()
