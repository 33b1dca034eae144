"""Named Redis Pub/Sub vs Kafka experiments: the runner, CLI, sweeps, plots and reports.

Run ``python -m experiments --help``. An experiment is a module in ``experiments/scenarios/``
defining ``EXPERIMENT = Experiment(...)``; see :mod:`experiments.experiment`.
"""

from experiments.experiment import Experiment, Metric, Params, RunResult, UsageError, Verdict
from experiments.registry import all_bench_cases, all_experiments

__all__ = [
    "Experiment",
    "Metric",
    "Params",
    "RunResult",
    "UsageError",
    "Verdict",
    "all_bench_cases",
    "all_experiments",
]
