"""Consumer loops: commit placement decides what a crash costs (exact record counts)."""

import numpy as np
import pytest

from models.kafka.cluster import KafkaCluster
from models.kafka.loops import (
    ConsumerLoop,
    auto_commit,
    commit_before_process,
    process_then_commit,
)
from sim import Simulation
from sim.trace import REASON_CODE

LAT = 0.0005
CFG = {"group.id": "g", "client.id": "worker", "auto.offset.reset": "earliest",
       "max.poll.records": 10, "auto.commit.interval.ms": 2000}


def setup(n=100, seed=1):
    s = Simulation(seed=seed)
    k = KafkaCluster(s, brokers=1, latency=LAT, config={"group.initial.rebalance.delay.ms": 0})
    k.create_topic("t", partitions=1, replication_factor=1)
    part = k.topics["t"].partitions[0]
    msg = k.trace.new_message_ids(n)
    for i in range(0, n, 10):
        part.append(msg[i:i + 10], np.zeros(10), np.full(10, 100), None, None, "all")
    return s, k, msg


def deliveries(s):
    d = s.trace.delivered
    return d["msg"], d["receiver"], d["t"]


def crash_run(factory, crash_at=3.55):
    """One partition of 100 records, batches of 10 at 0.1 s per record (a batch ~1 s); the
    consumer crashes in its fourth batch and restarts 1 s later (the new member waits for the
    old one's session to time out)."""
    s, k, msg = setup()
    loop = factory(k, CFG, "t", processing=0.1, crash_at=[crash_at], restart_after=1.0)
    s.run(until=80)
    return s, k, msg, loop


def test_process_then_commit_crash_replays_exactly_the_records_since_the_last_commit():
    s, _k, msg, loop = crash_run(process_then_commit)
    got, receiver, _ = deliveries(s)
    values, counts = np.unique(got, return_counts=True)
    assert set(values) == set(msg)                      # nothing lost
    # batches 0-2 were committed (offset 30); 30-34 were processed by 3.55 s, then replayed
    assert list(values[counts > 1]) == list(msg[30:35])
    assert counts.max() == 2
    assert len(s.trace.dropped) == 0
    assert loop.stats["crashes"] == 1 and loop.stats["restarts"] == 1
    assert len(set(receiver)) == 1                      # same client.id: same receiver
    removed = s.trace.events_of("member-removed")
    assert [e.detail["reason"] for e in removed] == ["session-timeout"]


def test_commit_before_process_crash_loses_exactly_the_unprocessed_committed_records():
    s, _k, msg, loop = crash_run(commit_before_process)
    got, _, _ = deliveries(s)
    values, counts = np.unique(got, return_counts=True)
    assert counts.max() == 1                            # no duplicates
    # the fourth batch (30-39) was committed first; 30-34 processed before the crash
    assert set(msg) - set(values) == set(msg[35:40])
    dropped = s.trace.dropped
    assert list(dropped["msg"]) == list(msg[35:40])
    assert set(dropped["reason"]) == {REASON_CODE["client-crash"]}
    assert loop.stats["lost_in_crash"] == 5


def test_commit_before_process_skips_a_batch_whose_commit_answer_was_lost():
    """At-most-once: the broker stores the commit of batch 0-9 but its answer is lost (the
    broker -> client direction is cut for 1 s); after request.timeout.ms the loop gets a
    timeout, does not process the batch, and resumes from the committed offset. The batch is
    lost, traced ``commit-failed``; nothing is processed twice. (Processing after a failed
    commit would duplicate when the commit had not been stored.)"""
    from models.kafka.network import broker_name

    def run(cut_at: float | None):
        s, k, msg = setup(n=30)
        loop = commit_before_process(k, CFG, "t", processing=0.01)
        if cut_at is not None:  # between the commit's request leaving and its arrival
            s.call_at(cut_at, lambda: k.net.cut(broker_name(0), "worker", "one-way"))
            s.call_at(cut_at + 1.0, lambda: k.net.heal(broker_name(0), "worker"))
        s.run(until=80)
        return s, msg, loop

    s, msg, _ = run(None)
    stored = float(s.trace.committed["t"][0])  # when the broker stored the first commit
    s, msg, loop = run(stored - LAT / 2)
    got, _, _ = deliveries(s)
    assert sorted(got) == sorted(msg[10:])
    dropped = s.trace.dropped
    assert sorted(dropped["msg"]) == sorted(msg[:10])
    assert set(dropped["reason"]) == {REASON_CODE["commit-failed"]}
    assert loop.stats["commit_failures"] == 1 and loop.stats["skipped_batches"] == 1


def test_auto_commit_crash_replays_since_the_last_auto_commit():
    s, _k, msg, _loop = crash_run(auto_commit)
    got, _, _ = deliveries(s)
    values, counts = np.unique(got, return_counts=True)
    assert set(values) == set(msg)
    # auto-commit at the poll of ~2.0 s committed offset 20 (what earlier polls returned);
    # the next one (~4.0 s) never came: 20-34 were processed twice
    assert list(values[counts > 1]) == list(msg[20:35])
    assert len(s.trace.dropped) == 0


def test_processing_times_are_vectorised_and_traced_at_completion():
    s, k, msg = setup(n=20)
    service = []

    def draw(rng, n):
        out = rng.exponential(0.05, n)
        service.append(out)
        return out
    process_then_commit(k, CFG, "t", processing=draw)
    s.run(until=10)
    got, _, t = deliveries(s)
    assert list(got) == list(msg)
    assert len(service) == 2
    for batch, (lo, hi) in zip(service, [(0, 10), (10, 20)], strict=True):
        np.testing.assert_allclose(np.diff(t[lo:hi]), batch[1:])


def test_graceful_stop_by_until_commits_and_leaves():
    s, k, _msg = setup(n=30)
    loop = process_then_commit(k, CFG, "t", processing=0.01, until=2.0)
    s.run(until=5)
    assert loop.consumer.closed
    assert s.trace.committed["offset"][-1] == 30
    assert [e.detail["reason"] for e in s.trace.events_of("member-removed")] == ["leave"]
    assert len(deliveries(s)[0]) == 30


def test_bad_arguments_are_rejected():
    _s, k, _ = setup(n=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        ConsumerLoop(k, CFG, "t", "exactly_once")
    with pytest.raises(ValueError, match="processing"):
        process_then_commit(k, CFG, "t", processing=-1)
