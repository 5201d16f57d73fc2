"""The bucket sensor on a local bucket folder holding real clips, evaluated on a real instance.

Every bad input gets a defined, logged outcome without crashing the tick; nothing is requested
twice, also across a restart with the stored cursor or after an evaluation whose result was lost.
"""

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from dp_assets.ingest.inspect import VIDEO_EXTENSIONS, sniff_container
from dp_assets.ingest.sensor import batch_run_key, parse_cursor, run_key_for
from dp_resources.ids import VideoKey
from dp_resources.video_bucket import BucketReadError, VideoBucket
from tests.ingest.conftest import ledger_states

PARK = "park_0p55s.mp4"
CARPHONE = "carphone_qcif_face_noaudio.mp4"


def put(harness, key: str, source) -> Path:
    target = Path(harness.bucket.url) / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def test_new_videos_wait_one_tick_then_are_registered_and_requested_once(harness_factory, database_url, media):
    harness = harness_factory(database_url=database_url)
    put(harness, "yt/park.mp4", media(PARK))
    put(harness, "tiktok/car_1.MP4", media(CARPHONE))
    sidecar = harness.home / "bucket" / "yt" / "park.json"
    sidecar.write_text(json.dumps({"title": "A park", "tags": ["outdoor"]}))

    first = harness.tick()
    assert not first.run_requests
    assert "2 waiting for a tick that sees them unchanged" in first.skip_message
    assert harness.partitions() == [], "nothing is registered before a second tick saw the files unchanged"

    second = harness.tick()
    requested = harness.requested(second)
    assert set(requested) == {"yt/park", "tiktok/car_1"}
    # arrived together, processed together: one run over both partitions, keyed by its members
    (run,) = second.run_requests
    ledger = harness.ledger()
    members = [run_key_for("yt", "park", ledger["yt/park.mp4"].identity), run_key_for("tiktok", "car_1", ledger["tiktok/car_1.MP4"].identity)]
    assert run.run_key == batch_run_key(members) and run.tags["dataprocessor/batch_size"] == "2"
    assert run.job_name == "process_video" and run.partition_key is None
    assert sorted(harness.partitions()) == ["tiktok/car_1", "yt/park"]
    park = harness.catalog.get(VideoKey("yt", "park"))
    assert (park.platform_id, park.uri) == ("yt", str(harness.home / "bucket" / "yt" / "park.mp4"))
    assert harness.catalog.get(VideoKey("tiktok", "car_1")).uri.endswith("car_1.MP4")
    assert ledger_states(harness) == {"yt/park.mp4": ("requested", None), "tiktok/car_1.MP4": ("requested", None)}
    assert {row.run_key for row in harness.ledger().values()} == {run.run_key}

    third = harness.tick()
    assert not third.run_requests and "2 already decided" in third.skip_message
    assert parse_cursor(harness.cursor) == 3


def test_restart_with_the_stored_cursor_requests_nothing_again(harness, media):
    put(harness, "yt/park.mp4", media(PARK))
    harness.tick()
    assert harness.requested(harness.tick()).keys() == {"yt/park"}
    # A restarted daemon: a fresh resource object and sensor context, the cursor from storage.
    restarted = harness.tick(bucket=VideoBucket(url=harness.bucket.url, cache_dir=harness.bucket.cache_dir, settle_s=harness.bucket.settle_s))
    assert not restarted.run_requests and "1 already decided" in restarted.skip_message


def test_a_lost_evaluation_is_replayed_with_the_same_run_keys(harness, media, sensor_log):
    put(harness, "yt/park.mp4", media(PARK))
    put(harness, "yt/car.mp4", media(CARPHONE))
    harness.tick()
    lost = harness.tick(persist=False)  # the daemon died before storing this tick
    replay = harness.tick()
    assert harness.requested(replay) == harness.requested(lost) and len(harness.requested(replay)) == 2
    # the same batch run, range and key: a run that did start is not started twice
    assert [(r.run_key, r.tags) for r in replay.run_requests] == [(r.run_key, r.tags) for r in lost.run_requests]
    assert any("requested 2 in 1 run(s) (replayed 2)" in r for r in sensor_log)
    after = harness.tick()
    assert not after.run_requests, "once the cursor is stored, the decisions are final"


