"""The identity of a video: ``(platform_id, video_id)``, and the ids that become folder names.

Two platforms may use the same ``video_id`` for different videos, so a video is always the pair:
in the catalog, the artifact index, the artifact paths and the Dagster partition key
(``<platform_id>/<video_id>``, see :class:`VideoKey`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Letters, digits, dot, dash, underscore; not starting with a dot so hidden names are impossible;
# bounded so paths stay well under filesystem limits. ".." anywhere is refused as well: it reads
# as a parent folder in a path, and Dagster rejects partition keys containing "...".
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
MAX_ID_LENGTH = 128
# Joins platform and video in a partition key; never part of a valid id.
PARTITION_SEPARATOR = "/"


class InvalidIdError(ValueError):
    pass


def check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value) or ".." in value:
        shown = repr(value) if len(str(value)) <= 80 else repr(str(value)[:80]) + "..."
        raise InvalidIdError(
            f"invalid {kind} {shown}: use 1-{MAX_ID_LENGTH} letters, digits, '.', '_' or '-', "
            "not starting with '.' and without '..'"
        )
    return value


def id_from_filename(stem: str) -> str:
    """A safe default video_id from a file name (``My clip (1).mp4`` -> ``My_clip_1``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip("._") or "video"
    return cleaned[:MAX_ID_LENGTH].rstrip(".")


@dataclass(frozen=True, order=True)
class VideoKey:
    """One video: the platform it comes from and its id there (both checked)."""

    platform_id: str
    video_id: str

    def __post_init__(self) -> None:
        check_id("platform_id", self.platform_id)
        check_id("video_id", self.video_id)

    @property
    def partition_key(self) -> str:
        return f"{self.platform_id}{PARTITION_SEPARATOR}{self.video_id}"

    @classmethod
    def parse(cls, partition_key: str) -> "VideoKey":
        """The key of a partition (``youtube/abc123``); a malformed one raises InvalidIdError."""
        platform_id, sep, video_id = partition_key.partition(PARTITION_SEPARATOR)
        if not sep:
            raise InvalidIdError(
                f"partition key {partition_key!r} is not <platform_id>{PARTITION_SEPARATOR}<video_id> "
                "(a partition from before videos were keyed by platform: run `dp migrate`)"
            )
        return cls(platform_id, video_id)

    def __str__(self) -> str:
        return self.partition_key
