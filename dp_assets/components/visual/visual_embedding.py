"""``visual_embedding``: a 1280-d EfficientNet-Lite0 embedding and ImageNet top-5 labels per sampled frame.

The embedding is the classifier's globally pooled last feature map (the input of its final
linear layer), a generic content descriptor for similarity and clustering; the video gets the
mean embedding and the labels with the highest mean probability.
"""

from __future__ import annotations

from typing import Mapping

import cv2
import numpy as np
import pyarrow as pa
from pydantic import Field

from dp_assets.contract import (
    ComponentConfig,
    ComponentContext,
    ComponentResult,
    ComponentSpec,
    FrameRequest,
    Modality,
    SamplingPolicy,
)
from dp_resources.models.efficientnet import EFFICIENTNET_LITE0 as MODEL
from dp_resources.models.efficientnet import INPUT_SIZE
from dp_resources.models.efficientnet import load_labels


EMBEDDING_DIM = 1280
# Input scaling of the TensorFlow EfficientNet-Lite builder the weights were converted from
# (MEAN_RGB = 127, STDDEV_RGB = 128 on 0-255 RGB), not torchvision's ImageNet mean/std: with the
# latter Big Buck Bunny's meadow comes out as "broccoli", "Irish Water Spaniel" or "peafowl"
# (0.69), with this one as "valley" and "lakeshore", its grass close-up as "daisy".
INPUT_MEAN = 127.0
INPUT_STD = 128.0
TOP_K = 5

# Frames at the profile's rate, but no more pixels than needed to shrink to 224: the profile's
# own request is reused whenever its max_side is already this small.
DEFAULT_MAX_SIDE = 320
# Frames per forward pass. By arithmetic, 32 frames hold ~20 MB of input and ~0.15 GB in the
# largest feature map (96x112x112 floats per frame) in fp32, far below a GPU slot's memory.
DEFAULT_BATCH_SIZE = 32




class VisualEmbeddingConfig(ComponentConfig):
    max_side: int = Field(DEFAULT_MAX_SIDE, ge=INPUT_SIZE, le=4096)
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1, le=1024)


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("pts_s", pa.float64(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32(), EMBEDDING_DIM), nullable=False),
        # ImageNet-1k class indices and names, most probable first, with softmax probabilities
        pa.field("top_classes", pa.list_(pa.int32(), TOP_K), nullable=False),
        pa.field("top_labels", pa.list_(pa.string(), TOP_K), nullable=False),
        pa.field("top_probs", pa.list_(pa.float32(), TOP_K), nullable=False),
    ]
)


def frame_request(config: VisualEmbeddingConfig, sampling: SamplingPolicy) -> FrameRequest:
    return FrameRequest(fps=sampling.fps, max_side=min(sampling.max_side, config.max_side), max_frames=sampling.max_frames)


def preprocess(images: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) uint8 RGB frames -> (n, 3, 224, 224) float32 network input.

    The whole frame is resized to the square input (a mild squeeze for 16:9) rather than
    centre-cropped: a video descriptor should not drop the outer fifths of every frame.
    """
    out = np.empty((len(images), 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    for i, image in enumerate(images):
        # INTER_AREA averages the pixels it shrinks, so fine detail does not alias.
        small = cv2.resize(np.ascontiguousarray(image), (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        out[i] = ((small.astype(np.float32) - INPUT_MEAN) / INPUT_STD).transpose(2, 0, 1)
    return out


def compute(
    ctx: ComponentContext, config: VisualEmbeddingConfig, inputs: Mapping[str, ComponentResult]
) -> ComponentResult:
    frames = ctx.frames  # the frames of this component's frame_request, handed over by run_component
    model = ctx.models.get(MODEL, ctx.runtime)
    labels = load_labels()
    embeddings, probs = [], []
    for start in range(0, len(frames), config.batch_size):
        # (n, 1280) pooled features and (n, 1000) class probabilities, float32 on the CPU.
        pooled, p = model(preprocess(frames.images[start : start + config.batch_size]))
        embeddings.append(pooled)
        probs.append(p)
    emb = np.concatenate(embeddings).astype(np.float32)
    prob = np.concatenate(probs)
    top = np.argsort(-prob, axis=1)[:, :TOP_K]
    table = pa.Table.from_pydict(
        {
            "pts_s": pa.array(frames.pts_s, pa.float64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), EMBEDDING_DIM),
            "top_classes": pa.FixedSizeListArray.from_arrays(pa.array(top.astype(np.int32).ravel()), TOP_K),
            "top_labels": pa.FixedSizeListArray.from_arrays(pa.array([labels[c] for c in top.ravel()], pa.string()), TOP_K),
            "top_probs": pa.FixedSizeListArray.from_arrays(
                pa.array(np.take_along_axis(prob, top, axis=1).astype(np.float32).ravel()), TOP_K
            ),
        },
        schema=OUTPUT_SCHEMA,
    )
    mean_prob = prob.mean(axis=0)
    video_top = np.argsort(-mean_prob)[:TOP_K]
    summary = {
        "frame_count": len(frames),
        "embedding_dim": EMBEDDING_DIM,
        # Mean of the frames' pooled features (not re-normalised): the video's average content.
        "mean_embedding": [float(v) for v in emb.mean(axis=0)],
        # Classes with the highest probability averaged over frames, i.e. what the video shows
        # most of the time rather than its single most confident frame.
        "top_classes": [int(c) for c in video_top],
        "top_labels": [labels[c] for c in video_top],
        "top_probs": [float(mean_prob[c]) for c in video_top],
        "device": ctx.runtime.device,
        "precision": ctx.runtime.precision,
    }
    return ComponentResult.ok(table, summary=summary)


SPEC = ComponentSpec(
    name="visual_embedding",
    modality=Modality.VISUAL,
    description="EfficientNet-Lite0 (ImageNet) per sampled frame: 1280-d pooled embedding and top-5 labels; video mean and top labels.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=VisualEmbeddingConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("frames",),
    models=(MODEL,),
    uses_gpu=True,
    frame_request=frame_request,
    summary_keys=(
        "device",
        "embedding_dim",
        "frame_count",
        "mean_embedding",
        "precision",
        "top_classes",
        "top_labels",
        "top_probs",
    ),
)
