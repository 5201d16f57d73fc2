"""Warm run workers: the daemon's runs execute in long-lived processes that keep the models loaded.

A fresh process per run re-imports everything and reloads every model (tens of seconds per short
video, measured). ``launcher.WarmRunLauncher`` (the instance's run launcher, ``dagster.yaml``)
hands each run to one of ``DP_WORKERS`` worker processes (``worker.py``) that imported the code
location and loaded the profile's models once; ``coordinator.WorkerRunCoordinator`` keeps at most
that many runs in flight, the others stay queued.
"""
