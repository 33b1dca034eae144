"""The consumer-groups experiment: parameter parsing, partition ownership from group events,
and a check that rejects a group that shares badly or a crash noticed at once."""

import pytest

from experiments.registry import all_experiments
from experiments.scenarios import consumer_groups as cg
from models.kafka.assignors import TopicPartition
from sim.trace import Trace
from tests.experiment_helpers import quick_run, with_metric

EXP = all_experiments()["consumer-groups"]


@pytest.fixture(scope="module")
def quick_result():
    return quick_run(EXP)


def test_group_sizes_and_event_times_are_validated():
    assert cg.group_sizes({"group_sizes": "8, 1,2,2"}) == [1, 2, 8]
    for bad in ("", "0,3", "x"):
        with pytest.raises(ValueError):
            cg.group_sizes({"group_sizes": bad})
    params = EXP.resolve()
    assert cg.event_times(params) == {"join": 10.0, "leave": 25.0, "crash": 40.0}
    with pytest.raises(ValueError):
        cg.event_times(EXP.resolve({"leave_at": 5.0}))


def test_unowned_gaps_are_the_uncovered_stretches():
    spans = [(1.0, 3.0, "a"), (2.5, 4.0, "b"), (6.0, 7.0, "a")]
    assert cg.unowned_gaps(spans, 0.0, 10.0) == [(0.0, 1.0), (4.0, 6.0), (7.0, 10.0)]
    assert cg.unowned_gaps([], 0.0, 2.0) == [(0.0, 2.0)]


def test_ownership_follows_assigned_revoked_and_crash_events():
    trace = Trace()
    p0, p1 = TopicPartition("t", 0), TopicPartition("t", 1)
    trace.event(1.0, "assigned", "g", member="a-1", partitions=(p0, p1), generation=1)
    trace.event(5.0, "revoked", "g", member="a-1", partitions=(p1,), reason="rebalance")
    trace.event(6.0, "assigned", "g", member="b-1", partitions=(p1,), generation=2)
    trace.event(8.0, "crash", "g/b", member="b-1")
    trace.event(9.0, "assigned", "other", member="z-1", partitions=(p0,), generation=1)
    spans = cg.ownership(trace, "g", end=12.0)
    assert spans == {("t", 0): [(1.0, 12.0, "a-1")],
                     ("t", 1): [(1.0, 5.0, "a-1"), (6.0, 8.0, "b-1")]}


def test_check_holds_and_rejects_bad_sharing_or_an_instant_crash_rebalance(quick_result):
    EXP.check([quick_result])
    with pytest.raises(AssertionError, match="group of 6"):
        EXP.check([with_metric(quick_result, "kafka", "throughput_6_receivers", 50.0)])
    with pytest.raises(AssertionError):
        EXP.check([with_metric(quick_result, "kafka", "idle_8_receivers", 0)])
    with pytest.raises(AssertionError, match="load sharing"):
        EXP.check([with_metric(quick_result, "redis", "throughput_6_receivers", 300.0)])
    with pytest.raises(AssertionError, match="session"):
        EXP.check([with_metric(quick_result, "kafka", "crash_rebalance_starts_after_s", 0.1)])
