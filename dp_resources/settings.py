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


def ensure_dagster_home() -> Path:
    """Point ``DAGSTER_HOME`` at a folder holding the project's ``dagster.yaml`` (SQLite by default)."""
    home = Path(os.environ.get("DAGSTER_HOME") or dp_home() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        shutil.copyfile(PROJECT_DIR / "dagster.yaml", instance_yaml)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
