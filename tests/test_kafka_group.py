"""Consumer groups: membership, rebalances (join, leave, session timeout, poll timeout),
eager vs cooperative revocation, and at most one owner per partition at any time."""

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka.cluster import KafkaCluster
from models.kafka.consumer import TopicPartition
from models.kafka.errors import CommitFailedError, KafkaError
from models.kafka.group import InvalidSessionTimeoutError
from sim import Simulation

LAT = 0.0005


def make(partitions=4, seed=1, broker_config=None):
    s = Simulation(seed=seed)
    k = KafkaCluster(s, brokers=1, latency=LAT, config=broker_config)
    k.create_topic("t", partitions=partitions, replication_factor=1)
    return s, k


def feed(s, k, every=0.1, n=20, until=None):
    """Append ``n`` records to every partition every ``every`` seconds."""
    def run():
        while until is None or s.now < until:
            for part in k.topics["t"].partitions:
                msg = k.trace.new_message_ids(n)
                part.append(msg, np.full(n, s.now), np.full(n, 100), None, None, "all")
            yield s.timeout(every)
    s.process(run())


def poller(s, c, until=None, timeout_ms=100, stop=None):
    def run():
        while (until is None or s.now < until) and not c.closed:
            if stop is not None and s.now >= stop:
                return
            yield c.poll(timeout_ms=timeout_ms)
    return s.process(run())


def consumers(k, n, group="g", **cfg):
    out = []
    for i in range(n):
        c = k.consumer({"group.id": group, "client.id": f"c{i}",
                        "auto.offset.reset": "earliest", **cfg})
        c.subscribe(["t"])
        out.append(c)
    return out


def ownership_intervals(trace, group="g"):
    """(partition, member, start, end) from the coordinator-side trace events."""
    open_, closed = {}, []
    for e in trace.events:
        if e.who != group:
            continue
        if e.kind == "assigned":
            for tp in e.detail["partitions"]:
                open_[(tp, e.detail["member"])] = e.t
        elif e.kind == "revoked":
            for tp in e.detail["partitions"]:
                key = (tp, e.detail["member"])
                if key in open_:
                    closed.append((tp, key[1], open_.pop(key), e.t))
        elif e.kind == "member-removed":
            for key in [key for key in open_ if key[1] == e.detail["member"]]:
                closed.append((key[0], key[1], open_.pop(key), e.t))
    closed.extend((tp, m, t, float("inf")) for (tp, m), t in open_.items())
    return closed


def assert_single_owner(trace, group="g"):
    assert not trace.events_of("double-ownership")
    by_tp = {}
    for tp, member, start, end in ownership_intervals(trace, group):
        by_tp.setdefault(tp, []).append((start, end, member))
    for spans in by_tp.values():
        spans.sort()
        for (_, end, m1), (start, _, m2) in pairwise(spans):
            assert end <= start, f"{m1} and {m2} overlap"


def test_more_consumers_than_partitions_leaves_the_extra_ones_idle():
    s, k = make(partitions=3)
    feed(s, k, until=5)
    cs = consumers(k, 5)
    for c in cs:
        poller(s, c, until=6)
    s.run(until=6)
    sizes = sorted(len(c.assignment()) for c in cs)
    assert sizes == [0, 0, 1, 1, 1]
    # one generation: all five joined within group.initial.rebalance.delay.ms (3 s)
    gens = s.trace.events_of("generation")
    assert len(gens) == 1 and gens[0].t == pytest.approx(3.0 + LAT)
    assert gens[0].detail["protocol"] == "range"
    delivered = s.trace.delivered
    receivers = set(delivered["receiver"])
    idle = {c.receiver for c in cs if not c.assignment()}
    assert receivers.isdisjoint(idle) and len(receivers) == 3
    # range: members in member-id order get partitions 0, 1, 2
    by_id = sorted((c for c in cs), key=lambda c: c.member_id)
    assert [sorted(c.assignment()) for c in by_id[:3]] == [
        [TopicPartition("t", p)] for p in range(3)]
    assert_single_owner(s.trace)


