"""Celery mode end to end: the real ``dagster-daemon`` (bucket sensor, warm run workers that
orchestrate), RabbitMQ (a vhost of this test run), PostgreSQL, and two ``dp worker`` processes.

Four videos dropped into the bucket become four runs whose every step is a Celery task executed by
one of the two workers (task ids in the event log), the stage holding GPU components on queue
``gpu`` and the others on ``cpu``, with each worker process loading its model once. Then a worker
is killed with SIGKILL in the middle of a step: the broker delivers the step again to the other
worker, the components that had finished are cache hits, the run succeeds and its manifest says
so, every artifact verifies, and no message stays reserved by the dead worker. A step whose
process dies every time is delivered three times, then fails its run instead of killing worker
after worker.
"""

import os
import re
import shutil
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from dp_assets.cache import check_artifact
from dp_assets.profiles import load_profile
from dp_assets.scaleout.queues import queue_for
from dp_assets.stages import plan_stages
from dp_resources import ArtifactStore
from dp_resources.ids import VideoKey
from dp_resources.video_catalog import VideoCatalog
from tests.scaleout.harness import (
    Database,
    HarnessError,
    Vhost,
    celery_env,
    dagster_daemon,
    dp_worker,
    failures,
    run_steps,
    step_executions,
    wait_until,
    worker_ready,
)

PROFILE = Path(__file__).with_name("celery_profile.yaml")
VIDEOS = {"park": "park_0p55s.mp4", "car": "carphone_qcif_face_noaudio.mp4", "phone": "phone_rot180_vfr.mp4", "tree": "tree_cinepak_noaudio.avi"}
KILLED_VIDEO = ("obama", "obama_statement_face_speech.mp4")
GPU_STAGE = "core_video_probe_stage"
# Bounded waits (s) on 2 shared cores: daemon, code server, 4 run workers and 2 dp workers start
# together; each step is a task in another process.
START_TIMEOUT = 180
RUNS_TIMEOUT = 300
MANIFEST_TIMEOUT = 120  # the run-status sensors tick every 30 s


class Cluster:
    def __init__(self, root: Path, media_dir: Path):
        self.root, self.media_dir = root, media_dir
        self.vhost = self.db = self.daemon = self.instance = None
        self.workers: dict = {}

    def start(self, patch: pytest.MonkeyPatch) -> None:
        self.vhost, self.db = Vhost(), Database()
        weights = self.root / "weights.bin"
        weights.write_bytes(os.urandom(4096))
        # DP_WORKERS: runs orchestrated at once by the daemon's warm run workers
        self.env = celery_env(self.root, self.vhost.url, self.db.url, str(PROFILE), DP_TEST_WEIGHTS=str(weights), DP_WORKERS="4")
        # this process reads the instance and the profile too
        patch.setenv("DAGSTER_PG_URL", self.db.url)
        patch.setenv("DP_TEST_WEIGHTS", str(weights))
        self.profile = load_profile(str(PROFILE))
        self.workers = {name: dp_worker(name, self.env, self.root) for name in ("a", "b")}
        self.daemon = dagster_daemon(self.env, self.root)
        self.instance = dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])

    def logs(self) -> str:
        return "\n".join(p.tail() for p in [*self.workers.values(), self.daemon] if p is not None)

    def wait(self, what, predicate, timeout, every=1.0):
        for process in [self.daemon]:
            if not process.alive():
                pytest.fail(f"{process.name} exited\n{self.logs()}")
        try:
            return wait_until(what, predicate, timeout, every, on_timeout=self.logs)
        except HarnessError as exc:
            pytest.fail(str(exc))

    def drop(self, video_id: str, clip: str) -> None:
        (self.root / "bucket" / "yt").mkdir(exist_ok=True)
        shutil.copyfile(self.media_dir / clip, self.root / "bucket" / "yt" / f"{video_id}{Path(clip).suffix}")

    def runs_of(self, partitions: set[str]):
        return [r for r in self.instance.get_runs() if r.tags.get("dagster/partition") in partitions]

    def finished(self, partitions: set[str]):
        runs = self.runs_of(partitions)
        return runs if len(runs) == len(partitions) and all(r.is_finished for r in runs) else None

    def stop(self) -> None:
        for process in [self.daemon, *self.workers.values()]:
            if process is not None:
                process.stop()
        if self.instance is not None:
            self.instance.dispose()
        if self.vhost is not None:
            self.vhost.delete()
        if self.db is not None:
            self.db.drop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, media_dir):
    cluster = Cluster(tmp_path_factory.mktemp("celery"), media_dir)
    with pytest.MonkeyPatch.context() as patch:
        try:
            cluster.start(patch)
            cluster.wait("both dp workers", lambda: all(worker_ready(w) for w in cluster.workers.values()), START_TIMEOUT)
            yield cluster
        except HarnessError as exc:
            pytest.fail(str(exc))
        finally:
            cluster.stop()


