"""The consumer loops' callback fast path (``models.kafka.fastloop``) against the event path it
replaces: same deliveries, drops, commits, trace events, positions, committed offsets and
statistics, on random workloads with rebalances, crashes and restarts, broker faults and cuts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka import KafkaCluster
from models.kafka.loops import ConsumerLoop
from models.kafka.network import broker_name
from sim import Simulation
from sim.faults import Fault, FaultSchedule
from tests.kafka_stories import stale_generation_story

TABLES = {
    "delivered": ("msg", "receiver", "t"),
    "dropped": ("msg", "receiver", "t", "reason"),
    "committed": ("receiver", "channel", "partition", "offset", "t"),
}


def run(fast, w, lean=False, actions=()):
    """One run of workload ``w`` on the fast path (``fast``; with its lean lanes if ``lean``)
    or the event path; ``actions`` are (time, fn(loops)) done mid-run."""
    s = Simulation(seed=w["seed"])
    k = KafkaCluster(s, brokers=2, config={
        "group.initial.rebalance.delay.ms": w["initial_delay"]})
    k.create_topic("t", partitions=w["partitions"], replication_factor=w["rf"])
    times = np.cumsum(w["gaps"]) * (1 + np.pi * 1e-7)
    producer = k.producer({"linger.ms": w["linger"], "acks": "all"})
    producer.produce("t", times, np.asarray(w["sizes"]),
                     partitions=np.asarray(w["parts"]) % w["partitions"])
    loops = []

    def start(spec, i):
        config = {"group.id": f"g{spec['group']}", "client.id": f"c{i}",
                  "auto.offset.reset": "earliest", "max.poll.records": spec["max_records"],
                  "fetch.max.wait.ms": spec["max_wait"], "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 1000, "request.timeout.ms": 400,
                  "fetch.min.bytes": spec.get("min_bytes", 1)}
        for key, name in (("partition_max", "max.partition.fetch.bytes"),
                          ("fetch_max", "fetch.max.bytes")):
            if spec.get(key):
                config[name] = spec[key]
        processing = spec["processing"]
        if processing == "random":
            def processing(rng, n):
                return rng.exponential(0.0002, n)
        loop = ConsumerLoop(k, config, "t", spec["mode"], processing=processing,
                            poll_timeout_ms=spec["poll_ms"],
                            crash_at=[spec["crash_at"]] if spec["crash_at"] else (),
                            restart_after=spec["restart_after"], until=spec["until"])
        loop.fast = fast
        loop.lean = lean
        loops.append(loop)

    for i, spec in enumerate(w["loops"]):
        if spec["start"] == 0.0:
            start(spec, i)
        else:
            s.call_at(spec["start"], start, spec, i)
    cut_client = "c0" if w["loops"][0]["start"] == 0.0 else producer.client_id
    faults = []
    for kind, broker, at, length in w["faults"]:
        b = broker_name(broker)
        if kind == "crash":
            faults += FaultSchedule.outage(b, at=at, duration=length)
        elif kind == "pause":
            faults += FaultSchedule((Fault(at, "pause", b, {"duration": length}),))
        else:
            faults += FaultSchedule.partition(cut_client, b, at=at, duration=length)
    if faults:
        FaultSchedule(tuple(faults)).attach(s, k)
    for at, fn in actions:
        s.call_at(at, fn, loops)
    s.run(until=w["until"])
    return s, k, loops


def rows(trace, table):
    t = trace.table(table)
    cols = [np.asarray(t[c]).tolist() for c in TABLES[table]]
    return sorted(zip(*cols, strict=True))


def state(k, loops):
    out = []
    for loop in loops:
        c = loop.consumer
        out.append((dict(loop.stats), dict(c.stats), c.closed,
                    sorted((tp, st.position) for tp, st in c._assigned.items())))
    groups = k.coordinator.groups if k.coordinator is not None else {}
    offsets = {g: sorted(grp.offsets.items()) for g, grp in groups.items()}
    return out, offsets


def assert_same(a, b):
    (sa, ka, la), (sb, kb, lb) = a, b
    for table in TABLES:
        ra, rb = rows(sa.trace, table), rows(sb.trace, table)
        assert len(ra) == len(rb), table
        for x, y in zip(ra, rb, strict=True):
            assert x == pytest.approx(y, rel=0, abs=1e-9), table
    ea = sorted((round(e.t, 9), e.kind, e.who) for e in sa.trace.events)
    eb = sorted((round(e.t, 9), e.kind, e.who) for e in sb.trace.events)
    assert ea == eb
    assert state(ka, la) == state(kb, lb)


LOOP_SPEC = {  # a loop's settings, as strategies (tests/test_kafka_leanloop.py narrows them)
    "group": st.integers(0, 1),
    "mode": st.sampled_from(["process_then_commit", "commit_before_process"]),
    "processing": st.sampled_from([0.0, 0.0003, "random"]),
    "max_records": st.sampled_from([3, 500]),
    "max_wait": st.sampled_from([1, 500]),
    "min_bytes": st.sampled_from([1, 1, 5000]),
    "poll_ms": st.sampled_from([2, 100]),
    "start": st.sampled_from([0.0, 0.0137, 0.5]),
    "crash_at": st.sampled_from([None, None, 0.0213, 0.3]),
    "restart_after": st.sampled_from([None, 0.05]),
    "until": st.sampled_from([None, None, 0.25]),
}
loop_specs = st.fixed_dictionaries(LOOP_SPEC)

WORKLOAD = {  # a workload, as strategies (tests/test_kafka_leanloop.py narrows them)
    "seed": st.integers(0, 3),
    "initial_delay": st.sampled_from([0, 20]),
    "partitions": st.integers(1, 4),
    "rf": st.sampled_from([1, 2]),
    "linger": st.sampled_from([0, 1, 5]),
    "gaps": st.lists(st.floats(0.0, 0.004), min_size=1, max_size=60),
    "sizes": st.lists(st.integers(1, 3000), min_size=60, max_size=60),
    "parts": st.lists(st.integers(0, 3), min_size=60, max_size=60),
    "loops": st.lists(loop_specs, min_size=1, max_size=4),
    "faults": st.lists(st.tuples(st.sampled_from(["crash", "pause", "cut"]), st.integers(0, 1),
                                 st.floats(0.001, 0.3),
                                 st.floats(0.001, 0.2) | st.just(6.5)), max_size=2),
    "until": st.sampled_from([1.0, 8.0]),
}
workloads = st.fixed_dictionaries(WORKLOAD)


def trimmed(w):
    n = len(w["gaps"])
    return {**w, "sizes": w["sizes"][:n], "parts": w["parts"][:n]}


@settings(max_examples=150, deadline=None)
@given(workloads)
def test_fast_loop_matches_the_event_path(w):
    w = trimmed(w)
    fast = run(True, w)
    slow = run(False, w)
    assert_same(fast, slow)


def test_the_fast_loop_makes_fewer_events_for_the_same_deliveries():
    w = {"seed": 1, "initial_delay": 0, "partitions": 4, "rf": 1, "linger": 0,
         "gaps": [0.0001] * 2000, "sizes": [1024] * 2000, "parts": list(range(4)) * 500,
         "loops": [{"group": 0, "mode": "process_then_commit", "processing": 0.0,
                    "max_records": 500, "max_wait": 500, "poll_ms": 100, "start": 0.0,
                    "crash_at": None, "restart_after": None, "until": None}] * 2,
         "faults": [], "until": 0.5}
    counts = {}
    for fast in (True, False):
        s, _k, _loops = run(fast, w)
        assert len(s.trace.delivered) == 2000
        counts[fast] = next(s.env._eid)
    # the fast path keeps the event path's zero-time hops (poll event, commit process start and
    # end, the zero processing timeout) so that same-instant order is identical; what it saves
    # are the processes, conditions and generator resumptions
    assert counts[True] < 0.85 * counts[False]


def test_commits_cut_off_from_the_coordinator_fail_alike():
    # a 6.5 s cut between the consumer and the coordinator's broker: commits time out, the
    # session expires, later commits are refused (UNKNOWN_MEMBER_ID), the member rejoins
    spec = {"group": 0, "mode": "process_then_commit", "processing": 0.0, "max_records": 500,
            "max_wait": 500, "poll_ms": 100, "start": 0.0, "crash_at": None,
            "restart_after": None, "until": None}
    w = {"seed": 1, "initial_delay": 0, "partitions": 2, "rf": 1, "linger": 0,
         "gaps": [0.0025] * 3000, "sizes": [100] * 3000, "parts": [0, 1] * 1500,
         "loops": [spec], "faults": [("cut", 1, 0.1, 6.5)], "until": 8.0}
    fast = run(True, w)
    slow = run(False, w)
    assert_same(fast, slow)
    stats = fast[2][0].consumer.stats
    assert stats["commit_failures"] > 0 and stats["rebalances"] == 2


def test_a_commit_racing_a_join_at_the_same_instant_goes_the_event_paths_way():
    """The at-most-once member ``a`` rejoins in a poll that also returns a record, and commits
    at once: the JoinGroup, sent first, reaches the coordinator first, so the commit carries a
    stale generation and fails (the batch is skipped). The fast path must keep that order: it
    once scheduled the commit before the JoinGroup's process had started."""
    outcomes = {}
    for fast in (True, False):
        s, a = stale_generation_story(fast)
        d = s.trace.delivered
        outcomes[fast] = (a.stats, d["msg"].tolist(), d["receiver"].tolist(),
                          d["t"].tolist(), s.trace.committed["offset"].tolist())
    assert outcomes[True][0]["skipped_batches"] == 1
    assert outcomes[True] == outcomes[False]
