"""Maintenance: daily jobs that keep disk use bounded (frames retention, LRU eviction, downloads)."""