def materialized(instance, run_id: str, after: float = 0.0) -> dict[str, bool]:
    """asset -> cache_hit of the materializations of a run (after ``after``)."""
    found = {}
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        if record.event_log_entry.timestamp > after:
            materialization = record.event_log_entry.dagster_event.event_specific_data.materialization
            found[materialization.asset_key.to_user_string()] = materialization.metadata["cache_hit"].value
    return found


def _worker_of(node: str) -> str:
    """dp worker name of a Celery node name (``gpu-a@host`` -> ``a``)."""
    return node.split("@")[0].rsplit("-", 1)[1]


def test_four_videos_run_as_celery_tasks_on_two_workers_with_gpu_stages_on_queue_gpu(cluster):
    for video_id, clip in VIDEOS.items():
        cluster.drop(video_id, clip)
    partitions = {f"yt/{v}" for v in VIDEOS}
    runs = cluster.wait("the four runs", lambda: cluster.finished(partitions), RUNS_TIMEOUT, every=2)

    assert {r.tags["dagster/partition"]: r.status for r in runs} == {p: dg.DagsterRunStatus.SUCCESS for p in partitions}, "\n".join(
        failures(cluster.instance, r.run_id) for r in runs
    ) + cluster.logs()
    expected_queues = {
        f"{stage[0].spec.modality.value}_{stage[0].name}_stage" if len(stage) > 1 else f"{stage[0].name}_step": queue_for(stage)
        for stage in plan_stages(cluster.profile, "stage")
    }
    assert expected_queues[GPU_STAGE] == "gpu" and sorted(set(expected_queues.values())) == ["cpu", "gpu"]
    nodes = set()
    for run in runs:
        executions = step_executions(cluster.instance, run.run_id)
        succeeded = run_steps(cluster.instance, run.run_id, "STEP_SUCCESS")
        # every step ran as a Celery task on a worker, once, on the queue of its components
        assert sorted(succeeded) == sorted(expected_queues), (run.run_id, succeeded)
        assert sorted(e.step_key for e in executions) == sorted(succeeded)
        assert all(re.fullmatch(r"[0-9a-f-]{36}", e.task_id) for e in executions)
        assert {e.step_key: e.queue for e in executions} == expected_queues
        assert all(e.worker.startswith(f"{e.queue}-") for e in executions)
        nodes |= {e.worker for e in executions}
    assert {_worker_of(n) for n in nodes} == {"a", "b"}, f"both workers take steps: {nodes}"
    assert set(cluster.instance.get_materialized_partitions(dg.AssetKey("features"))) == partitions

    # Each worker process loaded the model once and kept it for every later task it executed.
    loads, gpu_tasks = Counter(), Counter()
    for worker in cluster.workers.values():
        text = worker.text()
        loads.update(re.findall(r"pid=(\d+)\] dataprocessor\.models: loaded model tiny-checksum", text))
    for run in runs:
        gpu_tasks.update(str(e.pid) for e in step_executions(cluster.instance, run.run_id) if e.queue == "gpu")
    assert set(loads) <= set(gpu_tasks) and all(count == 1 for count in loads.values()), (loads, gpu_tasks)
    assert sum(gpu_tasks.values()) == len(VIDEOS) and sum(loads.values()) < sum(gpu_tasks.values()), (loads, gpu_tasks)