def test_a_member_leaving_hands_its_partitions_over_without_loss_or_duplicates():
    s, k = make(partitions=4)
    feed(s, k, until=20)
    c0, c1 = consumers(k, 2)
    poller(s, c0, until=25)
    poller(s, c1, stop=10)
    s.call_at(10, c1.close)
    s.run(until=25)
    assert c0.assignment() == {TopicPartition("t", p) for p in range(4)}
    removed = s.trace.events_of("member-removed")
    assert [(e.detail["reason"], e.detail["member"]) for e in removed] == [
        ("leave", c1.member_id or removed[0].detail["member"])]
    assert len(s.trace.events_of("generation")) == 2
    # auto-commit on close + eager rebalance: every record delivered exactly once
    msgs = s.trace.delivered["msg"]
    produced = k.trace.tables["appended"]["msg"]
    assert len(np.unique(msgs)) == len(msgs) == len(produced)
    assert_single_owner(s.trace)


def test_a_crashed_member_is_removed_after_session_timeout():
    s, k = make(partitions=4)
    feed(s, k, until=70)
    c0, c1 = consumers(k, 2, **{"enable.auto.commit": False})
    poller(s, c0, until=80)
    poller(s, c1, stop=10)
    s.call_at(10, c1.crash)
    s.run(until=80)
    removed = s.trace.events_of("member-removed")
    assert len(removed) == 1 and removed[0].detail["reason"] == "session-timeout"
    # heartbeats every 3 s from the first JoinGroup (t = 0.5 ms); the last before the crash
    # went at 9.0005; session.timeout.ms = 45 s
    assert removed[0].t == pytest.approx(9.0005 + 45.0)
    assert 42.0 <= removed[0].t - 10 <= 45.0
    assert c0.assignment() == {TopicPartition("t", p) for p in range(4)}
    # no commits: c0 re-reads c1's partitions from the start (reset earliest) -> duplicates
    assert_single_owner(s.trace)


def test_poll_interval_exceeded_member_leaves_and_its_commit_fails():
    s, k = make(partitions=2)
    feed(s, k, until=30)
    slow, fast = consumers(k, 2, **{"max.poll.interval.ms": 5000, "enable.auto.commit": False})
    poller(s, fast, until=30)
    outcome = []

    def slow_loop():
        yield slow.poll(timeout_ms=100)
        while not slow.assignment():
            yield slow.poll(timeout_ms=100)
        yield s.timeout(12)               # "processing" far longer than max.poll.interval.ms
        try:
            yield slow.commit()
            outcome.append("committed")
        except CommitFailedError:
            outcome.append("failed")
        while s.now < 30:
            yield slow.poll(timeout_ms=100)
    s.process(slow_loop())
    s.run(until=30)
    assert outcome == ["failed"]
    removed = s.trace.events_of("member-removed")
    assert [e.detail["reason"] for e in removed] == ["poll-timeout"]
    # it rejoined at its next poll and got a partition back
    assert len(slow.assignment()) == 1 and len(fast.assignment()) == 1
    assert_single_owner(s.trace)


