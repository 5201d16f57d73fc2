"""The deployment's settings: every environment variable DataProcessor reads, in one validated object.

:class:`Settings` has one field per variable, with its default, its validation and its
description; :meth:`Settings.from_env` reads the environment once and raises
:class:`SettingsError` naming each bad variable. Resources built without a value for a setting
take it from :func:`current_settings` when they are built (``resource_field``), so a deployment is
configured by its environment, never by code edits.

``DP_HOME`` (default ``./.dp_home``) holds the artifacts, the frames, the SQLite database and,
unless ``DAGSTER_HOME`` is set, the Dagster instance. ``python -m dp_resources.settings`` prints
the table of all settings as Markdown (the README's table is generated from it).

This module imports pydantic only, never Dagster: the CLI and ``dp_resources.models`` use it
without loading Dagster.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Callable, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PROFILES_DIR = PROJECT_DIR / "profiles"

INSTANCE_TEMPLATES = {
    "sqlite": PROJECT_DIR / "dagster.yaml",
    "postgres": PROJECT_DIR / "deploy" / "dagster-postgres.yaml",
}


def _check_instance(value: str) -> str:
    if value not in INSTANCE_TEMPLATES:
        raise ValueError(f"Input should be one of {', '.join(INSTANCE_TEMPLATES)}")
    return value


def _check_device(value: str) -> str:
    if value not in ("auto", "cpu") and not re.fullmatch(r"cuda:\d+", value):
        raise ValueError("Input should be auto, cpu or cuda:N")
    return value


def _check_precision(value: str) -> str:
    if value not in ("auto", "fp32", "fp16"):
        raise ValueError("Input should be auto, fp32 or fp16")
    return value


def _check_workers(value: str) -> str:
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        raise ValueError("Input should be auto or a positive integer")
    return value


def _check_gpu_limit(value: str) -> str:
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        raise ValueError("Input should be auto or a positive integer")
    return value


# A worker process holds every model of the baseline profile and its models use two threads
# each: the budget per worker in ``auto``. One baseline `dp process` of the 1080p screen
# recording peaked at 2.22-2.23 GB once OCR's detector moved to OpenVINO, and at 1.93-1.94 GB
# once EfficientNet did too (bench/bench_memory.py; the same code measures ~0.15 GB apart from
# hour to hour), so 2 GiB a worker would leave too little headroom.
GIB_PER_WORKER = 2.5
CORES_PER_WORKER = 2

EXECUTORS = ("in_process", "celery")
# RabbitMQ on this machine with its default account (dagster-celery's default broker), and
# results sent back to the process that submitted the task over the same broker.
DEFAULT_CELERY_BROKER_URL = "pyamqp://guest@127.0.0.1:5672//"
DEFAULT_CELERY_BACKEND_URL = "rpc://"


def _check_executor(value: str) -> str:
    if value not in EXECUTORS:
        raise ValueError(f"Input should be one of {', '.join(EXECUTORS)}")
    return value


# Shared with GpuResource, whose fields take the same values from a profile or from these settings.
Device = Annotated[str, AfterValidator(_check_device)]
Precision = Annotated[str, AfterValidator(_check_precision)]
GpuLimit = Annotated[str, AfterValidator(_check_gpu_limit)]

# Defaults that depend on other settings: (what the table shows, how it is computed).
_DERIVED: dict[str, tuple[str, Callable[[Settings], Any]]] = {
    "profiles_dir": ("<project>/profiles", lambda s: DEFAULT_PROFILES_DIR),
    "database_url": ("sqlite:///<DP_HOME>/dataprocessor.db", lambda s: f"sqlite:///{s.home / 'dataprocessor.db'}"),
    "dagster_home": (
        "<DP_HOME>/dagster (<DP_HOME>/dagster-postgres with DP_INSTANCE=postgres)",
        lambda s: s.home / ("dagster" if s.instance == "sqlite" else f"dagster-{s.instance}"),
    ),
    "bucket_url": ("<DP_HOME>/bucket", lambda s: str(s.home / "bucket")),
    "bucket_cache_dir": ("<DP_HOME>/bucket_cache", lambda s: str(s.home / "bucket_cache")),
    "export_dir": ("<DP_HOME>/exports/training_dataset", lambda s: s.home / "exports" / "training_dataset"),
    "gpu_lock_dir": ("<DP_HOME>/locks/gpu", lambda s: s.home / "locks" / "gpu"),
    "celery_broker_url": (DEFAULT_CELERY_BROKER_URL, lambda s: SecretStr(DEFAULT_CELERY_BROKER_URL)),
    "celery_backend_url": (DEFAULT_CELERY_BACKEND_URL, lambda s: SecretStr(DEFAULT_CELERY_BACKEND_URL)),
}


class SettingsError(ValueError):
    """Invalid settings; the message has one line per bad variable (secrets' values left out)."""


def _derived(variable: str, description: str) -> Any:
    # None until Settings._derive_defaults computes it (see _DERIVED); never validated as a default.
    return Field(default=None, validate_default=False, alias=variable, description=description)


class Settings(BaseModel):
    """Every setting of a deployment; the alias of a field is its environment variable."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # -- where state lives ------------------------------------------------------------------
    home: Path = Field(
        default="./.dp_home",
        validate_default=True,
        alias="DP_HOME",
        description="artifacts, frames, the SQLite database and (unless DAGSTER_HOME is set) the Dagster instance; "
        "a relative path is taken from the working directory",
    )
    profile: str = Field(default="baseline", alias="DP_PROFILE", description="profile name (looked up in DP_PROFILES_DIR) or a YAML path")
    profiles_dir: Path = _derived("DP_PROFILES_DIR", "folder where a profile name is looked up")
    database_url: str = _derived(
        "DP_DATABASE_URL", "SQLAlchemy URL of the DataProcessor database (video catalog, run records, artifact index)"
    )
    instance: Annotated[str, AfterValidator(_check_instance)] = Field(
        default="sqlite",
        alias="DP_INSTANCE",
        description="Dagster instance template copied into DAGSTER_HOME on first use: sqlite (embedded) or "
        "postgres (deploy/dagster-postgres.yaml)",
    )
    dagster_pg_url: SecretStr | None = Field(
        default=None,
        alias="DAGSTER_PG_URL",
        description="PostgreSQL URL of the Dagster instance, required with DP_INSTANCE=postgres "
        "(postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB)",
    )
    dagster_home: Path = _derived("DAGSTER_HOME", "folder of the Dagster instance; its dagster.yaml is copied from the DP_INSTANCE template on first use")

    # -- GPU --------------------------------------------------------------------------------
    device: Device = Field(default="auto", alias="DP_DEVICE", description="auto | cpu | cuda:N (auto: cuda:0 when a CUDA device is usable)")
    precision: Precision = Field(default="auto", alias="DP_PRECISION", description="auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16")
    gpu_max_concurrent: GpuLimit = Field(
        default="auto",
        alias="DP_GPU_MAX_CONCURRENT",
        description="auto | N: GPU components computing at once on this machine, across all runs "
        "(auto: 1 below 24 GiB of VRAM, else one per 24 GiB, at most 4)",
    )
    gpu_lock_dir: Path = _derived(
        "DP_GPU_LOCK_DIR", "folder of this machine's GPU slot locks (must be local to the machine, not a shared mount)"
    )

    # -- throughput -------------------------------------------------------------------------
    workers: Annotated[str, AfterValidator(_check_workers)] = Field(
        default="auto",
        alias="DP_WORKERS",
        description="videos in flight on this machine: warm worker processes that run the daemon's runs, each with its own "
        f"copy of the models (auto: one per {CORES_PER_WORKER} cores and per {GIB_PER_WORKER} GiB of memory, at least 1)",
    )
    batch_max_videos: PositiveInt = Field(
        default=50,
        alias="DP_BATCH_MAX_VIDEOS",
        description="videos per run at most, when new videos arrive together (a bucket-sensor tick, dp process with many paths)",
    )

    # -- cache and retention ----------------------------------------------------------------
    cache_ttl_days: PositiveFloat = Field(
        default=3.0, alias="DP_CACHE_TTL_DAYS", description="serve from cache while the latest successful run is younger (days)"
    )
    max_videos: PositiveInt = Field(
        default=10_000, alias="DP_MAX_VIDEOS", description="unique video_ids kept in the heavy layer, least recently used evicted"
    )
    frames_retention_days: PositiveFloat = Field(
        default=7.0, alias="DP_FRAMES_RETENTION_DAYS", description="frames folders older than this (days) are deleted by frames_cleanup"
    )

    # -- the training dataset ---------------------------------------------------------------
    export_dir: Path = _derived(
        "DP_EXPORT_DIR", "where the training_dataset asset (materialized from the UI) writes the Parquet dataset"
    )

    # -- the bucket the ingest sensor watches -----------------------------------------------
    bucket_url: str = _derived(
        "DP_BUCKET_URL", "local folder or fsspec URL (s3://bucket/prefix) laid out as <platform_id>/<video_id>.<ext>"
    )
    bucket_endpoint_url: str | None = Field(default=None, alias="DP_BUCKET_ENDPOINT_URL", description="S3-compatible endpoint")
    bucket_access_key_id: str | None = Field(
        default=None, alias="DP_BUCKET_ACCESS_KEY_ID", description="S3 access key (unset: the standard AWS credential chain)"
    )
    bucket_secret_access_key: SecretStr | None = Field(default=None, alias="DP_BUCKET_SECRET_ACCESS_KEY", description="S3 secret key")
    bucket_region: str | None = Field(default=None, alias="DP_BUCKET_REGION", description="S3 region")
    bucket_cache_dir: str = _derived("DP_BUCKET_CACHE_DIR", "where objects of a remote bucket are downloaded")
    # A tick must finish well inside Dagster's 60 s sensor timeout; at ~2 ms per local object 1000
    # keeps one tick near 2 s, and 10,000 new objects take ten ticks.
    bucket_max_objects_per_tick: PositiveInt = Field(
        default=1000,
        alias="DP_BUCKET_MAX_OBJECTS_PER_TICK",
        description="objects decided per sensor tick; the rest wait for the next tick",
    )
    # Remote objects are downloaded inside the tick: 1 GiB is ~10 s at 100 MB/s. One object is always
    # taken, however large, so a big video is never stuck behind the budget.
    bucket_max_bytes_per_tick: PositiveInt = Field(
        default=1 << 30,
        alias="DP_BUCKET_MAX_BYTES_PER_TICK",
        description="bytes downloaded per tick from a remote bucket (1 GiB); one object is always taken, however large",
    )
    # A local file still being written keeps getting a new mtime; one quiet for a few seconds is
    # taken at once instead of a whole sensor interval later. A writer that stalls longer makes a
    # video that fails as truncated, then is processed again once the file changes.
    bucket_settle_s: NonNegativeFloat = Field(
        default=2.0,
        alias="DP_BUCKET_SETTLE_S",
        description="a local file last modified at least this many seconds before the listing is taken on first sight; "
        "a younger one waits for a tick that sees it unchanged (objects of a remote bucket are complete when listed)",
    )
    bucket_sensor_interval_s: PositiveInt = Field(
        default=30, alias="DP_BUCKET_SENSOR_INTERVAL_S", description="seconds between two evaluations of the bucket sensor"
    )

    # -- scale-out: steps as Celery tasks on workers of several machines --------------------
    executor: Annotated[str, AfterValidator(_check_executor)] = Field(
        default="in_process",
        alias="DP_EXECUTOR",
        description="in_process (a run's steps execute in the process executing the run) | celery (each step, one stage "
        "of a video, is a task for `dp worker` processes on any machine; needs the PostgreSQL instance and database "
        "and DP_SHARED_HOME)",
    )
    celery_broker_url: SecretStr = _derived(
        "DP_CELERY_BROKER_URL", "Celery broker of DP_EXECUTOR=celery: RabbitMQ, amqp://USER:PASSWORD@HOST:5672/VHOST"
    )
    celery_backend_url: SecretStr = _derived(
        "DP_CELERY_BACKEND_URL", "where Celery workers send step results (rpc://: back over the broker to the process that submitted the step)"
    )
    shared_home: bool = Field(
        default=False,
        alias="DP_SHARED_HOME",
        description="true when DP_HOME is a folder every machine mounts at the same path (artifacts, frames and "
        "downloaded videos are read by steps on other machines); required by DP_EXECUTOR=celery",
    )

    @field_validator("home", "dagster_home", "export_dir", "gpu_lock_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        if self.instance == "postgres" and self.dagster_pg_url is None:
            raise ValueError("DAGSTER_PG_URL must be set with DP_INSTANCE=postgres (postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB)")
        for name, (_, derive) in _DERIVED.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, derive(self))  # the model is frozen once this returns
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``environ`` (default ``os.environ``); an empty variable counts as unset."""
        environ = os.environ if environ is None else environ
        values = {info.alias: environ[info.alias] for info in cls.model_fields.values() if environ.get(info.alias)}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of field ``name``."""
        return cls.model_fields[name].alias

    @classmethod
    def describe(cls, name: str) -> str:
        """The description of field ``name`` followed by its variable, for a resource field's description."""
        return f"{cls.model_fields[name].description} (env {cls.variable(name)})"

    @classmethod
    def is_secret(cls, name: str) -> bool:
        annotation = cls.model_fields[name].annotation
        return annotation is SecretStr or SecretStr in get_args(annotation)

    @classmethod
    def table(cls) -> list[tuple[str, str, str]]:
        """One row per setting: variable, default (as text, empty when unset) and description."""
        rows = []
        for name, info in cls.model_fields.items():
            default = _DERIVED[name][0] if name in _DERIVED else "" if info.default is None else str(info.default)
            description = f"{info.description}; secret, never shown" if cls.is_secret(name) else info.description
            rows.append((cls.variable(name), default, description))
        return rows


def _explain(exc: ValidationError) -> str:
    """One line per bad variable: ``VARIABLE='value': problem`` (a secret's value is left out)."""
    problems: dict[str, list[str]] = {}  # "VARIABLE='value'" (empty for a rule across settings) -> messages
    for error in exc.errors():
        # A validator's ValueError arrives as "Value error, <message>": keep the message.
        message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
        subject = ""
        if error["loc"]:
            name = _field_name(str(error["loc"][0]))
            value = "<secret>" if Settings.is_secret(name) else repr(error["input"])
            subject = f"{Settings.variable(name)}={value}"
        problems.setdefault(subject, []).append(message)
    return "\n".join(f"{subject}: {'; '.join(messages)}" if subject else "; ".join(messages) for subject, messages in problems.items())


def _field_name(loc: str) -> str:
    # Errors name a field by its variable when validated from the environment, else by its name.
    return next((name for name in Settings.model_fields if loc in (name, Settings.variable(name))), loc)


def current_settings() -> Settings:
    """The settings of this process's environment, read afresh on each call (it is cheap)."""
    return Settings.from_env()


def resource_field(name: str) -> Any:
    """A resource field whose default is setting ``name``, read when the resource is built."""
    return Field(default_factory=lambda: getattr(current_settings(), name), description=Settings.describe(name))


def auto_workers() -> int:
    """``DP_WORKERS=auto``: one worker per ``CORES_PER_WORKER`` cores and per ``GIB_PER_WORKER``
    GiB of physical memory, at least one."""
    cores = os.cpu_count() or 1
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return max(1, min(cores // CORES_PER_WORKER, int(memory_gib // GIB_PER_WORKER)))


def dp_home() -> Path:
    return current_settings().home


def default_database_url() -> str:
    return current_settings().database_url


def ensure_dagster_home() -> Path:
    """Point ``DAGSTER_HOME`` at a folder holding an instance ``dagster.yaml``.

    ``DP_INSTANCE`` chooses the template on first use: ``sqlite`` (default, embedded) or
    ``postgres`` (``deploy/dagster-postgres.yaml``, connection from ``DAGSTER_PG_URL``). A file
    that DataProcessor installed from an older template and nobody edited since is brought up to
    this version's template (the warm workers, the queue's period, run monitoring live there);
    an edited one is the user's and stays as it is (``dp doctor`` reports it, ``dp migrate``
    replaces it and keeps a copy).
    """
    settings = current_settings()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    template = INSTANCE_TEMPLATES[settings.instance]
    state = instance_yaml_state(settings)
    if state == "missing":
        install_instance_yaml(template, home)
    elif state == "outdated":
        install_instance_yaml(template, home)
        print(f"dp: updated {home / 'dagster.yaml'} to this version's instance template {template.name} (it had not been edited)", file=sys.stderr)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


# The sha256 of dagster.yaml as DataProcessor last wrote it: a file that still has it was not
# edited, so a newer template may replace it.
INSTALLED_RECORD = ".dagster.yaml.installed"


def _rendered(template: Path, home: Path) -> str:
    return template.read_text().replace("${DAGSTER_HOME}", str(home.resolve()))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def instance_yaml_state(settings: Settings) -> str:
    """What the deployment's ``$DAGSTER_HOME/dagster.yaml`` is against its ``DP_INSTANCE``
    template: ``current``, ``missing``, ``outdated`` (an older template that nobody edited), or
    ``edited`` (changed by hand, or installed before DataProcessor recorded what it wrote)."""
    template, home = INSTANCE_TEMPLATES[settings.instance], settings.dagster_home
    try:
        text = (home / "dagster.yaml").read_text()
    except FileNotFoundError:
        return "missing"
    if text == _rendered(template, home):
        return "current"
    try:
        recorded = (home / INSTALLED_RECORD).read_text().strip()
    except FileNotFoundError:
        return "edited"
    return "outdated" if recorded == _sha256(text) else "edited"


def install_instance_yaml(template: Path, home: Path) -> Path:
    """Write ``template`` to ``home/dagster.yaml`` with ``${DAGSTER_HOME}`` replaced by ``home``.

    The instance file then names its own folder: opening it never depends on what the
    ``DAGSTER_HOME`` of the process that opens it says.
    """
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    text = _rendered(template, home)
    for path, content in ((home / INSTALLED_RECORD, _sha256(text) + "\n"), (instance_yaml, text)):
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(content)
        os.replace(tmp, path)  # a concurrent dp never reads a half-written file
    return instance_yaml


def markdown_table() -> str:
    """The settings as a Markdown table (variable, default, description)."""

    def cell(text: str) -> str:
        # A bare <platform_id> would be read as an HTML tag, a bare | as a column break.
        return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")

    lines = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    lines += [f"| `{v}` | {f'`{d}`' if d else ''} | {cell(text)} |" for v, d, text in Settings.table()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
