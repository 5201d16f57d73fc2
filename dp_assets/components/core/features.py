"""``features``: the training-schema row for one video, built from required components only.

One Parquet row with a fixed schema (``FEATURES_SCHEMA_VERSION``). A source that is ``empty``
(no audio track, no video track) leaves its columns null and says why in ``<source>_status`` /
``<source>_empty_reason``, so a consumer can tell "silent" from "not measured".

The row holds what was computed from the content and nothing about who uploaded it: a repost of
the same bytes shares it as it is. ``dp export`` adds ``platform_id`` and ``video_id``.
"""

from __future__ import annotations

import math
from typing import Mapping

import pyarrow as pa

from dp_assets.contract import ComponentConfig, ComponentContext, ComponentResult, ComponentSpec, Modality, Status

# 2: the row no longer carries video_id / platform_id (the export adds them), so reposts share it
FEATURES_SCHEMA_VERSION = 2

# column -> (source component, summary key, arrow type)
COLUMNS: dict[str, tuple[str, str, pa.DataType]] = {
    "duration_s": ("video_probe", "duration_s", pa.float64()),
    "width": ("video_probe", "width", pa.int32()),
    "height": ("video_probe", "height", pa.int32()),
    "fps_avg": ("video_probe", "fps_avg", pa.float64()),
    "fps_variable": ("video_probe", "fps_variable", pa.bool_()),
    "has_video": ("video_probe", "has_video", pa.bool_()),
    "has_audio": ("video_probe", "has_audio", pa.bool_()),
    "brightness_mean": ("image_stats", "brightness_mean", pa.float64()),
    "contrast_mean": ("image_stats", "contrast_mean", pa.float64()),
    "sharpness_mean": ("image_stats", "sharpness_mean", pa.float64()),
    "colorfulness_mean": ("image_stats", "colorfulness_mean", pa.float64()),
    "cut_count": ("shot_boundaries", "cut_count", pa.int32()),
    "shot_count": ("shot_boundaries", "shot_count", pa.int32()),
    "mean_shot_length_s": ("shot_boundaries", "mean_shot_length_s", pa.float64()),
    "integrated_lufs": ("loudness", "integrated_lufs", pa.float64()),
    "rms_dbfs": ("loudness", "rms_dbfs", pa.float64()),
    "silence_ratio": ("loudness", "silence_ratio", pa.float64()),
}
SOURCES = tuple(dict.fromkeys(source for source, _, _ in COLUMNS.values()))

OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("features_schema_version", pa.int32(), nullable=False),
        pa.field("cuts_per_minute", pa.float64()),
        *[pa.field(name, dtype) for name, (_, _, dtype) in COLUMNS.items()],
        *[pa.field(f"{source}_status", pa.string()) for source in SOURCES],
        *[pa.field(f"{source}_empty_reason", pa.string()) for source in SOURCES],
    ]
)


class FeaturesConfig(ComponentConfig):
    pass


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def compute(ctx: ComponentContext, config: FeaturesConfig, inputs: Mapping[str, ComponentResult]) -> ComponentResult:
    row: dict = {"features_schema_version": FEATURES_SCHEMA_VERSION}
    for name, (source, key, _) in COLUMNS.items():
        result = inputs[source]
        row[name] = _finite(result.summary.get(key)) if result.status is Status.OK else None
    for source in SOURCES:
        row[f"{source}_status"] = inputs[source].status.value
        row[f"{source}_empty_reason"] = inputs[source].empty_reason
    duration = row["duration_s"]
    row["cuts_per_minute"] = (
        row["cut_count"] * 60.0 / duration if row["cut_count"] is not None and duration and duration > 0 else None
    )
    table = pa.Table.from_pylist([row], schema=OUTPUT_SCHEMA)
    return ComponentResult.ok(table, summary=row)


SPEC = ComponentSpec(
    name="features",
    modality=Modality.CORE,
    description="The training-schema row (one Parquet row, fixed schema) from the required components.",
    producer_version="1.0.0",
    schema_version=FEATURES_SCHEMA_VERSION,
    config_model=FeaturesConfig,
    output_schema=OUTPUT_SCHEMA,
    compute=compute,
    upstream=SOURCES,
    reads={source: tuple(key for s, key, _ in COLUMNS.values() if s == source) for source in SOURCES},
    accepts_empty_inputs=True,
    tolerates_failed_inputs=True,
    # the row itself
    summary_keys=tuple(OUTPUT_SCHEMA.names),
)