def revocations(trace, member):
    return {tp for e in trace.events_of("revoked") if e.detail["member"] == member
            for tp in e.detail["partitions"]}


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_eager_revokes_everything_cooperative_only_what_moves(strategy):
    s, k = make(partitions=6)
    feed(s, k, until=20)
    cfg = {"partition.assignment.strategy": [strategy]}
    c0, c1 = consumers(k, 2, **cfg)
    poller(s, c0, until=25)
    poller(s, c1, until=25)
    s.run(until=8)
    before = {c.member_id: c.assignment() for c in (c0, c1)}
    (c2,) = consumers(k, 1, **cfg, **{"client.id": "c2"})
    poller(s, c2, until=25)
    s.run(until=25)
    sizes = sorted(len(c.assignment()) for c in (c0, c1, c2))
    assert sizes == [2, 2, 2]
    gens = s.trace.events_of("generation")
    if strategy == "range":
        assert len(gens) == 2
        for c in (c0, c1):
            assert revocations(s.trace, c.member_id) == before[c.member_id]
    else:
        assert len(gens) == 3  # the join, then the follow-up round for the moved partitions
        assert all(g.detail["cooperative"] for g in gens)
        for c in (c0, c1):
            kept = before[c.member_id] & c.assignment()
            assert revocations(s.trace, c.member_id) == before[c.member_id] - kept
            assert len(kept) == 2  # sticky: each keeps two of its three
    assert_single_owner(s.trace)


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "sticky", "cooperative-sticky"])
@pytest.mark.parametrize("seed", [1, 2])
def test_at_most_one_owner_per_partition_under_churn(strategy, seed):
    s, k = make(partitions=5, seed=seed)
    feed(s, k, every=0.5, until=150)
    rng = s.rng("test/churn")
    cfg = {"partition.assignment.strategy": [strategy], "session.timeout.ms": 10000}
    cs = consumers(k, 4, **cfg)
    for c in cs:
        poller(s, c, until=160, timeout_ms=500)
    s.call_at(float(rng.uniform(10, 20)), cs[0].close)
    s.call_at(float(rng.uniform(20, 40)), cs[1].crash)

    def late_joiner():
        yield s.timeout(float(rng.uniform(30, 60)))
        (c,) = consumers(k, 1, **cfg, **{"client.id": "late"})
        poller(s, c, until=160, timeout_ms=500)
    s.process(late_joiner())
    s.run(until=160)
    reasons = sorted(e.detail["reason"] for e in s.trace.events_of("member-removed"))
    assert reasons == ["leave", "session-timeout"]
    assert len(s.trace.events_of("generation")) >= 3
    live = [c for c in cs if not c.closed]
    owned = [tp for c in live for tp in c.assignment()]
    assert len(owned) == len(set(owned))
    assert_single_owner(s.trace)


def test_protocol_selection_default_is_range_and_eager():
    s, k = make(partitions=2)
    c0, c1 = consumers(k, 2)
    for c in (c0, c1):
        poller(s, c, until=5)
    s.run(until=5)
    (gen,) = s.trace.events_of("generation")
    assert gen.detail["protocol"] == "range" and not gen.detail["cooperative"]


def test_commit_from_a_group_less_client_fails_while_the_group_is_active():
    s, k = make(partitions=1)
    (member,) = consumers(k, 1)
    poller(s, member, until=10)
    outsider = k.consumer({"group.id": "g", "auto.offset.reset": "earliest"})
    outsider.assign([("t", 0)])
    result = []

    def run():
        yield s.timeout(5)
        try:
            yield outsider.commit({TopicPartition("t", 0): 0})
            result.append("ok")
        except CommitFailedError:
            result.append("failed")
    s.process(run())
    s.run(until=10)
    assert result == ["failed"]


def test_session_timeout_outside_the_broker_limits_is_rejected():
    _s, k = make(partitions=1)
    c = k.consumer({"group.id": "g", "session.timeout.ms": 5000, "heartbeat.interval.ms": 1000})
    with pytest.raises(InvalidSessionTimeoutError, match=r"group\.min\.session"):
        c.subscribe(["t"])


def test_a_network_cut_longer_than_the_session_evicts_and_the_member_rejoins_after():
    s, k = make(partitions=2)
    feed(s, k, until=95)
    (c,) = consumers(k, 1, **{"enable.auto.commit": False})
    got = []

    def run():
        while s.now < 100:
            recs = yield c.poll(timeout_ms=100)
            got.extend(recs.records())
    s.process(run())
    k.link.cut(10, 70)
    s.run(until=100)
    removed = s.trace.events_of("member-removed")
    assert [e.detail["reason"] for e in removed] == ["session-timeout"]
    assert 10 + 42 <= removed[0].t <= 10 + 45
    gens = s.trace.events_of("generation")
    assert len(gens) == 2 and gens[1].t > 70     # rejoined once the link was back
    d = s.trace.delivered
    assert not np.any((d["t"] > 10 + LAT) & (d["t"] < 70))
    # caught up after the cut: every record below the HW was read (again, from offset 0,
    # since nothing was committed)
    assert sorted(c.assignment()) == [TopicPartition("t", 0), TopicPartition("t", 1)]
    hw = sum(p.high_watermark for p in k.topics["t"].partitions)
    assert len(set(d["msg"].tolist())) == hw


