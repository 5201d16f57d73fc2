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