def test_an_observation_from_a_lost_tick_does_not_count_as_the_earlier_sighting(harness, media):
    put(harness, "yt/park.mp4", media(PARK))
    harness.tick(persist=False)  # seen, but the daemon never stored this tick
    assert not harness.tick().run_requests, "the same tick number again: still the first sighting"
    assert harness.requested(harness.tick()).keys() == {"yt/park"}


def test_a_changed_file_is_processed_again_with_a_new_run_key(harness, media):
    target = put(harness, "yt/clip.mp4", media(PARK))
    harness.tick()
    first_key = harness.requested(harness.tick())["yt/clip"]
    shutil.copyfile(media(CARPHONE), target)  # replaced: other size and mtime
    waiting = harness.tick()
    assert not waiting.run_requests and "1 waiting" in waiting.skip_message
    second_key = harness.requested(harness.tick())["yt/clip"]
    assert second_key != first_key
    assert not harness.tick().run_requests


def test_a_file_still_being_written_waits_until_a_tick_sees_it_unchanged(harness, media):
    data = media(PARK).read_bytes()
    target = harness.home / "bucket" / "yt" / "upload.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(data[:20_000])
    assert not harness.tick().run_requests
    with open(target, "ab") as handle:
        handle.write(data[20_000:40_000])
    growing = harness.tick()
    assert not growing.run_requests and "1 waiting" in growing.skip_message
    with open(target, "ab") as handle:
        handle.write(data[40_000:])
    assert not harness.tick().run_requests, "it grew again: one more tick"
    assert harness.requested(harness.tick()).keys() == {"yt/upload"}
    assert target.stat().st_size == len(data)


def test_a_local_file_quiet_for_the_settling_time_is_taken_on_first_sight(harness_factory, media):
    harness = harness_factory(settle_s=2.0)
    settled = put(harness, "yt/settled.mp4", media(PARK))
    old = time.time() - 2.5
    os.utime(settled, (old, old))  # last written 2.5 s ago: complete
    fresh = put(harness, "yt/fresh.mp4", media(CARPHONE))
    soon = time.time() + 60
    os.utime(fresh, (soon, soon))  # younger than the settling time however slow this machine is
    first = harness.tick()
    assert harness.requested(first).keys() == {"yt/settled"}
    assert harness.requested(harness.tick()).keys() == {"yt/fresh"}
    assert not harness.tick().run_requests
    # Rewritten long ago (a restored backup): its new identity is settled too, decided at once.
    settled.write_bytes(media(CARPHONE).read_bytes())
    os.utime(settled, (old - 10, old - 10))
    assert harness.requested(harness.tick()).keys() == {"yt/settled"}


