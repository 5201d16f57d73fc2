"""What a bucket key may be: layout, extension and ids, and the first bytes of a real container.

Checks here are cheap and local to one object; they decide the permanent outcome of an object
version (the sensor records it and never looks at that version again).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dp_resources.ids import InvalidIdError, VideoKey, check_id, id_from_filename
from dp_resources.video_bucket import DIR, FILE, SYMLINK, BucketObject

# Containers PyAV/FFmpeg decode that carry a video track. Audio-only formats (.flac, .wav) are not
# videos and stay out; the match ignores case (.MP4 is accepted).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".3gp", ".mkv", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".ogv"}
)
SIDECAR_EXTENSION = ".json"

# First box types of ISO-BMFF files (MP4/MOV/3GP); old QuickTime files may start with mdat/wide/free.
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_TS_PACKET = 188


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


def sniff_container(head: bytes) -> str | None:
    """The container family announced by a file's first bytes, or None for anything else."""
    if len(head) >= 8 and head[4:8] in _ISO_BOXES:
        return "iso-bmff"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "mpeg-ps"
    if len(head) > _TS_PACKET and head[0] == 0x47 and head[_TS_PACKET] == 0x47:
        return "mpeg-ts"
    if head[:3] == b"FLV":
        return "flv"
    if head[:16] == _ASF_GUID:
        return "asf"
    if head[:4] == b"OggS":
        return "ogg"
    return None
