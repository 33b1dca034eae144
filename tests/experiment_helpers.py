"""Helpers the experiment tests share: one quick run, and a result with one metric changed
(to show that an experiment's ``check`` rejects the outcome it must not accept)."""

from __future__ import annotations

import dataclasses

from experiments.experiment import Experiment, Metric, RunResult
from experiments.runner import run_experiment


def quick_run(exp: Experiment, seed: int = 4) -> RunResult:
    """One replication of ``exp`` at its ``--quick`` size; fails the test if the run failed."""
    (result,) = run_experiment(exp, seed=seed, replications=1, quick=True)
    assert result.ok, result.error
    return result


def with_metric(result: RunResult, model: str, metric: str, value: float) -> RunResult:
    """``result`` with ``model``'s ``metric`` replaced by ``value``."""
    metrics = [Metric(m.model, m.metric, value, m.unit)
               if (m.model, m.metric) == (model, metric) else m for m in result.metrics]
    return dataclasses.replace(result, metrics=metrics)
