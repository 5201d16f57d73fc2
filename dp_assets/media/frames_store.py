"""The on-disk layout of the shared ``frames`` decode and how components read it back.

Frames are stored uncompressed (raw RGB, one file per resolution tier) because encoding JPEGs
would cost more than the decode itself; ``frames.parquet`` indexes every stored frame with its
timestamp and the requests it serves. A reader memory-maps the tier, so a component touching
100 frames of a long video does not load the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dp_assets.contract import ComponentResult, FrameRequest, Status

INDEX_FILE = "frames.parquet"

INDEX_SCHEMA = pa.schema(
    [
        pa.field("tier", pa.int32(), nullable=False),
        pa.field("tier_index", pa.int32(), nullable=False),
        pa.field("pts_s", pa.float64(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("requests", pa.list_(pa.string()), nullable=False),
    ]
)


def tier_file(frames_dir: Path, tier: int) -> Path:
    return frames_dir / f"tier_{tier}.rgb"


@dataclass
class FrameSet:
    """The frames one request gets: timestamps (s) and an (n, h, w, 3) uint8 RGB array."""

    pts_s: np.ndarray
    images: np.ndarray

    def __len__(self) -> int:
        return int(self.pts_s.shape[0])


def read_frames(frames: ComponentResult, request: FrameRequest) -> FrameSet:
    """Frames selected for ``request`` from a ``frames`` result (memory-mapped, read-only)."""
    if frames.status is not Status.OK:
        raise ValueError(f"frames are {frames.status.value}, nothing to read")
    frames_dir = Path(frames.files["frames_dir"])
    index = pq.read_table(frames_dir / INDEX_FILE).to_pylist()
    rows = [r for r in index if request.key in r["requests"]]
    if not rows:
        raise KeyError(f"frames_dir {frames_dir} holds no frames for request {request.key}")
    tier = rows[0]["tier"]
    tier_rows = [r for r in index if r["tier"] == tier]
    width, height = tier_rows[0]["width"], tier_rows[0]["height"]
    all_images = np.memmap(tier_file(frames_dir, tier), dtype=np.uint8, mode="r", shape=(len(tier_rows), height, width, 3))
    positions = np.array([r["tier_index"] for r in rows], dtype=np.int64)
    return FrameSet(pts_s=np.array([r["pts_s"] for r in rows], dtype=np.float64), images=all_images[positions])
