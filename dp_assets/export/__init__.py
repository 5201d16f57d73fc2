"""The training dataset: every processed video's features (and, on request, per-frame and
per-segment tables) as one hive-partitioned Parquet dataset (``dp export``, ``training_dataset``)."""
