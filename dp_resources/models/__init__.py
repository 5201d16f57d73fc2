"""The model store: where pretrained weights come from, what identifies them, and loaded copies.

Components name a model by its :class:`~dp_core.contract.ModelRef` and get it from
``ctx.models.get(ref, ctx.runtime)``; how a package lays out its weights stays in this package.
"""

from dp_resources.models.store import MODELS, ModelStore, model_signature, package_file, weight_sha256

__all__ = ["MODELS", "ModelStore", "model_signature", "package_file", "weight_sha256"]
