"""The experiments, one module each.

Each module defines ``EXPERIMENT`` (an :class:`experiments.Experiment`) or ``EXPERIMENTS`` (a
tuple), and may define ``BENCH_CASES`` (a tuple of :class:`experiments.bench.BenchCase`). The
registry (:func:`experiments.all_experiments`) finds them; nothing else needs editing.
"""
