"""Every registered experiment, at its --quick size: runs without error, writes its files, and
shows the outcome it expects (``check``). New scenario modules are picked up automatically."""

import pytest

from experiments.registry import all_bench_cases, all_experiments
from experiments.report import write_outputs
from experiments.runner import run_experiment

REGISTERED = all_experiments()


@pytest.mark.parametrize("name", list(REGISTERED))
def test_quick_run_shows_the_expected_outcome(name, tmp_path):
    exp = REGISTERED[name]
    results = run_experiment(exp, seed=1, replications=2, quick=True)
    assert [r.error for r in results if not r.ok] == []
    assert all(r.metrics for r in results), "a run reported no metrics"
    outputs = write_outputs(tmp_path, [exp], results)
    assert outputs.figures[name], "no figure was drawn"
    if exp.check is not None:
        exp.check(results)


def test_registry_and_bench_cases_load():
    assert all(name == exp.name for name, exp in all_experiments().items())
    cases = all_bench_cases()
    assert {"naive-redis-fanout", "naive-kafka-groups"} <= set(cases)


def test_run_experiment_runs_the_demo_and_its_check():
    exp = all_experiments(["experiments_demo"])["demo"]
    results = run_experiment(exp, seed=2, replications=2, quick=True)
    assert len(results) == 2 and all(r.ok for r in results)
    exp.check(results)
