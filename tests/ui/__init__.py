"""Browser tests of the Dagster UI of our code location (``dp dev`` driven by headless Chromium)."""
