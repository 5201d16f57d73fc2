"""Where DataProcessor keeps its state, chosen by environment variables (never code edits).

``DP_HOME`` (default ``./.dp_home``) holds the artifacts, the frames, the SQLite database and,
unless ``DAGSTER_HOME`` is set, the Dagster instance.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def dp_home() -> Path:
    return Path(os.environ.get("DP_HOME", ".dp_home")).resolve()


def default_database_url() -> str:
    return os.environ.get("DP_DATABASE_URL") or f"sqlite:///{dp_home() / 'dataprocessor.db'}"


INSTANCE_TEMPLATES = {
    "sqlite": PROJECT_DIR / "dagster.yaml",
    "postgres": PROJECT_DIR / "deploy" / "dagster-postgres.yaml",
}


def ensure_dagster_home() -> Path:
    """Point ``DAGSTER_HOME`` at a folder holding an instance ``dagster.yaml``.

    ``DP_INSTANCE`` chooses the template on first use: ``sqlite`` (default, embedded) or
    ``postgres`` (``deploy/dagster-postgres.yaml``, connection from ``DAGSTER_PG_URL``).
    """
    kind = os.environ.get("DP_INSTANCE", "sqlite")
    if kind not in INSTANCE_TEMPLATES:
        raise ValueError(f"DP_INSTANCE must be one of {', '.join(INSTANCE_TEMPLATES)}, not {kind!r}")
    if kind == "postgres" and not os.environ.get("DAGSTER_PG_URL"):
        raise ValueError("DP_INSTANCE=postgres needs DAGSTER_PG_URL=postgresql+psycopg2://USER@HOST:5432/DB")
    default_home = dp_home() / ("dagster" if kind == "sqlite" else f"dagster-{kind}")
    home = Path(os.environ.get("DAGSTER_HOME") or default_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        tmp = instance_yaml.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(INSTANCE_TEMPLATES[kind], tmp)
        os.replace(tmp, instance_yaml)  # a concurrent dp never reads a half-copied file
    os.environ["DAGSTER_HOME"] = str(home)
    return home
