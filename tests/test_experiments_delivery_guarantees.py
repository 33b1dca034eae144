"""The delivery-guarantees experiment: crash times, variant names, and a check that rejects
duplicates from at-most-once or losses from at-least-once."""

import numpy as np
import pytest

from experiments.registry import all_experiments
from experiments.scenarios import delivery_guarantees as dg
from tests.experiment_helpers import quick_run, with_metric

EXP = all_experiments()["delivery-guarantees"]


@pytest.fixture(scope="module")
def quick_result():
    return quick_run(EXP)


def test_crash_times_one_per_slice_of_the_middle_of_the_run_and_seeded():
    params = EXP.resolve()
    times = dg.crash_times(params, 5)
    assert len(times) == params["crashes"]
    edges = np.linspace(0.1 * params["duration"], 0.9 * params["duration"], len(times) + 1)
    assert np.all((times >= edges[:-1]) & (times < edges[1:]))
    np.testing.assert_array_equal(times, dg.crash_times(params, 5))
    assert not np.array_equal(times, dg.crash_times(params, 6))
    with pytest.raises(ValueError):
        dg.crash_times(EXP.resolve({"crashes": 0}), 1)


def test_variant_names_and_intervals():
    params = EXP.resolve()
    assert dg.auto_intervals(params) == [1000, 5000, 10000]
    assert dg.variants(params) == ["redis", "kafka/commit-before", "kafka/commit-after",
                                   "kafka/auto-commit 1s", "kafka/auto-commit 5s",
                                   "kafka/auto-commit 10s"]
    with pytest.raises(ValueError):
        dg.auto_intervals({"auto.commit.interval.ms": "0"})


def test_check_holds_and_rejects_the_wrong_guarantee(quick_result):
    EXP.check([quick_result])
    with pytest.raises(AssertionError, match="at-most-once"):
        EXP.check([with_metric(quick_result, dg.BEFORE, "duplicated", 3)])
    with pytest.raises(AssertionError, match="at-most-once"):
        EXP.check([with_metric(quick_result, dg.REDIS, "duplicated", 1)])
    with pytest.raises(AssertionError, match="at-least-once"):
        EXP.check([with_metric(quick_result, dg.AFTER, "lost", 2)])
    with pytest.raises(AssertionError, match="longer"):
        EXP.check([with_metric(quick_result, dg.auto_name(10000), "duplicated", 0)])
