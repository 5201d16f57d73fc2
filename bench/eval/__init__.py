"""The accuracy evaluation set: videos and images built from the shared clips with exact ground truth.

Nothing here is media checked into the repository: ``generate.py`` rebuilds the set
deterministically from ``shared/media`` (splices, transitions and rendered text whose positions
and frame indices are known by construction), and ``score.py`` holds the scoring rules that
``bench/bench_accuracy.py`` and the regression tests in ``tests/eval`` share.
"""