def test_every_bad_input_gets_a_logged_reason_and_the_good_ones_still_run(harness, media, tmp_path, sensor_log):
    root = harness.home / "bucket"
    (root / "yt").mkdir()
    shutil.copyfile(media(PARK), root / "yt" / "good.mp4")
    shutil.copyfile(media("bbb_h264_aac51_TRUNCATED.mp4"), root / "yt" / "truncated.mp4")
    (root / "yt" / "notes.txt").write_text("not a video")
    (root / "yt" / "empty.mp4").write_bytes(b"")
    (root / "yt" / "renamed.mp4").write_text("just some text that was renamed to .mp4\n" * 20)
    shutil.copyfile(media(PARK), root / "yt" / "My clip é.mp4")
    shutil.copyfile(media(PARK), os.path.join(os.fsencode(root / "yt"), b"caf\xe9.mp4"))  # not UTF-8
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(media(PARK), outside / "secret.mp4")
    os.symlink(outside / "secret.mp4", root / "yt" / "link.mp4")
    os.symlink(outside, root / "escape")
    os.symlink("../../outside/secret.mp4", root / "yt" / "dotdot.mp4")
    shutil.copyfile(media(PARK), root / "top_level.mp4")
    (root / "yt" / "sub").mkdir()
    shutil.copyfile(media(PARK), root / "yt" / "sub" / "nested.mp4")
    os.mkfifo(root / "yt" / "pipe.mp4")
    unix_socket = socket.socket(socket.AF_UNIX)
    unix_socket.bind(str(root / "yt" / "sock.mp4"))
    (root / "bad platform!").mkdir()
    shutil.copyfile(media(PARK), root / "bad platform!" / "x.mp4")
    shutil.copyfile(media(PARK), root / "yt" / "with_link_sidecar.mp4")
    (outside / "private.json").write_text('{"title": "private"}')
    os.symlink(outside / "private.json", root / "yt" / "with_link_sidecar.json")
    shutil.copyfile(media(PARK), root / "yt" / ".part-upload.mp4")  # an uploader's temp file

    try:
        harness.tick()
        decided = harness.tick()
    finally:
        unix_socket.close()

    assert set(harness.requested(decided)) == {"yt/good", "yt/truncated"}
    states = ledger_states(harness)
    expected = {
        "yt/notes.txt": "unsupported extension '.txt'",
        "yt/empty.mp4": "empty file (0 bytes)",
        "yt/renamed.mp4": "not a video container",
        "yt/My clip é.mp4": "rename it, e.g. to My_clip.mp4",
        "yt/caf\\xe9.mp4": "invalid video_id",
        "yt/link.mp4": "symlink: not followed",
        "yt/dotdot.mp4": "symlink: not followed",
        "escape": "symlink: not followed",
        "top_level.mp4": "not inside a <platform_id>/ folder",
        "yt/sub": "nested deeper",
        "yt/pipe.mp4": "not a regular file",
        "yt/sock.mp4": "not a regular file",
        "bad platform!/x.mp4": "folder invalid platform_id",
        "yt/with_link_sidecar.mp4": "sidecar yt/with_link_sidecar.json is a symlink",
    }
    for key, reason in expected.items():
        state, stored = states[key]
        assert state == "rejected" and reason in stored, (key, states[key])
        assert any(key in r and "rejected" in r for r in sensor_log), f"no log line for {key}"
    assert states["yt/good.mp4"][0] == states["yt/truncated.mp4"][0] == "requested"
    assert not any(k.startswith("yt/.part") for k in states), "hidden temp files are not objects"
    assert "14 rejected" in [r for r in sensor_log if "entries;" in r][-1]

    sensor_log.clear()
    again = harness.tick()
    assert not again.run_requests and not any("rejected:" in r for r in sensor_log), "a rejection is logged once"


def test_one_video_id_claimed_twice_is_blocked_until_one_is_left(harness, media):
    root = harness.home / "bucket" / "yt"
    root.mkdir(parents=True)
    shutil.copyfile(media(PARK), root / "dup.mp4")
    shutil.copyfile(media(CARPHONE), root / "dup.mov")
    harness.tick()
    blocked = harness.tick()
    assert not blocked.run_requests and "2 blocked by a conflict" in blocked.skip_message
    (root / "dup.mov").unlink()
    assert harness.requested(harness.tick()).keys() == {"yt/dup"}


def test_one_video_id_on_two_platforms_is_two_videos(harness, media):
    harness.catalog.register(VideoKey("local", "taken"), str(media(PARK)))
    put(harness, "yt/taken.mp4", media(CARPHONE))
    harness.tick()
    assert harness.requested(harness.tick()).keys() == {"yt/taken"}
    assert harness.catalog.get(VideoKey("local", "taken")).uri == str(media(PARK)), "the other platform's video is untouched"
    assert harness.catalog.get(VideoKey("yt", "taken")).uri.endswith("yt/taken.mp4")


