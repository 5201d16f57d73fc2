"""Profiles are validated before anything runs, with errors that name the file and the field."""

from pathlib import Path

import pytest
import yaml

from dp_assets.profiles import ProfileError, load_profile

PROFILES = Path(__file__).resolve().parent.parent / "profiles"
BASELINE = PROFILES / "skeleton.yaml"  # the model-free profile: the mutations below need no models


def write_profile(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(BASELINE.read_text())
    mutate(data)
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_baseline_loads_in_dependency_order():
    profile = load_profile("baseline")
    names = list(profile.components)
    assert set(names) == {
        "video_probe", "frames", "shot_boundaries", "image_stats", "faces", "ocr_text", "visual_embedding", "motion",
        "visual_pacing", "audio_waveform", "loudness", "voice_activity", "transcript", "text_features", "features",
    }  # fmt: skip
    for name, component in profile.components.items():
        for upstream in component.spec.upstream:
            assert names.index(upstream) < names.index(name), f"{upstream} must come before {name}"
    # docs/design.md §2: required unless marked optional; the baseline marks only the transcript.
    assert [n for n, c in profile.components.items() if c.optional] == ["transcript"]
    # Model-backed components are signed by their weights; the others have no model signature.
    assert profile["visual_embedding"].model_signature != "none" and profile["loudness"].model_signature == "none"


def test_skeleton_is_the_model_free_part_of_the_baseline():
    skeleton, baseline = load_profile("skeleton"), load_profile("baseline")
    assert set(skeleton.components) < set(baseline.components)
    assert all(c.model_signature == "none" for c in skeleton.components.values())


def test_frames_config_holds_the_union_of_visual_requests():
    profile = load_profile("baseline")
    for name in ("faces", "ocr_text", "visual_embedding", "motion"):
        component = profile[name]
        request = component.spec.frame_request(component.config, profile.sampling)
        assert request.key in {r.as_request().key for r in profile["frames"].config.requests}, name
    keys = {r.as_request().key for r in profile["frames"].config.requests}
    shot = profile["shot_boundaries"]
    stats = profile["image_stats"]
    assert shot.spec.frame_request(shot.config, profile.sampling).key in keys
    assert stats.spec.frame_request(stats.config, profile.sampling).key in keys
    assert profile.sampling.default_request.key in keys


def test_sampling_policy_version_keys_only_frame_based_components():
    profile = load_profile("baseline")
    assert profile["image_stats"].sampling_policy_version == "1"
    assert profile["loudness"].sampling_policy_version == "-"


def test_config_change_changes_only_that_components_code_version(tmp_path):
    base = load_profile(BASELINE)
    path = write_profile(tmp_path, lambda d: d["components"].__setitem__("loudness", {"config": {"silence_threshold_dbfs": -40.0}}))
    changed = load_profile(path)
    differing = {n for n in base.components if base[n].code_version != changed[n].code_version}
    assert differing == {"loudness"}


def test_unknown_component_is_named(tmp_path):
    path = write_profile(tmp_path, lambda d: d["components"].__setitem__("nudity", {}))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert f"{path}: components.nudity: unknown component" in str(err.value)


def test_missing_upstream_is_named(tmp_path):
    path = write_profile(tmp_path, lambda d: d["components"].pop("audio_waveform"))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert "components.loudness: needs upstream component 'audio_waveform'" in str(err.value)


def test_bad_config_value_names_the_field(tmp_path):
    path = write_profile(tmp_path, lambda d: d["components"].__setitem__("shot_boundaries", {"config": {"analysis_fps": 0}}))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert "components.shot_boundaries.config.analysis_fps" in str(err.value)


def test_unknown_config_key_names_the_field(tmp_path):
    path = write_profile(tmp_path, lambda d: d["components"].__setitem__("image_stats", {"config": {"brightnes": 1}}))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert "components.image_stats.config.brightnes: Extra inputs are not permitted" in str(err.value)


def test_bad_sampling_value_names_the_field(tmp_path):
    path = write_profile(tmp_path, lambda d: d["sampling"].__setitem__("fps", -1))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert f"{path}: sampling.fps: Input should be greater than 0" in str(err.value)


def test_cycle_is_rejected(tmp_path):
    def add_cycle(d):
        d["component_modules"] = ["tests.fixtures.cycle_a", "tests.fixtures.cycle_b"]
        d["components"].update({"cycle_a": {}, "cycle_b": {}})

    with pytest.raises(ProfileError) as err:
        load_profile(write_profile(tmp_path, add_cycle))
    assert "dependency cycle" in str(err.value) and "cycle_a" in str(err.value)


def test_missing_profile_lists_known_ones():
    with pytest.raises(ProfileError) as err:
        load_profile("no_such_profile")
    assert "no_such_profile.yaml" in str(err.value) and "baseline" in str(err.value)
