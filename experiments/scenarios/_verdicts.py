"""Small helpers for experiments' ``verdicts``: means of a metric over replications."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experiments.experiment import RunResult


def mean(results: Sequence[RunResult], model: str, metric: str) -> float:
    """The metric's mean over the runs that have it (NaN if none do)."""
    values = []
    for r in results:
        try:
            values.append(r.value(model, metric))
        except (KeyError, ValueError):
            continue
    return float(np.mean(values)) if values else float("nan")