def test_the_cap_per_tick_leaves_the_rest_for_the_next_ticks(harness_factory, media, sensor_log):
    harness = harness_factory(max_objects_per_tick=3)
    root = harness.home / "bucket" / "yt"
    root.mkdir(parents=True)
    shutil.copyfile(media(PARK), root / "v0.mp4")
    for i in range(1, 7):
        os.link(root / "v0.mp4", root / f"v{i}.mp4")
    assert "7 waiting" in harness.tick().skip_message
    sizes = []
    for _ in range(3):
        data = harness.tick()
        sizes.append(len(harness.requested(data)))
    assert sizes == [3, 3, 1]
    assert len(harness.partitions()) == 7
    summaries = [r for r in sensor_log if "entries;" in r]
    assert "4 left for the next tick" in summaries[0] and "1 left for the next tick" in summaries[1]
    assert not harness.tick().run_requests


def test_batches_follow_the_workers_and_the_cap(harness_factory, media, monkeypatch):
    """Seven videos of one tick: split so each warm worker gets a share, never over the cap."""
    monkeypatch.setenv("DP_WORKERS", "2")
    monkeypatch.setenv("DP_BATCH_MAX_VIDEOS", "3")
    harness = harness_factory()
    root = harness.home / "bucket" / "yt"
    root.mkdir(parents=True)
    shutil.copyfile(media(PARK), root / "v0.mp4")
    for i in range(1, 7):
        os.link(root / "v0.mp4", root / f"v{i}.mp4")
    harness.tick()
    data = harness.tick()
    sizes = sorted(int(r.tags.get("dataprocessor/batch_size", 1)) for r in data.run_requests)
    assert sizes == [1, 3, 3] and len(harness.requested(data)) == 7


def test_an_object_that_vanishes_before_it_is_stable_is_forgotten(harness, media):
    target = put(harness, "yt/gone.mp4", media(PARK))
    harness.tick()
    target.unlink()
    assert not harness.tick().run_requests
    assert "yt/gone.mp4" not in harness.ledger()


def test_a_missing_bucket_folder_skips_with_the_reason(harness_factory, tmp_path):
    harness = harness_factory(bucket=VideoBucket(url=str(tmp_path / "nowhere"), cache_dir=str(tmp_path / "c")))
    data = harness.tick()
    assert not data.run_requests and "cannot list bucket" in data.skip_message and "nowhere" in data.skip_message


@pytest.mark.parametrize("name", ["bbb_intro_vp8_vorbis.webm", "tree_cinepak_noaudio.avi", "pigs_in_a_polka_314x273.gif", "iphone_hevc10_hlg_rot90_0p09s.mov", "screenrec_h264_noduration.mkv", PARK])
def test_every_real_container_passes_the_signature_check(media, name):
    assert sniff_container(media(name).read_bytes()[:512]) is not None
    assert media(name).suffix.lower() in VIDEO_EXTENSIONS


def test_text_and_audio_only_files_fail_the_signature_check(media):
    assert sniff_container(b"hello world, this is text" * 10) is None
    assert sniff_container(media("jfk_inaugural_speech.flac").read_bytes()[:512]) is None


def test_a_folder_swapped_for_a_symlink_after_the_listing_is_not_read_through(tmp_path, media):
    root = tmp_path / "bucket"
    (root / "yt").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    shutil.copyfile(media(PARK), root / "yt" / "a.mp4")
    shutil.copyfile(media(PARK), tmp_path / "outside" / "a.mp4")
    bucket = VideoBucket(url=str(root), cache_dir=str(tmp_path / "cache"))
    (listed,) = bucket.list_objects()
    assert sniff_container(bucket.read_head(listed)) == "iso-bmff"
    os.rename(root / "yt", root / "yt_old")
    os.symlink(tmp_path / "outside", root / "yt")
    with pytest.raises(BucketReadError) as refused:
        bucket.read_head(listed)
    assert refused.value.permanent and "symlink" in str(refused.value)
