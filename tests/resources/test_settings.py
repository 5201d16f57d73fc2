"""The settings object: defaults, one variable per field, errors naming the variable, no secret
shown, and resources built without arguments following the environment."""

from pathlib import Path

import pytest

from dp_assets.maintenance.retention import RetentionPolicy
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore
from dp_resources.settings import (
    DEFAULT_PROFILES_DIR,
    Settings,
    SettingsError,
    current_settings,
    default_database_url,
    dp_home,
    ensure_dagster_home,
    markdown_table,
)
from dp_resources.video_bucket import VideoBucket, bucket_from_env
from dp_resources.video_catalog import VideoCatalog

# One value per variable, each different from its default (and valid).
VALUES = {
    "DP_HOME": "/srv/dp",
    "DP_PROFILE": "full",
    "DP_PROFILES_DIR": "/srv/profiles",
    "DP_DATABASE_URL": "postgresql+psycopg2://dp@db:5432/dp",
    "DP_INSTANCE": "postgres",
    "DAGSTER_PG_URL": "postgresql+psycopg2://dagster:pw@db:5432/dagster",
    "DAGSTER_HOME": "/srv/dagster",
    "DP_DEVICE": "cuda:1",
    "DP_PRECISION": "fp16",
    "DP_GPU_MAX_CONCURRENT": "2",
    "DP_GPU_LOCK_DIR": "/run/dp-gpu",
    "DP_WORKERS": "3",
    "DP_BATCH_MAX_VIDEOS": "20",
    "DP_CACHE_TTL_DAYS": "0.5",
    "DP_MAX_VIDEOS": "12",
    "DP_FRAMES_RETENTION_DAYS": "2",
    "DP_EXPORT_DIR": "/srv/exports/train",
    "DP_BUCKET_URL": "s3://videos/in",
    "DP_BUCKET_ENDPOINT_URL": "http://minio:9000",
    "DP_BUCKET_ACCESS_KEY_ID": "AKID",
    "DP_BUCKET_SECRET_ACCESS_KEY": "s3cr3t-value",
    "DP_BUCKET_REGION": "eu-west-1",
    "DP_BUCKET_CACHE_DIR": "/srv/cache",
    "DP_BUCKET_MAX_OBJECTS_PER_TICK": "5",
    "DP_BUCKET_MAX_BYTES_PER_TICK": "1024",
    "DP_BUCKET_SENSOR_INTERVAL_S": "7",
    "DP_BUCKET_SETTLE_S": "0.5",
    "DP_EXECUTOR": "celery",
    "DP_CELERY_BROKER_URL": "amqp://dp:pw@mq:5672/dp",
    "DP_CELERY_BACKEND_URL": "redis://:pw@redis:6379/0",
    "DP_SHARED_HOME": "true",
}

