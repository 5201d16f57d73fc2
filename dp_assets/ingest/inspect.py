"""What a bucket key may be: layout, extension and ids, and the first bytes of a real container.

Checks here are cheap and local to one object; they decide the permanent outcome of an object
version (the sensor records it and never looks at that version again).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dp_assets.media.container import sniff_container  # noqa: F401  (the sensor's check of an object's first bytes)
from dp_resources.ids import InvalidIdError, VideoKey, check_id, id_from_filename
from dp_resources.video_bucket import DIR, FILE, SYMLINK, BucketObject

# Containers PyAV/FFmpeg decode that carry a video track. Audio-only formats (.flac, .wav) are not
# videos and stay out; the match ignores case (.MP4 is accepted).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".3gp", ".mkv", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".ogv"}
)
SIDECAR_EXTENSION = ".json"

@dataclass(frozen=True)
class ParsedKey:
    platform_id: str
    video_id: str
    extension: str

    @property
    def video(self) -> VideoKey:
        return VideoKey(self.platform_id, self.video_id)

    @property
    def sidecar_key(self) -> str:
        return f"{self.platform_id}/{self.video_id}{SIDECAR_EXTENSION}"


def is_ignored(key: str) -> bool:
    """Hidden names (uploaders' ``.name.part`` temp files, ``.DS_Store``) are not objects."""
    return any(part.startswith(".") and part not in (".", "..") for part in key.split("/"))


def is_sidecar(obj: BucketObject) -> bool:
    return obj.key.lower().endswith(SIDECAR_EXTENSION) and obj.key.count("/") == 1


def parse_key(obj: BucketObject) -> ParsedKey | str:
    """The platform, video id and extension of a well-formed key, else the reason it is not."""
    if obj.kind == SYMLINK:
        return "symlink: not followed (its target could lie outside the bucket and be changed after this check)"
    parts = obj.key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "path with an empty, '.' or '..' segment (could escape the bucket)"
    if len(parts) == 1:
        return "not inside a <platform_id>/ folder (layout: <platform_id>/<video_id>.<ext>)"
    if len(parts) > 2 or obj.kind == DIR:
        return "nested deeper than <platform_id>/<video_id>.<ext>"
    if obj.kind != FILE:
        return "not a regular file (FIFO, socket or device)"
    platform, name = parts
    try:
        check_id("platform_id", platform)
    except InvalidIdError as exc:
        return f"folder {exc}"
    stem, extension = os.path.splitext(name)
    if extension.lower() not in VIDEO_EXTENSIONS:
        return f"unsupported extension {extension or '(none)'!r}; accepted: {' '.join(sorted(VIDEO_EXTENSIONS))}"
    try:
        check_id("video_id", stem)
    except InvalidIdError as exc:
        # Rejected, not rewritten: the id is how training data joins back to its source, and a
        # rewrite can collide ("a b" and "a_b"). The reason names a safe spelling to rename to.
        return f"file name: {exc}; rename it, e.g. to {id_from_filename(stem)}{extension}"
    return ParsedKey(platform, stem, extension)
