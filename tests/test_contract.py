"""The summary-key contract: what a component writes and what its consumers read are declared."""

from pathlib import Path

import pytest

from dp_assets.contract import Status
from dp_assets.direct import run_profile_direct
from dp_assets.profiles import ProfileError, load_profile
from dp_assets.registry import builtin_specs

PROFILE = """name: breaker
sampling: {{version: "1", fps: 1.0, max_frames: 10, max_side: 64}}
component_modules: [tests.fixtures.{name}]
components:
  video_probe: {{}}
  {name}: {{}}
"""


def write_profile(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(PROFILE.format(name=name))
    return path


def test_reading_an_undeclared_key_is_rejected_when_the_profile_loads(tmp_path):
    path = write_profile(tmp_path, "reads_unknown_key")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert f"{path}: components.reads_unknown_key: reads summary key 'duration_seconds' of video_probe" in message
    assert "duration_s" in message  # the declared keys are listed


def test_writing_an_undeclared_key_fails_the_component(tmp_path, media):
    profile = load_profile(write_profile(tmp_path, "undeclared_summary_key"))
    results = run_profile_direct(profile, media("park_0p55s.mp4"), tmp_path / "out")
    result, _ = results["undeclared_summary_key"]
    assert result.status is Status.ERROR
    assert result.error == "undeclared_summary_key returned summary keys it does not declare in SPEC.summary_keys: duration"


def test_every_builtin_read_is_declared_by_its_upstream():
    specs = builtin_specs()
    for spec in specs.values():
        for upstream, keys in spec.reads.items():
            assert set(keys) <= set(specs[upstream].summary_keys), (spec.name, upstream)
    assert specs["features"].reads["loudness"] == ("integrated_lufs", "rms_dbfs", "silence_ratio")
