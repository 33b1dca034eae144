"""The replay experiment: its workload, parameter validation, and a check that rejects a Redis
with history or a Kafka that does not serve it."""

import numpy as np
import pytest

from experiments.registry import all_experiments
from experiments.scenarios import replay_history as replay
from sim import Simulation
from tests.experiment_helpers import quick_run, with_metric

EXP = all_experiments()["replay"]


@pytest.fixture(scope="module")
def quick_result():
    return quick_run(EXP)


def test_workload_is_poisson_or_evenly_paced_half_a_period_off_the_grid():
    params = EXP.resolve({"arrivals": "constant"}, quick=True)
    batch = replay.workload(params).generate(Simulation(seed=1))
    period = 1.0 / params["rate"]
    assert len(batch) == params["rate"] * params["duration"]
    np.testing.assert_allclose(np.diff(batch.t), period)
    assert batch.t[0] == pytest.approx(period / 2)
    poisson = replay.workload(EXP.resolve(quick=True)).generate(Simulation(seed=1))
    assert np.diff(poisson.t).std() > 0.5 * period
    with pytest.raises(ValueError, match="arrivals"):
        replay.workload(EXP.resolve({"arrivals": "bursty"}, quick=True))


@pytest.mark.parametrize(("key", "value"), [("join_at", 0.0), ("join_at", 99.0),
                                            ("seek_to", 16.0), ("seek_at", 25.0)])
def test_impossible_moments_are_rejected_before_the_run(key, value):
    params = EXP.resolve({key: value}, quick=True)
    with pytest.raises(ValueError):
        replay.run(params, 1)


def test_check_holds_and_rejects_history_from_redis_or_none_from_kafka(quick_result):
    EXP.check([quick_result])
    with pytest.raises(AssertionError, match="no history"):
        EXP.check([with_metric(quick_result, replay.REDIS_LATE, "history_received", 5)])
    with pytest.raises(AssertionError, match="earliest"):
        EXP.check([with_metric(quick_result, replay.KAFKA_EARLIEST, "history_received", 0)])
    with pytest.raises(AssertionError, match="seek"):
        EXP.check([with_metric(quick_result, replay.KAFKA_SEEK, "history_fraction", 0.0)])
