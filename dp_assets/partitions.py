"""The one partition set of the graph: a dynamic partition per ``video_id``."""

import dagster as dg

VIDEO_PARTITIONS_NAME = "video_id"

video_partitions = dg.DynamicPartitionsDefinition(name=VIDEO_PARTITIONS_NAME)