def test_a_worker_killed_mid_step_has_its_step_delivered_again_and_the_run_completes(cluster):
    video_id, clip = KILLED_VIDEO
    partition = f"yt/{video_id}"
    cluster.drop(video_id, clip)

    def naps_running():
        runs = cluster.runs_of({partition})
        if not runs:
            return None
        run_id = runs[0].run_id
        started = [e for e in step_executions(cluster.instance, run_id) if e.step_key == GPU_STAGE]
        # model_user finished inside the stage: naps_on_gpu (4 s) computes now
        done = "model_user" in materialized(cluster.instance, run_id)
        return (run_id, started[0]) if started and done else None

    run_id, first = cluster.wait("naps_on_gpu computing", naps_running, RUNS_TIMEOUT, every=0.2)
    victim = cluster.workers[_worker_of(first.worker)]
    victim.kill()  # SIGKILL to the dp worker, its Celery nodes and their children

    run = cluster.wait("the run", lambda: cluster.finished({partition}), RUNS_TIMEOUT, every=1)[0]
    assert run.status == dg.DagsterRunStatus.SUCCESS, failures(cluster.instance, run.run_id) + cluster.logs()
    executions = [e for e in step_executions(cluster.instance, run_id) if e.step_key == GPU_STAGE]
    assert [e.delivery for e in executions] == [1, 2] and executions[0].task_id == executions[1].task_id
    assert _worker_of(executions[1].worker) != _worker_of(first.worker)
    # the components that had finished before the kill are cache hits in the second delivery
    second = materialized(cluster.instance, run_id, after=executions[1].timestamp)
    assert {name: second[name] for name in ("video_probe", "model_user", "naps_on_gpu")} == {
        "video_probe": True,
        "model_user": True,
        "naps_on_gpu": False,
    }

    # nothing partial is accepted: every artifact verifies, and the manifest records the success
    home = Path(cluster.env["DP_HOME"])
    store = ArtifactStore(root=str(home / "artifacts"), frames_root=str(home / "frames"))
    catalog = VideoCatalog(database_url=cluster.env["DP_DATABASE_URL"])
    video = catalog.get(VideoKey.parse(partition))
    versions = cluster.profile.artifact_versions(catalog.inputs(video))
    verdicts = {name: check_artifact(store, video, name, version, thorough=True).verdict.value for name, version in versions.items()}
    assert set(verdicts.values()) == {"valid"}, verdicts
    manifest = store.run_dir("yt", video_id, run_id) / "manifest.json"
    cluster.wait("the run's manifest", lambda: manifest.is_file(), MANIFEST_TIMEOUT)
    assert '"run_status": "ok"' in manifest.read_text()

    # no message stays reserved by the dead worker, nothing waits in a queue
    queues = cluster.vhost.queues()
    assert all(ready == 0 and unacked == 0 for ready, unacked, _ in (queues[q] for q in ("cpu", "gpu"))), queues


def test_a_step_whose_process_dies_every_time_fails_its_run_after_three_deliveries(cluster):
    partition = "yt/doomed"
    alive = [name for name, worker in cluster.workers.items() if worker.alive()]
    # bytes no other video of this module has (a repost would reuse the artifacts, computing nothing)
    cluster.drop("doomed", "iphone_hevc10_hlg_rot90_0p09s.mov")  # kills_its_worker kills the process computing it
    run = cluster.wait("the run", lambda: cluster.finished({partition}), RUNS_TIMEOUT, every=1)[0]
    assert run.status == dg.DagsterRunStatus.FAILURE
    executions = [e for e in step_executions(cluster.instance, run.run_id) if e.step_key == GPU_STAGE]
    assert [e.delivery for e in executions] == [1, 2, 3] and len({e.task_id for e in executions}) == 1
    failure = next(e for e in cluster.instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE")
    error = failure.dagster_event.event_specific_data.error
    assert f"step {GPU_STAGE} was delivered 3 times and each time its worker process died" in error.to_string()
    # the workers replaced their dead processes and go on
    assert [name for name, worker in cluster.workers.items() if worker.alive()] == alive
    assert "features" not in materialized(cluster.instance, run.run_id)
