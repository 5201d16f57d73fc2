"""The documented manifest schema is the one the code writes."""

import json
from pathlib import Path

from dp_assets.manifest import Manifest, json_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "manifest.schema.json"


def test_docs_schema_matches_the_model():
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), "regenerate with: python -m dp_assets.manifest"


def test_written_manifest_validates_against_the_model(tmp_path, media):
    from tests.pipeline_helpers import Pipeline

    outcome = Pipeline(tmp_path).process(media("park_0p55s.mp4"))
    written = Manifest.model_validate_json(outcome.manifest_path.read_text())
    assert written.run_status == "ok" and written.video_id == "park_0p55s"
    assert [c.component for c in written.components][0] == "video_probe"
