"""Shared fixtures: the real media in ``../shared/media`` and per-test DataProcessor homes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _find_shared() -> Path | None:
    override = os.environ.get("DP_SHARED_DIR")
    candidates = [Path(override)] if override else []
    here = Path(__file__).resolve().parent
    candidates += [parent / "shared" for parent in here.parents] + [parent.parent / "shared" for parent in here.parents]
    for candidate in candidates:
        if (candidate / "media" / "MANIFEST.tsv").is_file():
            return candidate
    return None


SHARED_DIR = _find_shared()


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """``../shared/media``: real third-party clips (see its README for what each one covers)."""
    if SHARED_DIR is None:
        pytest.fail("../shared/media not found next to the checkout; set DP_SHARED_DIR to the shared folder")
    return SHARED_DIR / "media"


@pytest.fixture
def media(media_dir: Path):
    def _path(name: str) -> Path:
        path = media_dir / name
        assert path.is_file(), f"missing test clip {path}"
        return path

    return _path


POSTGRES_URL = os.environ.get("DP_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The DataProcessor database on SQLite (default) and on the PostgreSQL server of this machine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dataprocessor.db'}"
        return
    import uuid

    import sqlalchemy as sa

    name = f"dp_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable (.ci/run starts it): {exc}")
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from dp_resources.database import engine_for

    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
