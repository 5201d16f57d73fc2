"""The on-disk layout of the shared ``frames`` decode and how components read it back.

Frames are stored uncompressed (raw RGB, one file per resolution tier) because encoding JPEGs
would cost more than the decode itself; ``frames.parquet`` indexes every stored frame with its
timestamp and the requests it serves. A reader gets a :class:`FrameImages` that reads a frame
from the tier file when it is asked for, so a component that works frame by frame (or in
batches) holds one frame (or one batch), however many frames were sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from dp_assets.contract import ComponentResult, FrameRequest, Status
from dp_core.contract import parquet

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


class FrameImages:
    """The (n, h, w, 3) uint8 RGB frames of one request, read from the tier file on access.

    It indexes like the array it stands for: ``images[k]`` is one (h, w, 3) frame, a slice or a
    list of positions gives the stacked frames, iteration yields one frame at a time, and
    ``shape``, ``len``, ``np.asarray(images)`` work. Every access returns a fresh array read with
    ``pread``: nothing is memory-mapped, because pages of a mapped file that a reader has touched
    stay in its resident memory, so iterating over a 300-frame 720p memmap grew RSS by 0.8 GB
    (see docs/reliability.md) although only one frame was in use at a time.
    """

    def __init__(self, path: Path, positions: np.ndarray, height: int, width: int):
        self.path = Path(path)
        self.positions = np.asarray(positions, dtype=np.int64)
        self.shape = (int(self.positions.shape[0]), int(height), int(width), 3)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4
        self._frame_bytes = int(height) * int(width) * 3

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, positions: np.ndarray) -> np.ndarray:
        """Frames at tier positions ``positions`` as one (k, h, w, 3) array; a run of consecutive
        positions is one read."""
        out = np.empty((len(positions), *self.shape[1:]), dtype=np.uint8)
        flat = out.reshape(len(positions), self._frame_bytes)
        with open(self.path, "rb", buffering=0) as handle:
            k = 0
            while k < len(positions):
                run = 1
                while k + run < len(positions) and positions[k + run] == positions[k] + run:
                    run += 1
                handle.seek(int(positions[k]) * self._frame_bytes)
                buffer = memoryview(flat[k : k + run].reshape(-1))
                filled = 0
                while filled < len(buffer):  # one read returns at most ~2 GiB on Linux
                    got = handle.readinto(buffer[filled:])
                    if not got:
                        raise ValueError(f"{self.path}: frame {int(positions[k])} lies past the end of the file")
                    filled += got
                k += run
        return out

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            index = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(f"frame {int(key)} out of range for {len(self)} frames")
            return self._read(self.positions[index : index + 1])[0]
        if isinstance(key, slice) or (isinstance(key, (list, np.ndarray)) and np.asarray(key).ndim == 1):
            return self._read(self.positions[key])
        raise TypeError(f"frames are indexed by an int, a slice or a list of positions, not {type(key).__name__}")

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self[index]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        # All frames at once: only for callers that really want the whole stack in memory.
        images = self._read(self.positions)
        return images if dtype is None else images.astype(dtype, copy=False)


@dataclass
class FrameSet:
    """The frames one request gets: timestamps (s) and their (n, h, w, 3) uint8 RGB images."""

    pts_s: np.ndarray
    images: FrameImages

    def __len__(self) -> int:
        return int(self.pts_s.shape[0])


def read_frames(frames: ComponentResult, request: FrameRequest) -> FrameSet:
    """Frames selected for ``request`` from a ``frames`` result (read on access, see FrameImages)."""
    if frames.status is not Status.OK:
        raise ValueError(f"frames are {frames.status.value}, nothing to read")
    frames_dir = Path(frames.files["frames_dir"])
    index = parquet().read_table(frames_dir / INDEX_FILE).to_pylist()
    rows = [r for r in index if request.key in r["requests"]]
    if not rows:
        raise KeyError(f"frames_dir {frames_dir} holds no frames for request {request.key}")
    tier = rows[0]["tier"]
    tier_rows = [r for r in index if r["tier"] == tier]
    width, height = tier_rows[0]["width"], tier_rows[0]["height"]
    path = tier_file(frames_dir, tier)
    expected = len(tier_rows) * height * width * 3
    if path.stat().st_size != expected:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, the index describes {len(tier_rows)} frames of {width}x{height} ({expected} bytes)")
    positions = np.array([r["tier_index"] for r in rows], dtype=np.int64)
    return FrameSet(pts_s=np.array([r["pts_s"] for r in rows], dtype=np.float64), images=FrameImages(path, positions, height, width))
