"""Execute one ``process_video`` run of a video in this process, as a warm run worker would: register
the video, add its partition, and execute the code location's job with its executor (Celery mode:
this process submits the steps and follows them; ``dp worker`` processes execute them).

Usage: python -m tests.scaleout.launch VIDEO PLATFORM/ID [TAGS_JSON]; prints the run id and status.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from dp_assets.assembly import PROCESS_VIDEO_JOB
from dp_assets.partitions import add_video_partitions
from dp_resources.ids import VideoKey
from dp_resources.instance import open_instance
from dp_resources.video_catalog import VideoCatalog


def main(video: str, partition: str, tags: dict[str, str]) -> int:
    VideoCatalog().register(VideoKey.parse(partition), str(Path(video).resolve()))
    instance = open_instance()
    add_video_partitions(instance, [partition])
    job = ReconstructableRepository.for_module("dp_assets.definitions", "defs").get_reconstructable_job(PROCESS_VIDEO_JOB)
    result = dg.execute_job(job, instance=instance, tags={"dagster/partition": partition, **tags})
    print(f"run {result.run_id} {'SUCCESS' if result.success else 'FAILURE'}", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}))
