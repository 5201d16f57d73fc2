"""Component outputs on disk: one folder per (platform, video, component, code version).

A folder is built under a temporary name and renamed into place once complete, so a reader never
sees a half-written artifact; ``result.json`` carries the sha256 of every file so "valid" can be
checked. Frames live under a separate root because they are deleted after the retention period
while the (small) features stay.

A repost (the same bytes under another id or platform) adopts a verified artifact of the
original instead of recomputing it: the files are hard-linked (copied across filesystems) into
the repost's own folder, so evicting either video never takes the other's files away.
Plain Python (no Dagster); ``dp_resources.resources`` wraps it for Dagster.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from dp_core.contract import ComponentResult, Status, parquet
from dp_resources.ids import VideoKey, check_id
from dp_resources.settings import dp_home

RESULT_FILE = "result.json"
DATA_FILE = "data.parquet"
# What an interrupted write leaves behind: a staging folder, a replaced artifact moved aside, a
# temporary JSON file, a folder hidden for deletion by eviction or retention. Every such name
# starts with a dot, so readers never take it for an artifact.
LEFTOVER_NAME = re.compile(r"^\..+\.[0-9a-f]{32}\.(staging|old|tmp)$|^\.(evicted|expired)-.+-[0-9a-f]{32}$")


def default_root(sub: str) -> str:
    return str(dp_home() / sub)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, allow_nan=False, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _link_file(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or one without hard links
        shutil.copy2(source, target)


class CorruptArtifactError(Exception):
    pass


def link_or_copy_tree(source: Path, target: Path) -> None:
    """Recreate ``source`` at ``target`` with hard links (a copy where the filesystem cannot link)."""

    shutil.copytree(source, target, copy_function=lambda src, dst: _link_file(Path(src), Path(dst)), dirs_exist_ok=True)


class ArtifactStore(BaseModel):
    root: str = Field(default_factory=lambda: default_root("artifacts"), description="root folder of component artifacts")
    frames_root: str = Field(default_factory=lambda: default_root("frames"), description="root folder of decoded frames (retention-managed)")

    def video_dir(self, platform_id: str, video_id: str) -> Path:
        return Path(self.root) / check_id("platform_id", platform_id) / check_id("video_id", video_id)

    def artifact_dir(self, platform_id: str, video_id: str, component: str, artifact_version: str) -> Path:
        return self.video_dir(platform_id, video_id) / component / artifact_version

    def frames_dir(self, platform_id: str, video_id: str, artifact_version: str) -> Path:
        return Path(self.frames_root) / check_id("platform_id", platform_id) / check_id("video_id", video_id) / artifact_version

    def frames_video_dir(self, platform_id: str, video_id: str) -> Path:
        return Path(self.frames_root) / check_id("platform_id", platform_id) / check_id("video_id", video_id)

    def run_dir(self, platform_id: str, video_id: str, run_id: str) -> Path:
        return self.video_dir(platform_id, video_id) / "runs" / run_id

    def staging_dir(self, final: Path) -> Path:
        staging = final.with_name(f".{final.name}.{uuid.uuid4().hex}.staging")
        staging.mkdir(parents=True)
        return staging

    def leftovers(self, video: VideoKey | None = None) -> list[Path]:
        """What interrupted writes left under one video's folders (or under both roots)."""
        roots = (
            [self.video_dir(video.platform_id, video.video_id), self.frames_video_dir(video.platform_id, video.video_id)]
            if video is not None
            else [Path(self.root), Path(self.frames_root)]
        )
        found = []
        for root in roots:
            if not root.is_dir():
                continue
            for folder, dirs, files in os.walk(root):
                for name in [*dirs, *files]:
                    if LEFTOVER_NAME.match(name):
                        found.append(Path(folder) / name)
                dirs[:] = [d for d in dirs if not LEFTOVER_NAME.match(d)]  # never descend into one
        return sorted(found)

    def sweep(self, video: VideoKey) -> list[Path]:
        """Delete what interrupted writes left under ``video``'s folders; the caller holds the
        video's lock, so no live writer owns any of it."""
        removed = self.leftovers(video)
        for path in removed:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return removed

    def commit(self, staging: Path, final: Path, result: ComponentResult, extra: dict[str, Any]) -> Path:
        """Write ``result`` into ``staging`` and move the folder to ``final`` in one rename."""
        if result.table is not None:
            parquet().write_table(result.table, staging / DATA_FILE)
        files = {}
        for name, value in result.files.items():
            path = Path(value)
            files[name] = path.relative_to(staging).as_posix() if path.is_relative_to(staging) else str(path)
        checksums = {
            p.relative_to(staging).as_posix(): file_sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()
        }
        payload = {
            "status": result.status.value,
            "empty_reason": result.empty_reason,
            "error": result.error,
            "warnings": result.warnings,
            "summary": result.summary,
            "files": files,
            "checksums": checksums,
            "sizes": {name: (staging / name).stat().st_size for name in checksums},
            **extra,
        }
        write_json_atomic(staging / RESULT_FILE, payload)
        return self._publish(staging, final)

    @staticmethod
    def _publish(staging: Path, final: Path) -> Path:
        if final.exists():
            # Replacing an invalid artifact: move it aside first so ``final`` is never half-old.
            trash = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(staging, final)
        return final

    def adopt(self, donor_dir: Path, donor: VideoKey, final: Path, adopter: VideoKey, extra: dict[str, Any]) -> Path:
        """Give ``adopter`` its own copy of a donor's verified artifact (a repost), by hard links.

        Files inside the artifact folder are linked as they are. A file it names under the donor's
        frames folder (``frames_dir``) is linked into the adopter's frames folder and the name
        rewritten, so the adopter never depends on the donor's folders staying.
        """
        staging = self.staging_dir(final)
        payload = json.loads((donor_dir / RESULT_FILE).read_text(encoding="utf-8"))
        for path in donor_dir.rglob("*"):
            if path.is_file() and path.name != RESULT_FILE:
                target = staging / path.relative_to(donor_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                _link_file(path, target)
        donor_frames = self.frames_video_dir(donor.platform_id, donor.video_id)
        own_frames = self.frames_video_dir(adopter.platform_id, adopter.video_id)
        files = dict(payload.get("files", {}))
        for name, value in files.items():
            path = Path(value)
            if path.is_absolute() and path.is_relative_to(donor_frames):
                target = own_frames / path.relative_to(donor_frames)
                if path.is_dir():
                    frames_staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.staging")
                    link_or_copy_tree(path, frames_staging)
                    self._publish(frames_staging, target)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _link_file(path, target)
                files[name] = str(target)
        payload.update(files=files, **extra)
        write_json_atomic(staging / RESULT_FILE, payload)
        return self._publish(staging, final)

    def read(self, folder: Path, verify: bool = True, quick: bool = False, load_table: bool = True) -> ComponentResult:
        """Load an artifact; ``verify`` checks every file's sha256, or only its size if ``quick``.

        The quick check serves repeated requests from the index without hashing large files (a
        long video's waveform is hundreds of MB) on every request; it catches truncated and
        missing files. Runs verify fully before reusing an artifact.
        """
        result_path = folder / RESULT_FILE
        if not result_path.is_file():
            raise FileNotFoundError(f"no artifact at {folder}")
        try:
            payload = json.loads(result_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CorruptArtifactError(f"{result_path}: {exc}") from None
        if verify and quick:
            for name, expected in payload.get("sizes", {}).items():
                path = folder / name
                if not path.is_file() or path.stat().st_size != expected:
                    raise CorruptArtifactError(f"{path}: missing or size mismatch")
        elif verify:
            for name, expected in payload.get("checksums", {}).items():
                path = folder / name
                if not path.is_file() or file_sha256(path) != expected:
                    raise CorruptArtifactError(f"{path}: missing or checksum mismatch")
        table = parquet().read_table(folder / DATA_FILE) if load_table and (folder / DATA_FILE).is_file() else None
        files = {k: str(folder / v) if not Path(v).is_absolute() else v for k, v in payload.get("files", {}).items()}
        if verify:
            # e.g. frames_dir removed by the retention schedule: the artifact can no longer serve
            missing = [f"{k}={v}" for k, v in files.items() if not Path(v).exists()]
            if missing:
                raise CorruptArtifactError(f"{folder}: referenced files are gone: {', '.join(missing)}")
        return ComponentResult(
            status=Status(payload["status"]),
            table=table,
            summary=payload.get("summary", {}),
            empty_reason=payload.get("empty_reason"),
            error=payload.get("error"),
            warnings=payload.get("warnings", []),
            files=files,
        )
