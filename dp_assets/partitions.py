"""The one partition set of the graph: a dynamic partition per video, keyed ``<platform_id>/<video_id>``.

One dynamic dimension with a composite key, not a ``MultiPartitionsDefinition`` of platform ×
video: a multi-partition set is the cartesian product of its dimensions, so every video id would
appear under every platform in the UI (thousands of partitions that do not exist), while a
video's identity is the pair itself. ``dp_resources.ids.VideoKey`` builds and parses the key.

Partitions of a database made before videos were keyed by platform were named by ``video_id``
alone, in a set called ``video_id``; that set and its history stay as they are, and
:func:`sync_video_partitions` adds the new keys of every registered video once (``dp migrate``,
or any ``dp`` command that opens the instance).
"""

from __future__ import annotations

import dagster as dg

from dp_resources.database import PARTITIONS_NEED_SYNC, get_meta, set_meta
from dp_resources.video_catalog import VideoCatalog

VIDEO_PARTITIONS_NAME = "video"
# Partition keys are checked in batches of this many per call (one SQL IN list each).
ADD_CHUNK = 5000

video_partitions = dg.DynamicPartitionsDefinition(name=VIDEO_PARTITIONS_NAME)


def add_video_partitions(instance: dg.DagsterInstance, keys: list[str]) -> None:
    """Add partition keys in as few calls as possible; keys added in one call are contiguous."""
    keys = list(dict.fromkeys(keys))
    for start in range(0, len(keys), ADD_CHUNK):
        instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, keys[start : start + ADD_CHUNK])


# Dagster's run tags for a run over a range of partitions (the assets' backfill policy is single-run).
PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"


def contiguous_batches(ordered_keys: list[str], wanted: list[str], limit: int) -> list[list[str]]:
    """``wanted`` partition keys grouped into runs of consecutive keys of ``ordered_keys`` (the
    instance's partition order), at most ``limit`` each: a partition range covers exactly them."""
    position = {key: i for i, key in enumerate(ordered_keys)}
    keys = sorted(set(wanted), key=position.__getitem__)
    batches: list[list[str]] = []
    for key in keys:
        if batches and position[key] == position[batches[-1][-1]] + 1 and len(batches[-1]) < limit:
            batches[-1].append(key)
        else:
            batches.append([key])
    return batches


def sync_video_partitions(instance: dg.DagsterInstance, catalog: VideoCatalog, force: bool = False) -> int:
    """Give every registered video its partition, once after the database was migrated (or when
    ``force``); the number of partitions added."""
    with catalog.engine.connect() as conn:
        pending = get_meta(conn, PARTITIONS_NEED_SYNC)
    if not pending and not force:
        return 0
    existing = set(instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME))
    missing = [key.partition_key for key in catalog.keys() if key.partition_key not in existing]
    add_video_partitions(instance, missing)
    with catalog.engine.begin() as conn:
        set_meta(conn, PARTITIONS_NEED_SYNC, None)
    return len(missing)

