"""open_media leaves no decoder thread that can deadlock the process when decoding stops early.

CI hung 300 s in the full-disk test: the error raised out of ``frames``' decode loop freed the
frame-threaded H.264 decoder while one of its threads waited for the GIL inside PyAV's log
callback. A damaged clip makes the decoder threads log on almost every frame, which turns that
rare race into one that, without the fix, hung within 25 early stops in every try.
"""

import random
import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
EARLY_STOPS = 150


def damaged_copy(clip: Path, out: Path) -> Path:
    """``clip`` with bytes overwritten inside its media data (header and index left intact)."""
    data = bytearray(clip.read_bytes())
    moov = data.find(b"moov")
    rng = random.Random(7)
    for _ in range(4000):
        data[rng.randrange(12_000, moov - 8)] = rng.randrange(256)
    out.write_bytes(bytes(data))
    return out


def test_stopping_a_threaded_decode_early_never_deadlocks(tmp_path, media):
    damaged = damaged_copy(media("bbb_h264_aac51.mp4"), tmp_path / "damaged.mp4")
    script = textwrap.dedent(
        f"""
        import av
        from dp_assets.media.container import open_media

        logged = 0
        for attempt in range({EARLY_STOPS}):
            try:
                with open_media({str(damaged)!r}) as (container, logs):
                    stream = container.streams.video[0]
                    stream.thread_type = "AUTO"
                    for index, _frame in enumerate(container.decode(stream)):
                        if index == 20 + attempt % 40:
                            raise OSError(28, "No space left on device")
            except (OSError, av.error.FFmpegError):
                pass
            logged += len(logs)
        print("stopped", {EARLY_STOPS}, "decodes early; decoder messages:", logged)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"deadlocked: {EARLY_STOPS} early stops of a threaded decode did not finish in 120 s (they take seconds)")
    assert proc.returncode == 0, err
    # The damage must reach the decoder, or this test would not exercise its logging threads.
    assert int(out.split()[-1]) > 0, out
