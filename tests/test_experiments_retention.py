"""The retention experiment: compressed time, topic settings, and a check that rejects storage
beyond the retention bound, stored Redis messages, or unexplained losses."""

import pytest

from experiments.registry import all_experiments
from experiments.scenarios import retention
from sim import Simulation
from tests.experiment_helpers import quick_run, with_metric

EXP = all_experiments()["retention"]


@pytest.fixture(scope="module")
def quick_result():
    return quick_run(EXP)


def test_time_is_compressed_and_sizes_are_not():
    params = EXP.resolve()
    assert retention.day_s(params) == pytest.approx(10.0)
    assert retention._retention_days(params) == pytest.approx(7.0)
    cfg = retention._topic_config(params, by_size=True)
    assert cfg == {"retention.ms": 70_000, "segment.ms": 70_000,
                   "segment.bytes": 1024 * 1024, "retention.bytes": 3 * 1024 * 1024}
    assert "retention.bytes" not in retention._topic_config(params, by_size=False)
    batch = retention.workload({**params, "arrivals": "constant"}).generate(Simulation(seed=1))
    assert len(batch) == params["messages_per_day"] * params["days"]


@pytest.mark.parametrize(("key", "value"), [("away_days", 20.0), ("slow_fraction", 1.5)])
def test_impossible_settings_are_rejected_before_the_run(key, value):
    with pytest.raises(ValueError):
        retention.run(EXP.resolve({key: value}, quick=True), 1)


def test_check_holds_and_rejects_overshoot_storage_in_redis_and_unexplained_loss(quick_result):
    EXP.check([quick_result])
    peak = quick_result.value(retention.STORE_TIME, "storage_peak_bytes")
    with pytest.raises(AssertionError, match="bound"):
        EXP.check([with_metric(quick_result, retention.STORE_TIME, "storage_peak_bytes",
                               10 * peak)])
    with pytest.raises(AssertionError):
        EXP.check([with_metric(quick_result, retention.STORE_REDIS, "storage_peak_bytes", 1)])
    with pytest.raises(AssertionError, match="reason"):
        EXP.check([with_metric(quick_result, retention.AWAY_EARLIEST, "unread_at_end", 3)])
