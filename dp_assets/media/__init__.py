"""Decoding through PyAV (bundled FFmpeg): opening media with clear errors, frames, audio."""
