"""The code location loads as the daemon loads it, with the ingest sensor and maintenance schedules."""

import dagster as dg

from dp_assets.assembly import PROCESS_VIDEO_JOB, build_definitions
from dp_assets.ingest.sensor import BUCKET_SENSOR
from dp_assets.profiles import load_profile
from dp_resources.video_bucket import VideoBucket


def test_every_definition_loads_and_runs_by_default(tmp_path):
    defs = build_definitions(load_profile("skeleton"), bucket=VideoBucket(url=str(tmp_path)))
    dg.Definitions.validate_loadable(defs)
    repository = defs.get_repository_def()
    repository.load_all_definitions()  # what the code server does: name clashes fail here
    sensor = repository.get_sensor_def(BUCKET_SENSOR)
    assert sensor.job_name == PROCESS_VIDEO_JOB and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    schedules = {s.name: s for s in repository.schedule_defs}
    assert set(schedules) == {"frames_cleanup_daily", "cache_maintenance_daily"}
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING and s.execution_timezone == "UTC" for s in schedules.values())
    assert {"bucket", "index", "retention", "store", "catalog"} <= set(repository.get_top_level_resources())
