"""The log checker on real Kafka traces: what ``check_log`` says about runs of the model.

Each test runs a small scenario through the public API — a producer, consumer groups built from
``models.kafka.loops`` (``process_then_commit``, ``commit_before_process``, ``auto_commit``),
crashes (``crash_at`` / ``restart_after``), a consumer lagging past retention, a late consumer
starting at ``latest``, a reader of a compacted topic — and asserts what the checker reports,
counting independently from the raw trace where it can:

- clean runs are ``ok``, every group got every record once, nothing lost or duplicated;
- commit after processing + a crash: duplicates (as many as the trace's extra deliveries), no
  loss — at-least-once;
- commit before processing + a crash: loss with cause ``client-crash`` (as many as the loop
  dropped), no duplicates — at-most-once;
- a consumer that falls behind retention: loss with cause ``retention`` at the deletion time,
  and the sentence says so; nothing else (no skip, no going back);
- a late ``latest`` consumer is owed only what came after it joined.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.kafka.cluster import KafkaCluster
from models.kafka.consumer import TopicPartition
from models.kafka.loops import auto_commit, commit_before_process, process_then_commit
from sim import Simulation
from sim.checker import assert_conserved, check_log
from sim.trace import REASON_CODE

LOOPS = {"process_then_commit": process_then_commit,
         "commit_before_process": commit_before_process, "auto_commit": auto_commit}
GROUP = {"auto.offset.reset": "earliest", "session.timeout.ms": 6000, "max.poll.records": 20,
         "auto.commit.interval.ms": 1000}


def cluster(seed: int = 9, brokers: int = 3, **config) -> tuple[Simulation, KafkaCluster]:
    s = Simulation(seed=seed)
    k = KafkaCluster(s, brokers=brokers, config={"group.initial.rebalance.delay.ms": 0,
                                                 **config})
    return s, k


def produce(k: KafkaCluster, n: int, over: float, topic: str = "t", size: int = 200,
            start: float = 0.0) -> np.ndarray:
    """``n`` records sent evenly over ``over`` seconds (acks=all); their message ids."""
    p = k.producer({"linger.ms": 5, "acks": "all"})
    return p.produce(topic, start + np.linspace(0, over, n), np.full(n, size)).msg


def deliveries(s: Simulation, group: str) -> np.ndarray:
    """Message ids delivered to the members of ``group``, one per delivery."""
    tr = s.trace
    members = [r for r, g in tr.receiver_groups.items() if g == group]
    d = tr.delivered
    return d["msg"][np.isin(d["receiver"], members)]


def extra_deliveries(s: Simulation, group: str) -> int:
    got = deliveries(s, group)
    return len(got) - len(np.unique(got))


# --- clean runs --------------------------------------------------------------------------------


def test_clean_run_every_group_gets_everything_once():
    s, k = cluster()
    k.create_topic("t", partitions=4, replication_factor=3)
    msg = produce(k, 1000, over=2.0)
    for name, loop in LOOPS.items():
        for member in ("a", "b"):
            loop(k, {**GROUP, "group.id": name, "client.id": member}, "t", processing=0.002)
    s.run(until=30)
    report = check_log(s.trace, drained=True)
    assert report.ok and not report.findings, report.explain()
    assert_conserved(report)
    for name in LOOPS:
        g = report.receiver(name)
        assert (g.entitled, g.delivered, g.lost, g.duplicated, g.in_flight) == (
            len(msg), len(msg), {}, 0, 0), g
        assert sorted(deliveries(s, name).tolist()) == sorted(msg.tolist())
        assert f"{name} received 1 000 of 1 000 records of its partitions" in report.explain()


def test_clean_manual_assignment_is_clean_even_as_an_assign_history():
    """A plain consumer with ``assign`` (deliveries traced at ``poll()``), checked with
    ``assigned=True``: any skip or step back would be an error."""
    s, k = cluster(brokers=1)
    k.create_topic("t", partitions=2, replication_factor=1)
    msg = produce(k, 300, over=1.0)
    c = k.consumer({"group.id": "r", "auto.offset.reset": "earliest", "max.poll.records": 7})
    c.assign([("t", 0), ("t", 1)])

    def run():
        while True:
            yield c.poll(timeout_ms=50)
    s.process(run())
    s.run(until=5)
    report = check_log(s.trace, drained=True, assigned=True)
    assert report.ok and not report.findings, report.explain()
    assert report.receiver("r").delivered == len(msg)


# --- crashes -----------------------------------------------------------------------------------


def crash_run(mode: str, crash_at=(1.03, 9.51)):
    """Two members; ``a`` crashes mid-batch at each of ``crash_at`` and restarts 1 s later
    (the group notices after ``session.timeout.ms`` = 6 s). 1 000 records sent in 2 s,
    10 ms of processing per record, 20 records a poll."""
    s, k = cluster()
    k.create_topic("t", partitions=4, replication_factor=3)
    msg = produce(k, 1000, over=2.0)
    loop = LOOPS[mode]
    a = loop(k, {**GROUP, "group.id": "g", "client.id": "a"}, "t", processing=0.01,
             crash_at=crash_at, restart_after=1.0)
    loop(k, {**GROUP, "group.id": "g", "client.id": "b"}, "t", processing=0.01)
    s.run(until=60)
    assert a.stats["crashes"] == len(crash_at)
    return s, msg, a, check_log(s.trace, drained=True)


@pytest.mark.parametrize("mode", ["process_then_commit", "auto_commit"])
def test_commit_after_processing_and_a_crash_duplicates_and_loses_nothing(mode):
    s, msg, _a, report = crash_run(mode)
    assert report.ok, report.explain()
    assert_conserved(report)
    g = report.receiver("g")
    assert (g.entitled, g.delivered, g.lost) == (len(msg), len(msg), {})
    assert g.duplicated == extra_deliveries(s, "g") > 0
    assert report.count("redelivered") == g.duplicated
    assert f"{g.duplicated} duplicated" in g.sentence()
    assert not report.of("double-ownership") and not report.of("lost-write")
    assert len(s.trace.dropped) == 0


def test_commit_before_processing_and_a_crash_loses_with_cause_client_crash():
    s, msg, a, report = crash_run("commit_before_process")
    assert report.ok, report.explain()  # at-most-once: the loss is expected and explained
    assert_conserved(report)
    g = report.receiver("g")
    lost = a.stats["lost_in_crash"]
    assert lost > 0
    assert (g.entitled, g.delivered, g.lost, g.duplicated) == (
        len(msg), len(msg) - lost, {"client-crash": lost}, 0)
    assert extra_deliveries(s, "g") == 0
    dropped = s.trace.dropped
    assert set(dropped["reason"].tolist()) == {REASON_CODE["client-crash"]}
    (finding,) = report.of("lost")
    assert finding.cause == "client-crash" and finding.count == lost
    # the loss is dated when it happened (the first crash), not when the records were sent
    assert finding.first_t == pytest.approx(1.03)
    assert f"g lost {lost} messages: client-crash at t=1.0 s" in finding.sentence()


# --- retention ---------------------------------------------------------------------------------


def retention_run(reset: str = "earliest"):
    """2 000 records over 20 s into 2 partitions of 2 KB segments, kept 5 s, retention
    checked every second. ``fast`` keeps up; ``slow`` (30 ms a record) falls ever further
    behind and loses what retention deletes before it gets there."""
    s, k = cluster(seed=4, brokers=1, **{"log.initial.task.delay.ms": 1000,
                                         "log.retention.check.interval.ms": 1000})
    k.create_topic("t", partitions=2, replication_factor=1,
                   config={"segment.bytes": 2000, "retention.ms": 5000})
    msg = produce(k, 2000, over=20.0, size=100)
    process_then_commit(k, {**GROUP, "group.id": "fast", "client.id": "f"}, "t",
                        processing=0.001)
    process_then_commit(k, {**GROUP, "group.id": "slow", "client.id": "s",
                            "auto.offset.reset": reset}, "t", processing=0.03)
    s.run(until=70)
    return s, k, msg


def test_lagging_past_retention_is_loss_by_retention_and_nothing_else():
    s, _k, msg, = retention_run()
    report = check_log(s.trace, drained=True)
    assert report.ok, report.explain()
    assert_conserved(report)
    assert report.receiver("fast").delivered == len(msg)
    slow = report.receiver("slow")
    dropped = s.trace.dropped
    lost = len(dropped)
    assert lost > 0 and set(dropped["reason"].tolist()) == {REASON_CODE["retention"]}
    assert (slow.entitled, slow.delivered, slow.lost, slow.duplicated) == (
        len(msg), len(msg) - lost, {"retention": lost}, 0)
    # deliveries are traced when processing ends, the loss when the fetch finds the offset
    # gone, which can be earlier: the checker must not read that as a skip or a step back
    assert not report.of("poll-skip") and not report.of("nonmonotonic-poll")
    assert slow.out_of_order == 0
    (finding,) = report.of("lost")
    deleted = s.trace.tables["log_deleted"]
    first_deleted = float(deleted["t"][np.isin(deleted["msg"], dropped["msg"])].min())
    assert finding.cause == "retention" and finding.first_t == first_deleted
    assert finding.first_t < float(dropped["t"].min())   # deleted before the consumer noticed
    assert f"slow lost {lost} messages: retention at" in report.explain()
    assert f"lost {lost} to retention" in slow.sentence()


def test_lagging_past_retention_with_latest_also_loses_to_the_offset_reset():
    s, _k, msg = retention_run(reset="latest")
    report = check_log(s.trace, drained=True)
    assert report.ok, report.explain()
    assert_conserved(report)
    slow = report.receiver("slow")
    counts = s.trace.drop_counts()
    assert set(counts) == {"retention", "offset-reset"}
    assert slow.lost == counts
    assert slow.delivered + sum(counts.values()) == slow.entitled == len(msg)
    assert not report.of("poll-skip") and not report.of("nonmonotonic-poll")


def test_late_consumer_with_latest_is_owed_only_what_follows_its_join():
    """Nobody reads the first 10 s: that is not a lost write (Jepsen's rule assumes readers
    start at the beginning), only ``unseen`` — not an error, as no final drain read them."""
    s, k = cluster(brokers=1)
    k.create_topic("t", partitions=2, replication_factor=1)
    msg = produce(k, 400, over=20.0)
    s.call_at(10.0, lambda: process_then_commit(
        k, {**GROUP, "group.id": "late", "client.id": "l", "auto.offset.reset": "latest"},
        "t", processing=0.001))
    s.run(until=40)
    report = check_log(s.trace)
    assert report.ok and report.kinds() == {"unseen"}, report.explain()
    g = report.receiver("late")
    got = deliveries(s, "late")
    sent_t = dict(zip(s.trace.published["msg"].tolist(), s.trace.published["t"].tolist(),
                      strict=True))
    assert 0 < g.delivered == g.entitled == len(got) < len(msg)
    assert min(sent_t[m] for m in got.tolist()) > 10.0     # nothing from before it joined
    assert g.lost == {} and g.in_flight == 0 and len(s.trace.dropped) == 0
    assert report.count("unseen") == len(msg) - len(got)
    assert max(sent_t[m] for m in s.trace.published["msg"].tolist()
               if m not in set(got.tolist())) < 10.0


# --- compaction --------------------------------------------------------------------------------


def test_reading_across_compacted_holes_is_loss_by_compaction_not_a_skip():
    """A reader of a compacted topic reads offsets 0-9, stalls; the cleaner removes the
    superseded values behind it; it reads on across the holes. Checked as an ``assign``
    history, where an unexplained skip would be an error."""
    s, k = cluster(seed=4, brokers=1, **{"log.initial.task.delay.ms": 10**9,
                                         "log.cleaner.enable": False})
    k.create_topic("state", partitions=1, replication_factor=1,
                   config={"cleanup.policy": "compact", "segment.bytes": 500,
                           "min.cleanable.dirty.ratio": 0.01})
    p = k.producer({"linger.ms": 0})

    def send():
        for i in range(60):
            p.send("state", value=b"v%d" % i + b"x" * 40, key=b"k%d" % (i % 5))
            yield s.timeout(0.01)
    s.process(send())
    c = k.consumer({"group.id": "r", "auto.offset.reset": "earliest", "max.poll.records": 10})
    tp = TopicPartition("state", 0)
    c.assign([tp])

    def read():
        yield s.timeout(0.2)
        while c.position(tp) is None or c.position(tp) < 10:
            yield c.poll(timeout_ms=100)
        assert c.position(tp) < 20
        yield s.timeout(2.0 - s.now)
        while True:
            yield c.poll(timeout_ms=100)
    s.process(read())
    s.call_at(1.5, k.clean_filthiest)
    s.run(until=4)
    compacted = s.trace.tables["log_deleted"]
    assert len(compacted) > 0 and set(compacted["reason"].tolist()) == {
        REASON_CODE["compaction"]}
    report = check_log(s.trace, drained=True, assigned=True)
    assert report.ok, report.explain()
    assert not report.of("poll-skip")
    r = report.receiver("r")
    behind = int(np.isin(compacted["msg"], s.trace.delivered["msg"], invert=True).sum())
    assert r.lost == {"compaction": behind} and r.delivered + behind == r.entitled == 60


def test_a_trace_where_every_send_failed_is_checked_not_crashed():
    """A batch larger than ``segment.bytes`` is rejected: nothing reaches the log."""
    s, k = cluster(brokers=1)
    k.create_topic("t", partitions=1, replication_factor=1, config={"segment.bytes": 100})
    p = k.producer({"linger.ms": 50})
    sent = [p.send("t", value=b"x" * 40) for _ in range(5)]
    s.run(until=1)
    assert all(not e.ok for e in sent)
    report = check_log(s.trace, drained=True)
    assert report.ok and report.receivers == ()
