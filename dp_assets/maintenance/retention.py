"""What the maintenance jobs delete: frames folders past retention and superseded bucket downloads.

A folder is first renamed out of sight (one atomic step) and then deleted, so a reader sees it
either whole or gone. Every job writes a JSON report of what it removed under ``report_dir``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, PositiveFloat

from dp_resources.artifact_store import write_json_atomic
from dp_resources.settings import dp_home, resource_field
from dp_resources.ids import InvalidIdError, VideoKey
from dp_resources.video_bucket import VideoBucket
from dp_resources.video_catalog import VideoCatalog

# A superseded download may still be read by a run started before the new version arrived; a day
# is far longer than any run.
DEFAULT_DOWNLOAD_GRACE_DAYS = 1.0
# Prefix of a folder renamed away for deletion; a crash between rename and delete leaves one
# behind, which the next cleanup sweeps.
EXPIRED_PREFIX = ".expired-"


class RetentionPolicy(ConfigurableResource):
    frames_retention_days: PositiveFloat = resource_field("frames_retention_days")
    download_grace_days: float = Field(
        default=DEFAULT_DOWNLOAD_GRACE_DAYS,
        gt=0,
        description="a bucket download no longer registered in the catalog is deleted after this long",
    )
    report_dir: str = Field(
        default_factory=lambda: str(dp_home() / "maintenance"),
        description="where each maintenance run writes its JSON report",
    )


@dataclass(frozen=True)
class RemovedFolder:
    path: str
    age_days: float
    bytes: int
    platform_id: str = ""
    video_id: str = ""
    version: str = ""


def _mtime(path: Path) -> float:
    # The newest of the folder and its direct entries: the frames component rewrites files in place.
    newest = path.stat().st_mtime
    with os.scandir(path) as entries:
        for entry in entries:
            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
    return newest


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def remove_folder(path: Path) -> None:
    hidden = path.with_name(f"{EXPIRED_PREFIX}{path.name}-{uuid.uuid4().hex}")
    os.replace(path, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def _age_days(path: Path, now: dt.datetime) -> float:
    return (now.timestamp() - _mtime(path)) / 86400


def expired_frames(frames_root: Path, now: dt.datetime, retention_days: float) -> tuple[list[RemovedFolder], list[Path]]:
    """Frames folders (``<root>/<platform>/<video>/<version>``) older than the retention, and
    leftovers of interrupted deletions."""
    expired, leftovers = [], []
    if not frames_root.is_dir():
        return expired, leftovers
    for platform in sorted(p for p in frames_root.iterdir() if p.is_dir() and not p.is_symlink()):
        for video in sorted(v for v in platform.iterdir() if v.is_dir() and not v.is_symlink()):
            for version in sorted(v for v in video.iterdir() if v.is_dir() and not v.is_symlink()):
                if version.name.startswith(EXPIRED_PREFIX):
                    leftovers.append(version)
                    continue
                if version.name.startswith("."):
                    continue  # staging or eviction in progress: not ours
                try:
                    age = _age_days(version, now)
                except FileNotFoundError:
                    continue  # removed meanwhile
                if age > retention_days:
                    expired.append(RemovedFolder(str(version), round(age, 3), _size(version), platform.name, video.name, version.name))
    return expired, leftovers


def stale_downloads(bucket: VideoBucket, catalog: VideoCatalog, now: dt.datetime, grace_days: float) -> list[RemovedFolder]:
    """Download folders (``<cache>/<platform>/<video>/<identity>``) that hold no file the catalog
    points to and are older than the grace period."""
    root = Path(bucket.cache_dir)
    stale: list[RemovedFolder] = []
    if not root.is_dir():
        return stale
    for platform in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for video in sorted(v for v in platform.iterdir() if v.is_dir() and not v.name.startswith(".")):
            try:
                registered = catalog.lookup(VideoKey(platform.name, video.name))
            except InvalidIdError:
                registered = None
            current = Path(registered.uri).parent if registered is not None else None
            for version in sorted(v for v in video.iterdir() if v.is_dir() and not v.name.startswith(".")):
                if version == current:
                    continue
                age = _age_days(version, now)
                if age > grace_days:
                    stale.append(RemovedFolder(str(version), round(age, 3), _size(version), platform.name, video.name, version.name))
    return stale


def write_report(policy: RetentionPolicy, job: str, now: dt.datetime, run_id: str, payload: dict[str, Any]) -> Path:
    stamp = now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = Path(policy.report_dir) / job / f"{stamp}_{run_id}.json"
    write_json_atomic(path, {"job": job, "run_id": run_id, "now": now.isoformat(), **payload})
    return path


def as_rows(folders: list[RemovedFolder]) -> list[dict[str, Any]]:
    return [asdict(f) for f in folders]
