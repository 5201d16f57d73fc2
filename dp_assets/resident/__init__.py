"""``dp serve``: a resident process that keeps the models loaded and computes the videos that
``dp process`` hands it over a Unix socket in DP_HOME.

``dp process`` otherwise pays about 8 s per command before its first video computes (imports,
the instance, model loads, first inferences: docs/benchmarks.md). With ``dp serve`` running, a
command costs what its client costs (the cached path's start, about 0.5 s) and the server's
Dagster runs, which are the same runs on the same instance as an in-process ``dp process``.
"""
