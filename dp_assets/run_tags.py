"""The run tags DataProcessor reads and writes, named once."""

# Dagster's own tag holding a run's partition key.
PARTITION = "dagster/partition"
PREFIX = "dataprocessor"
VIDEO_ID = f"{PREFIX}/video_id"
PLATFORM_ID = f"{PREFIX}/platform_id"
PROFILE = f"{PREFIX}/profile"
# The bucket object a sensor-requested run processes.
BUCKET_KEY = f"{PREFIX}/bucket_key"
# Optional components that failed in the run, comma-separated (the run itself stays green).
PARTIAL_FAILURE = f"{PREFIX}/partial_failure"
# How many videos (a contiguous range of partitions) a run processes, when more than one.
BATCH_SIZE = f"{PREFIX}/batch_size"
# Set by dp process when the cached run is older than the TTL: recompute even valid artifacts.
FORCE_RECOMPUTE = f"{PREFIX}/recompute"
# Who writes the run's manifest: runs that dp process finalizes itself are left to it by the sensors.
FINALIZED_BY = f"{PREFIX}/finalized_by"
FINALIZED_BY_DP_PROCESS = "dp process"
# Set by a step that processes whole videos: it writes each video's manifest as the video is done.
FINALIZED_BY_STEP = "step"
# The process executing a run in-process (dp process): a run whose process is gone is released.
OWNER_PID = f"{PREFIX}/owner_pid"
OWNER_STARTED = f"{PREFIX}/owner_started"
OWNER_HOST = f"{PREFIX}/owner_host"
