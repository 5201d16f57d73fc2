"""Runs one video through the runner and kills its own process (SIGKILL) at a chosen point, so a
test can see what the next request makes of what was left. Test-only: the points are hooks
around the real functions, nothing in the product knows about them.

Usage: python -m tests.faults.kill_points POINT CLIP VIDEO_ID PROFILE
POINT: after_component:NAME | in_component:NAME | in_commit:NAME | in_manifest | before_index
"""

import os
import signal
import sys
from pathlib import Path

from dp_assets import manifest as manifest_module
from dp_assets import video_run
from dp_assets.profiles import load_profile
from dp_assets.runner import Processor
from dp_resources.artifact_index import ArtifactIndex
from dp_resources.artifact_store import ArtifactStore
from dp_resources.ids import VideoKey


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    kind, _, name = point.partition(":")
    if kind == "after_component":
        original_run = video_run.VideoRun.run

        def run(self, component):
            outcome = original_run(self, component)
            if component.name == name:
                die()
            return outcome

        video_run.VideoRun.run = run
    elif kind == "in_component":
        original_compute = video_run.run_component

        def run_component(spec, ctx, config, inputs, observe=True):
            result = original_compute(spec, ctx, config, inputs, observe)
            if spec.name == name:
                die()  # computed, not committed
            return result

        video_run.run_component = run_component
    elif kind == "in_commit":
        original_publish = ArtifactStore._publish

        def publish(staging: Path, final: Path) -> Path:
            if final.parent.name == name:
                die()  # every file written in staging, the rename not done
            return original_publish(staging, final)

        ArtifactStore._publish = staticmethod(publish)
    elif kind == "in_manifest":
        original_write = manifest_module.write_json_atomic

        def write(path: Path, payload) -> None:
            if path.name == "manifest.json":
                (path.parent / f".{path.name}.{'0' * 32}.tmp").write_text('{"manifest_version": 2, "run_id": "half')
                die()  # half of the temporary file written
            original_write(path, payload)

        manifest_module.write_json_atomic = write
    elif kind == "before_index":
        def record_success(self, key, **kwargs):
            die()  # the run and its manifest are done, the index row not written

        ArtifactIndex.record_success = record_success
    else:
        sys.exit(f"unknown point {point!r}")


def main() -> int:
    point, clip, video_id, profile = sys.argv[1:5]
    install(point)
    Processor(load_profile(profile)).process([(Path(clip), VideoKey("local", video_id))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
