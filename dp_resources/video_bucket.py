"""The bucket the ingest sensor watches: a local folder by default, any fsspec URL by configuration.

Components open videos by local path (``text_features`` reads the sidecar ``<video_id>.json`` next
to the video), so a local bucket is read in place while an object of a remote bucket (``s3://``
and anything else fsspec speaks) is first downloaded, with its sidecar, into ``cache_dir``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, NonNegativeFloat, PositiveInt

from dp_resources.ids import check_id
from dp_resources.settings import Settings, current_settings, resource_field

# Enough for every container signature we check (an MPEG-TS needs sync bytes at 0 and 188).
SNIFF_BYTES = 512
# Settings of the bucket's connection: bucket_from_env passes them as dg.EnvVar, never as values.
_CONNECTION_SETTINGS = {
    "endpoint_url": "bucket_endpoint_url",
    "access_key_id": "bucket_access_key_id",
    "secret_access_key": "bucket_secret_access_key",
    "region": "bucket_region",
}

FILE, DIR, SYMLINK, OTHER = "file", "dir", "symlink", "other"


@dataclass(frozen=True)
class BucketObject:
    """One listed entry. ``identity`` changes whenever the object does (size + mtime locally,
    size + ETag remotely); ``kind`` is file, dir, symlink or other (FIFO, socket, device).
    ``settled``: complete when listed, so it need not be seen unchanged by a second tick (a
    remote object, whose upload is atomic; a local file not modified for ``settle_s``)."""

    key: str
    kind: str
    size: int
    identity: str
    settled: bool = False


class BucketReadError(Exception):
    """An object that cannot be read; ``permanent`` when retrying the same object cannot help."""

    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def _safe_text(name: str) -> str:
    # Linux names are bytes; undecodable ones arrive surrogate-escaped and would break any UTF-8
    # database or log line, so they are shown with backslash escapes instead (NUL too: an S3 key
    # may hold one, PostgreSQL text may not).
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _classify_read_error(key: str, exc: Exception) -> BucketReadError:
    if isinstance(exc, FileNotFoundError):
        return BucketReadError(f"{key} vanished before it could be read", permanent=False)
    if isinstance(exc, PermissionError) or (isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM)):
        return BucketReadError(f"{key} is not readable: {exc}", permanent=True)
    return BucketReadError(f"{key} could not be read ({type(exc).__name__}: {exc}); retrying next tick", permanent=False)


class VideoBucket(ConfigurableResource):
    url: str = resource_field("bucket_url")
    endpoint_url: str | None = Field(default=None, description=Settings.describe("bucket_endpoint_url"))
    access_key_id: str | None = Field(default=None, description=Settings.describe("bucket_access_key_id"))
    secret_access_key: str | None = Field(default=None, description=Settings.describe("bucket_secret_access_key"))
    region: str | None = Field(default=None, description=Settings.describe("bucket_region"))
    cache_dir: str = resource_field("bucket_cache_dir")
    max_objects_per_tick: PositiveInt = resource_field("bucket_max_objects_per_tick")
    max_bytes_per_tick: PositiveInt = resource_field("bucket_max_bytes_per_tick")
    settle_s: NonNegativeFloat = resource_field("bucket_settle_s")

    # -- where ------------------------------------------------------------------------------
    def _storage_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.access_key_id:
            options["key"] = self.access_key_id
        if self.secret_access_key:
            options["secret"] = self.secret_access_key
        client_kwargs = {k: v for k, v in (("endpoint_url", self.endpoint_url), ("region_name", self.region)) if v}
        if client_kwargs:
            options["client_kwargs"] = client_kwargs
        return options

    def filesystem(self):
        """``(fs, root)`` for a remote bucket, or ``(None, root_path)`` for a local folder."""
        options = self._storage_options() if self.url.startswith(("s3://", "s3a://")) else {}
        return _filesystem(self.url, json.dumps(options, sort_keys=True))

    @property
    def is_local(self) -> bool:
        return "://" not in self.url or self.url.startswith(("file://", "local://"))

    def bucket_id(self) -> str:
        """Names this bucket in the ingest ledger (no credentials); an endpoint makes it distinct."""
        fs, root = self.filesystem()
        if fs is None:
            return f"file://{root}"
        protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
        return f"{protocol}://{root}" + (f"@{self.endpoint_url}" if self.endpoint_url else "")

    # -- listing ----------------------------------------------------------------------------
    def list_objects(self) -> list[BucketObject]:
        """Every entry at depth one or two; symlinks are listed, never followed."""
        fs, root = self.filesystem()
        if fs is None:
            return self._list_local(Path(root))
        fs.invalidate_cache(root)  # a sensor must see this tick's listing, not fsspec's cached one
        found = fs.find(root, detail=True, withdirs=False)
        objects = []
        for path, info in found.items():
            key = path[len(root) + 1 :] if path.startswith(root + "/") else path
            etag = str(info.get("ETag") or info.get("etag") or info.get("md5") or info.get("mtime") or info.get("LastModified") or "").strip('"')
            size = int(info.get("size") or 0)
            # An object store lists an object once its upload completed: settled on first sight.
            kind = FILE if info.get("type", "file") == "file" else DIR
            objects.append(BucketObject(_safe_text(key), kind, size, f"{size}:{etag}", settled=True))
        return objects

    @staticmethod
    def _entry(entry: os.DirEntry, key: str, settled_before: float) -> BucketObject:
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            kind = SYMLINK
        elif stat.S_ISDIR(st.st_mode):
            kind = DIR
        elif stat.S_ISREG(st.st_mode):
            kind = FILE
        else:
            kind = OTHER
        settled = kind == FILE and st.st_mtime <= settled_before
        return BucketObject(_safe_text(key), kind, st.st_size if kind == FILE else 0, f"{st.st_size}:{st.st_mtime_ns}", settled)

    def _list_local(self, root: Path) -> list[BucketObject]:
        objects = []
        settled_before = time.time() - self.settle_s

        def add(entry: os.DirEntry, key: str) -> None:
            try:
                objects.append(self._entry(entry, key, settled_before))
            except FileNotFoundError:
                pass  # removed while we listed: not an object any more

        with os.scandir(root) as top:
            for platform in top:
                if not platform.is_dir(follow_symlinks=False):
                    add(platform, platform.name)
                    continue
                try:
                    with os.scandir(platform.path) as inner:
                        for entry in inner:
                            add(entry, f"{platform.name}/{entry.name}")
                except FileNotFoundError:
                    continue
        return objects

    # -- reading ----------------------------------------------------------------------------
    def _local_path(self, key: str) -> Path:
        return Path(self.filesystem()[1]) / key

    def read_head(self, obj: BucketObject, n: int = SNIFF_BYTES) -> bytes:
        """The first ``n`` bytes (one ranged GET remotely), raising ``BucketReadError``."""
        fs, root = self.filesystem()
        try:
            if fs is not None:
                return fs.cat_file(f"{root}/{obj.key}", start=0, end=n)
            # Opened relative to the platform folder, both with O_NOFOLLOW, then fstat: either may
            # have been swapped for a link (or the file for a FIFO) since the listing; O_NONBLOCK
            # keeps a FIFO from blocking the open.
            folder, name = obj.key.split("/", 1)
            dir_fd = os.open(Path(root) / folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise BucketReadError(f"{obj.key} is no longer a regular file", permanent=True)
                return os.read(fd, n)
            finally:
                os.close(fd)
        except BucketReadError:
            raise
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise BucketReadError(f"{obj.key} (or its folder) became a symlink since the listing", permanent=True) from None
            raise _classify_read_error(obj.key, exc) from None
        except Exception as exc:  # remote clients raise their own types (e.g. botocore errors)
            raise _classify_read_error(obj.key, exc) from None

    def cached_dir(self, platform_id: str, video_id: str, identity: str) -> Path:
        """Download folder of one version of a remote object (a new version never overwrites a
        file that a running run may be reading)."""
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        return Path(self.cache_dir) / check_id("platform_id", platform_id) / check_id("video_id", video_id) / digest

    def localize(self, obj: BucketObject, platform_id: str, video_id: str, sidecar_key: str | None) -> Path:
        """A local path of the object's content: in place for a local bucket, else a download
        (with the sidecar next to it) that is reused when it is already complete."""
        fs, root = self.filesystem()
        if fs is None:
            return self._local_path(obj.key)
        folder = self.cached_dir(platform_id, video_id, obj.identity)
        target = folder / f"{video_id}{Path(obj.key).suffix}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if sidecar_key is not None:
                self._download(fs, f"{root}/{sidecar_key}", folder / f"{video_id}.json")
            if not (target.is_file() and target.stat().st_size == obj.size):
                self._download(fs, f"{root}/{obj.key}", target)
        except Exception as exc:
            raise _classify_read_error(obj.key, exc) from None
        if target.stat().st_size != obj.size:
            # Replaced between listing and download: this folder is named after the old version.
            target.unlink()
            raise BucketReadError(f"{obj.key} changed while it was downloaded; retrying next tick", permanent=False)
        return target

    @staticmethod
    def _download(fs, remote: str, target: Path) -> None:
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            fs.get_file(remote, str(tmp))
            os.replace(tmp, target)  # a reader never sees a half-downloaded file
        finally:
            if tmp.exists():
                tmp.unlink()


@lru_cache(maxsize=32)
def _filesystem(url: str, options_json: str):
    # Cached: a tick asks for it several times per object.
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    if "://" not in url:
        return None, str(Path(url).resolve())
    fs, root = fsspec.core.url_to_fs(url, **json.loads(options_json))
    if isinstance(fs, LocalFileSystem):
        return None, str(Path(root).resolve())
    return fs, root.rstrip("/")


def bucket_from_env() -> VideoBucket:
    """The bucket of this deployment; endpoint and keys go through ``dg.EnvVar`` so the UI never
    shows them, and only when set (unset, s3fs uses the standard AWS credential chain)."""
    import dagster as dg

    settings = current_settings()
    return VideoBucket(
        **{
            field: dg.EnvVar(Settings.variable(setting))
            for field, setting in _CONNECTION_SETTINGS.items()
            if getattr(settings, setting) is not None
        }
    )
