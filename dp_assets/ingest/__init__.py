"""Ingest: the bucket sensor that turns uploaded videos into catalog entries, partitions and runs."""
