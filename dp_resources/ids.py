"""Validation of the ids that become folder names under the artifact root."""

from __future__ import annotations

import re

# Letters, digits, dot, dash, underscore; not starting with a dot so ``..`` and hidden names are
# impossible; bounded so paths stay well under filesystem limits.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


class InvalidIdError(ValueError):
    pass


def check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        shown = repr(value) if len(str(value)) <= 80 else repr(str(value)[:80]) + "..."
        raise InvalidIdError(
            f"invalid {kind} {shown}: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'"
        )
    return value


def id_from_filename(stem: str) -> str:
    """A safe default video_id from a file name (``My clip (1).mp4`` -> ``My_clip_1``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "video"
    return cleaned[:128]
