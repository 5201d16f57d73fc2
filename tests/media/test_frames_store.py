"""``FrameImages``: the frames of a request read from the tier file on access, indexing like the
(n, h, w, 3) array it stands for, with memory that does not grow with the number of frames."""

from __future__ import annotations

import numpy as np
import psutil
import pytest

from dp_assets.media.frames_store import FrameImages


@pytest.fixture
def tier(tmp_path):
    """A tier file of 10 frames of 6x4 px whose every byte says which frame it belongs to."""
    frames = np.stack([np.full((4, 6, 3), 10 + k, np.uint8) for k in range(10)])
    frames[:, 0, 0, 0] = np.arange(10)  # one pixel that differs inside each frame
    path = tmp_path / "tier_64.rgb"
    frames.tofile(path)
    return path, frames


def test_indexes_like_the_array_it_stands_for(tier):
    path, frames = tier
    positions = np.array([1, 2, 3, 7, 9])  # one run of three, then two singles
    images = FrameImages(path, positions, height=4, width=6)
    expected = frames[positions]
    assert images.shape == expected.shape and len(images) == 5 and images.dtype == np.uint8
    np.testing.assert_array_equal(images[0], expected[0])
    np.testing.assert_array_equal(images[np.int64(3)], expected[3])
    np.testing.assert_array_equal(images[-1], expected[-1])
    np.testing.assert_array_equal(images[1:4], expected[1:4])
    np.testing.assert_array_equal(images[::2], expected[::2])
    np.testing.assert_array_equal(images[[4, 0]], expected[[4, 0]])
    np.testing.assert_array_equal(np.stack(list(images)), expected)
    np.testing.assert_array_equal(np.asarray(images), expected)
    assert np.asarray(images, dtype=np.float32).dtype == np.float32
    with pytest.raises(IndexError):
        images[5]
    with pytest.raises(IndexError):
        images[-6]


def test_every_access_is_a_fresh_writable_array(tier):
    path, frames = tier
    images = FrameImages(path, np.arange(10), height=4, width=6)
    first = images[0]
    first[:] = 0  # a component may scribble on what it got
    np.testing.assert_array_equal(images[0], frames[0])


def test_a_frame_past_the_end_of_the_file_is_an_error(tier):
    path, _ = tier
    images = FrameImages(path, np.array([8, 9, 10]), height=4, width=6)
    np.testing.assert_array_equal(images[1][1:, :, 0], 19)
    with pytest.raises(ValueError, match="frame 10 lies past the end of the file"):
        images[2]


def test_iterating_holds_one_frame_not_all(tmp_path):
    # 200 frames of 640x360 are 138 MB. Going through them one at a time must not leave them
    # resident: neither as copies nor as pages of a mapped file (a memmap would keep them all).
    count, height, width = 200, 360, 640
    path = tmp_path / "tier.rgb"
    with open(path, "wb") as handle:
        for k in range(count):
            handle.write(np.full((height, width, 3), k % 256, np.uint8).tobytes())
    images = FrameImages(path, np.arange(count), height, width)
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    total = 0
    for image in images:
        total += int(image.max())  # touches every byte, as an analysis would
        peak = max(peak, process.memory_info().rss)
    assert total == sum(k % 256 for k in range(count))
    # A frame is 0.7 MB; allow 20 MB for the allocator, a tenth of what holding them would take.
    assert (peak - before) / 2**20 < 20