@settings(max_examples=15, deadline=None)
@given(
    strategy=st.sampled_from(["range", "roundrobin", "sticky", "cooperative-sticky"]),
    actions=st.lists(st.tuples(st.floats(0, 40), st.sampled_from(["join", "close", "crash"])),
                     min_size=1, max_size=8),
    partitions=st.integers(1, 6),
)
def test_stable_group_is_disjoint_and_covering_after_random_churn(strategy, actions,
                                                                  partitions):
    """checking.md W9: never two owners; once stable, the live members' assignments are
    disjoint and cover every partition."""
    s, k = make(partitions=partitions, broker_config={"group.initial.rebalance.delay.ms": 0})
    cfg = {"partition.assignment.strategy": [strategy], "session.timeout.ms": 6000,
           "heartbeat.interval.ms": 2000}
    members = []

    def act(kind):
        live = [c for c in members if not c.closed]
        if kind == "join" or not live:
            (c,) = consumers(k, 1, **cfg, **{"client.id": f"m{len(members)}"})
            members.append(c)
            poller(s, c, until=200, timeout_ms=500)
        elif kind == "close":
            live[0].close()
        else:
            live[-1].crash()
    for t, kind in sorted(actions):
        s.call_at(t, act, kind)
    s.run(until=200)
    assert_single_owner(s.trace)
    live = [c for c in members if not c.closed]
    owned = [tp for c in live for tp in c.assignment()]
    assert len(owned) == len(set(owned))
    if live:
        assert set(owned) == {TopicPartition("t", p) for p in range(partitions)}


def test_rebalance_listener_hears_revocations_and_assignments():
    s, k = make(partitions=2)
    calls = []

    class Listener:
        def on_partitions_revoked(self, tps):
            calls.append(("revoked", s.now, sorted(tps)))

        def on_partitions_assigned(self, tps):
            calls.append(("assigned", s.now, sorted(tps)))
    c0 = k.consumer({"group.id": "g", "client.id": "a", "enable.auto.commit": False})
    c0.subscribe(["t"], listener=Listener())
    poller(s, c0, until=20)
    s.run(until=8)
    (c1,) = consumers(k, 1, **{"client.id": "b"})
    poller(s, c1, until=20)
    s.run(until=20)
    kinds = [kind for kind, _, _ in calls]
    assert kinds == ["assigned", "revoked", "assigned"]
    assert len(calls[0][2]) == 2 and len(calls[1][2]) == 2 and len(calls[2][2]) == 1


def test_inconsistent_assignors_fail_the_poll_of_the_joiner():
    s, k = make(partitions=2)
    (c0,) = consumers(k, 1, **{"partition.assignment.strategy": ["range"]})
    poller(s, c0, until=10)
    c1 = k.consumer({"group.id": "g", "partition.assignment.strategy": ["roundrobin"]})
    c1.subscribe(["t"])
    errors = []

    def run():
        while s.now < 10:
            try:
                yield c1.poll(timeout_ms=100)
            except KafkaError as e:
                errors.append(e)
                return
    s.process(run())
    s.run(until=10)
    assert len(errors) == 1 and "InconsistentGroupProtocol" in str(errors[0])


def test_offset_lookups_answer_like_kafka_python():
    s, k = make(partitions=2)
    feed(s, k, until=1)
    s.run(until=2)
    c = k.consumer({})
    tps = [TopicPartition("t", 0), TopicPartition("t", 1)]
    assert c.beginning_offsets(tps) == {tp: 0 for tp in tps}
    hw = k.topics["t"].partitions[0].high_watermark
    assert hw > 0 and c.end_offsets(tps) == {tp: hw for tp in tps}
    assert c.partitions_for_topic("t") == {0, 1} and c.partitions_for_topic("x") is None
    assert c.topics() == {"t"}
