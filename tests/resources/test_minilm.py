"""MiniLM on torch alone (``dp_resources/models/minilm.py``) gives sentence-transformers' vectors
for the same package files, and its loading imports neither sentence-transformers nor what they
pull in."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dp_core.contract import CPU
from dp_resources.models.minilm import EMBEDDING_DIM, MINILM, MiniLMEncoder, _model_dir

TEXTS = [
    "offline",
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    "Mix the flour, water, salt and starter, then knead the dough. " * 40,  # past the 256-token window
    "",
    "Ünïcode tëxt with accents, 東京 and an emoji 🎉",
    "BREAKING NEWS 12:45 PM",
] + [f"caption {i}: the cat sat on the mat" for i in range(40)]  # more than one batch


@pytest.fixture(scope="module")
def encoder():
    return MINILM.load(CPU)


def test_vectors_equal_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(_model_dir()), device="cpu", local_files_only=True)
    expected = reference.encode(TEXTS, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
    got = encoder.encode(TEXTS, batch_size=32)
    assert got.shape == (len(TEXTS), EMBEDDING_DIM) and got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-5
    assert np.linalg.norm(got, axis=1) == pytest.approx(1.0, abs=1e-5)


def test_a_text_does_not_depend_on_its_batch(encoder):
    alone = encoder.encode([TEXTS[1]])[0]
    among_others = encoder.encode(TEXTS)[1]  # padded to the 256 tokens of the longest
    assert np.abs(alone - among_others).max() < 1e-5
    assert encoder.encode([]).shape == (0, EMBEDDING_DIM)


def test_meaning_is_kept(encoder):
    cat, mat, bread = encoder.encode(["a cat sits on a mat", "the cat sat on the mat", "knead the sourdough bread"])
    assert float(cat @ mat) > 0.8 > 0.2 > float(cat @ bread)


def test_a_folder_of_another_architecture_is_refused(tmp_path):
    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps([{"type": "sentence_transformers.models.Transformer"}, {"type": "sentence_transformers.models.Dense"}]))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    with pytest.raises(Exception, match="expected a BERT with mean pooling"):
        MiniLMEncoder(folder)


def test_loading_imports_no_sentence_transformers(tmp_path):
    probe = (
        "import sys, json; from dp_core.contract import CPU; from dp_resources.models.minilm import MINILM; "
        "MINILM.load(CPU); print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sentence_transformers', 'transformers', 'sklearn', 'scipy'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], env={"DP_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
