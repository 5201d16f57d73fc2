"""``image_stats``: per-frame brightness, contrast, sharpness and colourfulness, with per-video aggregates.

Cheap, model-free picture descriptors for filtering and ranking videos (too dark, washed out,
blurry, grey), measured on the profile's sampled frames.
"""

from __future__ import annotations

from typing import Literal, Mapping

import cv2
import numpy as np
import pyarrow as pa

from dp_assets.contract import (
    ComponentConfig,
    ComponentContext,
    ComponentResult,
    ComponentSpec,
    FrameRequest,
    Modality,
    SamplingPolicy,
)

# Luma weights (R, G, B) applied to the gamma-encoded RGB the frames store holds, i.e. Y' as
# in the standards, not linear luminance. BT.601 is the default because it is what OpenCV's
# RGB2GRAY, PIL's "L" mode and most image-quality literature use, so values compare with theirs;
# BT.709 matches HD material's own matrix.
LUMA_WEIGHTS = {
    "bt601": (0.299, 0.587, 0.114),
    "bt709": (0.2126, 0.7152, 0.0722),
}
DEFAULT_LUMA = "bt601"
# Aperture of the Laplacian for sharpness. 1 is the 3x3 kernel [0 1 0; 1 -4 1; 0 1 0] of the
# classic "variance of Laplacian" blur measure (Pech-Pacheco et al. 2000); larger apertures
# smooth first and respond to coarser detail.
DEFAULT_LAPLACIAN_KSIZE = 1
# Colourfulness after Hasler & Suesstrunk (2003), eq. 3, on 0-255 RGB:
# M = sigma_rgyb + 0.3 * mu_rgyb. Their scale: ~0 not colourful, ~15 slightly, ~33 moderately,
# ~45 averagely, ~59 quite, ~82 highly, ~109 extremely colourful. Column and summary names spell
# it "colorfulness", as the features schema does.
COLORFULNESS_MEAN_WEIGHT = 0.3

METRICS = ("brightness", "contrast", "sharpness", "colorfulness")
# per-video statistics of each metric in the summary: <metric>_<stat>
SUMMARY_STATS = ("mean", "std", "min", "max")


class ImageStatsConfig(ComponentConfig):
    luma: Literal["bt601", "bt709"] = DEFAULT_LUMA
    laplacian_ksize: Literal[1, 3, 5, 7] = DEFAULT_LAPLACIAN_KSIZE


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("pts_s", pa.float64(), nullable=False),
        # mean luma, 0-255
        pa.field("brightness", pa.float64(), nullable=False),
        # standard deviation of luma (RMS contrast), 0-127.5
        pa.field("contrast", pa.float64(), nullable=False),
        # variance of the Laplacian of luma; depends on the stored frame size (the profile's
        # max_side), so compare it only between videos sampled with the same policy
        pa.field("sharpness", pa.float64(), nullable=False),
        # Hasler & Suesstrunk colourfulness, 0 for a grey frame, ~110 "extremely colourful"
        pa.field("colorfulness", pa.float64(), nullable=False),
    ]
)


def frame_request(config: ImageStatsConfig, sampling: SamplingPolicy) -> FrameRequest:
    return sampling.default_request


def frame_stats(image: np.ndarray, luma_weights: tuple[float, float, float], laplacian_ksize: int) -> dict[str, float]:
    """The four metrics of one (h, w, 3) uint8 RGB frame."""
    rgb = image.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # Float luma: rounding to uint8 first would add quantisation noise to the Laplacian.
    luma = luma_weights[0] * r + luma_weights[1] * g + luma_weights[2] * b
    laplacian = cv2.Laplacian(luma, cv2.CV_32F, ksize=laplacian_ksize)
    rg = r - g
    yb = 0.5 * (r + g) - b
    sigma = np.sqrt(float(rg.var()) + float(yb.var()))
    mu = np.sqrt(float(rg.mean()) ** 2 + float(yb.mean()) ** 2)
    return {
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
        "sharpness": float(laplacian.astype(np.float64).var()),
        "colorfulness": float(sigma + COLORFULNESS_MEAN_WEIGHT * mu),
    }


def compute(ctx: ComponentContext, config: ImageStatsConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    frames = ctx.frames  # the frames of this component's frame_request, handed over by run_component
    weights = LUMA_WEIGHTS[config.luma]
    rows = []
    for t, image in zip(frames.pts_s, frames.images):
        rows.append({"pts_s": float(t), **frame_stats(np.asarray(image), weights, config.laplacian_ksize)})
    summary: dict[str, object] = {"frame_count": len(rows), "luma": config.luma}
    for metric in METRICS:
        values = np.array([row[metric] for row in rows], dtype=np.float64)
        # Population std (ddof=0): the spread of this video's sampled frames, 0 for a single frame.
        summary[f"{metric}_mean"] = float(values.mean())
        summary[f"{metric}_std"] = float(values.std())
        summary[f"{metric}_min"] = float(values.min())
        summary[f"{metric}_max"] = float(values.max())
    return ComponentResult.ok(pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA), summary=summary)


SPEC = ComponentSpec(
    name="image_stats",
    modality=Modality.VISUAL,
    description="Per-frame brightness, contrast, sharpness and colourfulness on the sampled frames, with per-video mean/std/min/max.",
    producer_version="1.0.0",
    schema_version=1,
    config_model=ImageStatsConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=("frames",),
    frame_request=frame_request,
    summary_keys=("frame_count", "luma", *(f"{metric}_{stat}" for metric in METRICS for stat in SUMMARY_STATS)),
)