EXPECTED = {
    "home": Path("/srv/dp"),
    "profile": "full",
    "profiles_dir": Path("/srv/profiles"),
    "database_url": "postgresql+psycopg2://dp@db:5432/dp",
    "instance": "postgres",
    "dagster_home": Path("/srv/dagster"),
    "device": "cuda:1",
    "precision": "fp16",
    "gpu_max_concurrent": "2",
    "gpu_lock_dir": Path("/run/dp-gpu"),
    "workers": "3",
    "batch_max_videos": 20,
    "cache_ttl_days": 0.5,
    "max_videos": 12,
    "frames_retention_days": 2.0,
    "export_dir": Path("/srv/exports/train"),
    "bucket_url": "s3://videos/in",
    "bucket_endpoint_url": "http://minio:9000",
    "bucket_access_key_id": "AKID",
    "bucket_region": "eu-west-1",
    "bucket_cache_dir": "/srv/cache",
    "bucket_max_objects_per_tick": 5,
    "bucket_max_bytes_per_tick": 1024,
    "bucket_sensor_interval_s": 7,
    "bucket_settle_s": 0.5,
    "executor": "celery",
    "shared_home": True,
}
SECRETS = {
    "dagster_pg_url": "DAGSTER_PG_URL",
    "bucket_secret_access_key": "DP_BUCKET_SECRET_ACCESS_KEY",
    "celery_broker_url": "DP_CELERY_BROKER_URL",
    "celery_backend_url": "DP_CELERY_BACKEND_URL",
}


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No DataProcessor or Dagster variable set, working directory a temporary folder."""
    for variable in VALUES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults(clean_env, tmp_path):
    settings = Settings.from_env()
    home = tmp_path.resolve() / ".dp_home"
    assert settings.home == home
    assert settings.profile == "baseline"
    assert settings.profiles_dir == DEFAULT_PROFILES_DIR
    assert settings.database_url == f"sqlite:///{home / 'dataprocessor.db'}"
    assert settings.instance == "sqlite"
    assert settings.dagster_pg_url is None
    assert settings.dagster_home == home / "dagster"
    assert (settings.device, settings.precision, settings.gpu_max_concurrent) == ("auto", "auto", "auto")
    assert (settings.cache_ttl_days, settings.max_videos, settings.frames_retention_days) == (3.0, 10_000, 7.0)
    assert settings.bucket_url == str(home / "bucket")
    assert settings.bucket_cache_dir == str(home / "bucket_cache")
    assert settings.bucket_endpoint_url is settings.bucket_access_key_id is settings.bucket_secret_access_key is settings.bucket_region is None
    assert settings.bucket_max_objects_per_tick == 1000
    assert settings.bucket_max_bytes_per_tick == 1 << 30
    assert settings.bucket_sensor_interval_s == 30
    assert settings.bucket_settle_s == 2.0


def test_derived_defaults_follow_dp_home_and_the_instance():
    settings = Settings.from_env({"DP_HOME": "/srv/dp", "DP_INSTANCE": "postgres", "DAGSTER_PG_URL": "postgresql+psycopg2://d@h/db"})
    assert settings.dagster_home == Path("/srv/dp/dagster-postgres")
    assert settings.database_url == "sqlite:////srv/dp/dataprocessor.db"
    assert settings.bucket_url == "/srv/dp/bucket"


def test_every_variable_maps_to_its_field():
    settings = Settings.from_env(VALUES)
    assert {name: getattr(settings, name) for name in EXPECTED} == EXPECTED
    assert {name: getattr(settings, name).get_secret_value() for name in SECRETS} == {n: VALUES[v] for n, v in SECRETS.items()}
    # ... and every field is one of these variables: nothing is read that the table does not list.
    assert sorted(Settings.variable(name) for name in Settings.model_fields) == sorted(VALUES)
    assert [row[0] for row in Settings.table()] == [Settings.variable(name) for name in Settings.model_fields]


def test_an_empty_variable_counts_as_unset():
    assert Settings.from_env({"DP_HOME": "", "DP_CACHE_TTL_DAYS": "", "DP_DEVICE": ""}) == Settings.from_env({})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DP_CACHE_TTL_DAYS": "abc"}, "DP_CACHE_TTL_DAYS='abc': Input should be a valid number"),
        ({"DP_MAX_VIDEOS": "0"}, "DP_MAX_VIDEOS='0': Input should be greater than 0"),
        ({"DP_MAX_VIDEOS": "1.5"}, "DP_MAX_VIDEOS='1.5': Input should be a valid integer"),
        ({"DP_DEVICE": "gpu"}, "DP_DEVICE='gpu': Input should be auto, cpu or cuda:N"),
        ({"DP_PRECISION": "bf16"}, "DP_PRECISION='bf16': Input should be auto, fp32 or fp16"),
        ({"DP_GPU_MAX_CONCURRENT": "0"}, "DP_GPU_MAX_CONCURRENT='0': Input should be auto or a positive integer"),
        ({"DP_INSTANCE": "mysql"}, "DP_INSTANCE='mysql': Input should be one of sqlite, postgres"),
        ({"DP_BUCKET_SENSOR_INTERVAL_S": "-1"}, "DP_BUCKET_SENSOR_INTERVAL_S='-1': Input should be greater than 0"),
        ({"DP_BUCKET_SETTLE_S": "-1"}, "DP_BUCKET_SETTLE_S='-1': Input should be greater than or equal to 0"),
        ({"DP_INSTANCE": "postgres"}, "DAGSTER_PG_URL must be set with DP_INSTANCE=postgres"),
    ],
)
def test_an_invalid_value_names_its_variable(environ, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_one_line_per_bad_variable():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"DP_CACHE_TTL_DAYS": "abc", "DP_MAX_VIDEOS": "0", "DP_DEVICE": "gpu"})
    lines = str(caught.value).splitlines()
    assert sorted(line.split("=", 1)[0] for line in lines) == ["DP_CACHE_TTL_DAYS", "DP_DEVICE", "DP_MAX_VIDEOS"]


def test_secrets_are_never_shown():
    settings = Settings.from_env(VALUES)
    for text in (repr(settings), str(settings), markdown_table()):
        assert "s3cr3t-value" not in text and ":pw@" not in text
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**VALUES, "DP_MAX_VIDEOS": "none"})
    assert "s3cr3t-value" not in str(caught.value) and ":pw@" not in str(caught.value)


def test_the_table_lists_every_setting_with_its_default():
    rows = {variable: (default, description) for variable, default, description in Settings.table()}
    assert rows["DP_CACHE_TTL_DAYS"][0] == "3.0"
    assert rows["DP_HOME"][0] == "./.dp_home"
    assert rows["DP_DATABASE_URL"][0] == "sqlite:///<DP_HOME>/dataprocessor.db"
    assert rows["DP_BUCKET_REGION"][0] == ""
    assert all(description for _, description in rows.values())
    table = markdown_table().splitlines()
    assert table[0] == "| Variable | Default | Description |" and len(table) == 2 + len(rows)


def test_resources_built_without_arguments_follow_the_environment(clean_env, tmp_path):
    clean_env.setenv("DP_HOME", str(tmp_path / "home"))
    clean_env.setenv("DP_CACHE_TTL_DAYS", "1.5")
    clean_env.setenv("DP_MAX_VIDEOS", "3")
    clean_env.setenv("DP_FRAMES_RETENTION_DAYS", "4")
    clean_env.setenv("DP_BUCKET_MAX_OBJECTS_PER_TICK", "9")
    home = tmp_path.resolve() / "home"
    assert dp_home() == home == current_settings().home
    assert default_database_url() == f"sqlite:///{home / 'dataprocessor.db'}"
    index = ArtifactIndex()
    assert (index.cache_ttl_days, index.max_videos, index.database_url) == (1.5, 3, default_database_url())
    assert VideoCatalog().database_url == default_database_url()
    assert ArtifactStore().root == str(home / "artifacts")
    assert RetentionPolicy().frames_retention_days == 4
    bucket = VideoBucket()
    assert (bucket.url, bucket.cache_dir, bucket.max_objects_per_tick) == (str(home / "bucket"), str(home / "bucket_cache"), 9)
    # Read when the resource is built, not when the module was imported.
    clean_env.setenv("DP_CACHE_TTL_DAYS", "2")
    assert ArtifactIndex().cache_ttl_days == 2


def test_an_explicit_value_still_wins_and_is_still_checked(clean_env):
    clean_env.setenv("DP_MAX_VIDEOS", "3")
    assert ArtifactIndex(max_videos=7).max_videos == 7
    with pytest.raises(ValueError):
        ArtifactIndex(max_videos=0)


def test_a_resource_built_in_a_bad_environment_names_the_variable(clean_env):
    clean_env.setenv("DP_CACHE_TTL_DAYS", "abc")
    with pytest.raises(SettingsError, match="DP_CACHE_TTL_DAYS='abc'"):
        ArtifactIndex()


def test_bucket_from_env_passes_connection_settings_as_env_vars(clean_env):
    import dagster as dg

    clean_env.setenv("DP_BUCKET_SECRET_ACCESS_KEY", "s3cr3t-value")
    clean_env.setenv("DP_BUCKET_REGION", "eu-west-1")
    bucket = bucket_from_env()
    # The configuration (what the UI shows) names the variables; Dagster resolves them at run time.
    assert "s3cr3t-value" not in repr(bucket)
    assert bucket.secret_access_key == dg.EnvVar("DP_BUCKET_SECRET_ACCESS_KEY")
    assert bucket.region == dg.EnvVar("DP_BUCKET_REGION")
    assert bucket.endpoint_url is None and bucket.access_key_id is None


def test_ensure_dagster_home_copies_the_template_of_the_instance(clean_env, tmp_path):
    clean_env.setenv("DP_HOME", str(tmp_path / "home"))
    home = ensure_dagster_home()
    assert home == tmp_path.resolve() / "home" / "dagster"
    assert (home / "dagster.yaml").is_file()
    clean_env.setenv("DP_INSTANCE", "postgres")
    with pytest.raises(SettingsError, match="DAGSTER_PG_URL must be set"):
        ensure_dagster_home()
