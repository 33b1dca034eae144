"""The producer's fast bulk path (``models.kafka.planner``) against the event path it replaces:
same batches, requests, offsets, ack times, logs, visibility to consumers and trace rows."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka import KafkaCluster, planner
from models.kafka.network import broker_name
from sim import Simulation
from sim.faults import Fault, FaultSchedule

TABLES = {
    "published": ("msg", "t", "source", "channel", "size", "partition", "offset"),
    "acked": ("msg", "t", "partition", "offset"),
    "appended": ("msg", "channel", "partition", "offset", "t"),
    "delivered": ("msg", "receiver", "t"),
}


def run(fast, times, sizes, parts, config, *, partitions=3, rf=1, consumer=False,
        actions=(), until=None, faults=None, staging=True, topic_config=None):
    """One run of the workload; ``actions`` are (time, fn(producer, sim)) done mid-run;
    ``faults`` a function of the cluster giving a ``FaultSchedule``; ``staging`` False appends
    inbound batches without staging them in the log."""
    s = Simulation(seed=11)
    k = KafkaCluster(s, brokers=2)
    k.create_topic("t", partitions=partitions, replication_factor=rf, config=topic_config)
    for part in k.all_partitions():
        part.staging = staging
    p = k.producer(config)
    p._planner.enabled = fast
    handle = p.produce("t", times, sizes, partitions=parts)
    if faults is not None:
        faults(k, p).attach(s, k)
    for at, fn in actions:
        s.call_at(at, fn, p, s, k)
    if consumer:
        start_consumer(s, k, partitions)
    s.run(until=until if until is not None else (float(times[-1]) + 0.3))
    return s, k, p, handle


def start_consumer(s, k, partitions):
    """A consumer of every partition of topic ``t``, polling all along. Its times are kept off
    the producer's (an odd start, an odd pause between polls): at exact ties the order of
    simultaneous events is simpy's, not Kafka's."""
    def poll():
        yield s.timeout(np.pi * 1e-5)
        c = k.consumer({"fetch.max.wait.ms": 3, "auto.offset.reset": "earliest"})
        c.assign([("t", i) for i in range(partitions)])
        while True:
            yield c.poll(timeout_ms=2)
            yield s.timeout(np.e * 1e-6)

    s.process(poll())


def rows(trace, table):
    cols = [np.asarray(trace.table(table)[c]) for c in TABLES[table]]
    return sorted(zip(*(c.tolist() for c in cols), strict=True))


def assert_same(a, b):
    (sa, ka, pa, ha), (sb, kb, pb, hb) = a, b
    assert (pa.batches_sent, pa.requests_sent) == (pb.batches_sent, pb.requests_sent)
    assert ha.partition.tolist() == hb.partition.tolist()
    assert ha.offset.tolist() == hb.offset.tolist()
    assert ha.acked_at == pytest.approx(hb.acked_at, nan_ok=True)
    assert ha.error.tolist() == hb.error.tolist()
    assert ha.done.triggered == hb.done.triggered
    for table in TABLES:
        ra, rb = rows(sa.trace, table), rows(sb.trace, table)
        assert len(ra) == len(rb), table
        for x, y in zip(ra, rb, strict=True):
            assert x == pytest.approx(y), table
    for pa_, pb_ in zip(ka.all_partitions(), kb.all_partitions(), strict=True):
        la, lb = pa_.log, pb_.log
        for name, col in la.columns().items():
            if name != "timestamp":
                assert np.array_equal(col, lb.columns()[name])
        assert la.columns()["timestamp"] == pytest.approx(lb.columns()["timestamp"])
        assert (la.high_watermark, la.log_end_offset) == (lb.high_watermark, lb.log_end_offset)
        assert [(g.base_offset, g.count, g.nbytes) for g in la.segments] == [
            (g.base_offset, g.count, g.nbytes) for g in lb.segments]


workloads = st.tuples(
    st.lists(st.tuples(st.floats(0, 0.004), st.integers(1, 700), st.integers(0, 2)),
             min_size=1, max_size=50),
    st.sampled_from([0, 1, 5]), st.sampled_from([500, 2000, 16384]),
    st.sampled_from([1, 2, 5]), st.sampled_from(["0", "1", "all"]), st.sampled_from([1, 2]),
    st.sampled_from([1048576, 1500]), st.booleans())


def arrays(records):
    # off round numbers, as in test_kafka_producer_bulk: no record exactly at a timer's instant
    times = np.cumsum([r[0] * (1 + np.pi * 1e-7) for r in records])
    return times, np.array([r[1] for r in records]), np.array([r[2] for r in records])


def setup(workload):
    """A drawn workload's arrays, producer config and replication factor."""
    records, linger, batch_size, in_flight, acks, rf, max_request, idem = workload
    times, sizes, parts = arrays(records)
    config = {"linger.ms": linger, "batch.size": batch_size, "acks": acks,
              "max.in.flight.requests.per.connection": in_flight,
              "max.request.size": max(max_request, int(sizes.max())),
              "enable.idempotence": idem and acks == "all"}
    return times, sizes, parts, config, rf


@settings(max_examples=150, deadline=None)
@given(workloads)
def test_fast_path_matches_the_event_path(workload):
    times, sizes, parts, config, rf = setup(workload)
    fast = run(True, times, sizes, parts, config, rf=rf, consumer=True)
    slow = run(False, times, sizes, parts, config, rf=rf, consumer=True)
    assert_same(fast, slow)


@settings(max_examples=100, deadline=None)
@given(workloads, st.sampled_from([{}, {"segment.bytes": 3000},
                                   {"message.timestamp.type": "LogAppendTime"}]),
       st.booleans())
def test_staged_inbound_appends_match_ordinary_ones(workload, topic_config, two):
    """The partition's staged appends of inbound batches (``Log.stage``) leave the logs, HWs,
    offsets and trace exactly as ``Log.append_many`` does, with a consumer looking often, with
    segment rolls, append-time timestamps, and a second producer's batches interleaving."""
    times, sizes, parts, config, rf = setup(workload)
    actions = ()
    if two:  # another producer's bulk, sent between the first one's records
        def second(p, s, k):
            k.producer(config).produce("t", times[::2] + 0.5 * times[-1] + 1e-4, sizes[::2],
                                       partitions=parts[::2])
        actions = ((0.0, second),)
    staged = run(True, times, sizes, parts, config, rf=rf, consumer=True, actions=actions,
                 topic_config=topic_config)
    plain = run(True, times, sizes, parts, config, rf=rf, consumer=True, actions=actions,
                topic_config=topic_config, staging=False)
    assert_same(staged, plain)


@settings(max_examples=100, deadline=None)
@given(workloads, st.sampled_from(["send", "flush", "produce", "cut", "loss"]),
       st.floats(0.0, 1.0))
def test_hand_over_and_back_matches_the_event_path(workload, action, when):
    # send(), flush(), another produce(), a new link cut or loss mid-run: the fast path hands
    # over (or re-plans) and the result is still the event path's
    records, linger, batch_size, in_flight, acks, rf, _max_request, _idem = workload
    times, sizes, parts = arrays(records)
    at = float(times[-1]) * when * (1 + np.e * 1e-7)
    config = {"linger.ms": linger, "batch.size": batch_size, "acks": acks,
              "max.in.flight.requests.per.connection": in_flight}

    def act(p, s, k):
        if action == "send":
            p.send("t", value=b"x" * 100, partition=0)
        elif action == "flush":
            p.flush()
        elif action == "produce":
            p.produce("t", s.now + times[:5], sizes[:5], partitions=parts[:5])
        elif action == "cut":
            k.link.cut(s.now + 0.001, s.now + 0.002)
        else:
            k.link.loss = 0.0  # a change that leaves everything as it was

    fast = run(True, times, sizes, parts, config, rf=rf, actions=[(at, act)])
    slow = run(False, times, sizes, parts, config, rf=rf, actions=[(at, act)])
    assert_same(fast, slow)


@settings(max_examples=80, deadline=None)
@given(workloads, st.sampled_from(["crash", "pause", "cut-producer", "cut-brokers"]),
       st.integers(0, 1), st.floats(0.0, 1.0), st.floats(0.0005, 0.02))
def test_faults_hand_over_to_the_replicating_event_path(workload, kind, broker, when, length):
    # a broker crash or pause, a cut between the producer and a broker or between the brokers
    # mid-run: the planner hands over as replication leaves its steady regime, and leader
    # changes, NotEnoughReplicas, truncations and the way back are the event path's
    records, linger, batch_size, in_flight, acks, rf, _max_request, idem = workload
    times, sizes, parts = arrays(records)
    at = float(times[-1]) * when * (1 + np.e * 1e-7) + 1e-6
    config = {"linger.ms": linger, "batch.size": batch_size, "acks": acks,
              "max.in.flight.requests.per.connection": in_flight, "request.timeout.ms": 200,
              "delivery.timeout.ms": 400, "enable.idempotence": idem and acks == "all"}

    def faults(k, p):
        b = broker_name(broker)
        if kind == "crash":
            return FaultSchedule.outage(b, at=at, duration=length)
        if kind == "pause":
            return FaultSchedule((Fault(at, "pause", b, {"duration": length}),))
        if kind == "cut-producer":
            return FaultSchedule.partition(p.client_id, b, at=at, duration=length)
        return FaultSchedule.partition(broker_name(0), broker_name(1), at=at, duration=length)

    fast = run(True, times, sizes, parts, config, rf=rf, consumer=True, faults=faults,
               until=float(times[-1]) + 1.0)
    slow = run(False, times, sizes, parts, config, rf=rf, consumer=True, faults=faults,
               until=float(times[-1]) + 1.0)
    assert fast[1].replicating == slow[1].replicating
    assert_same(fast, slow)


def test_a_cut_known_in_advance_hands_over_to_the_event_path():
    times = np.arange(400) * 0.0001 * (1 + np.pi * 1e-7)
    sizes = np.full(400, 300)
    parts = np.arange(400) % 3

    def cut(p, s, k):
        k.link.cut(0.012, 0.013)

    config = {"request.timeout.ms": 500, "linger.ms": 1}
    fast = run(True, times, sizes, parts, config, actions=[(0.0, cut)], until=5)
    slow = run(False, times, sizes, parts, config, actions=[(0.0, cut)], until=5)
    assert_same(fast, slow)
    assert fast[3].acked > 300


def test_the_planner_moves_the_bulk_without_an_event_per_request():
    # 20 000 records in 16 KiB batches: about 1 250 requests, but a few hundred events
    s = Simulation(seed=1)
    k = KafkaCluster(s, brokers=3)
    k.create_topic("t", partitions=8)
    p = k.producer()
    n = 20_000
    handle = p.produce("t", np.arange(n) / 100_000.0, np.full(n, 1024))
    steps = 0
    env = s.env
    while env.peek() < 1.0:
        env.step()
        steps += 1
    s.sync()
    assert handle.acked == n and handle.done.triggered
    assert p.requests_sent > 1000
    assert steps < 200


def test_event_path_sender_timer_that_fires_an_ulp_early_is_set_again():
    # found by the equivalence test: now + (t - now) fell an ulp short of t, the sender saw
    # nothing ready and did not set its timer again, and the second record was never sent
    times, sizes, parts = arrays([(0.0026812568053842874, 1, 0), (0.00390625, 1, 0)])
    config = {"linger.ms": 1, "acks": "0"}
    for fast in (False, True):
        *_, handle = run(fast, times, sizes, parts, config)
        assert handle.acked == 2 and handle.done.triggered


def test_a_feed_batch_that_does_not_fit_the_request_waits_for_the_next_one():
    # found by the equivalence test: the event path cut the batch from the feed, found it did
    # not fit in max.request.size and dropped it; Kafka leaves it queued for the next request
    times, sizes, parts = arrays([(0.0, 101, 2), (0.0, 700, 0), (0.00390625, 700, 0),
                                  (0.00390625, 1, 2)])
    config = {"linger.ms": 5, "batch.size": 2000, "acks": "0", "max.request.size": 1500,
              "max.in.flight.requests.per.connection": 1}
    for fast in (False, True):
        *_, p, handle = run(fast, times, sizes, parts, config)
        assert handle.acked == 4 and p.requests_sent == 3


def test_a_sparse_feed_is_not_planned_one_idle_window_at_a_time():
    # found by notebook 06 (one record an hour for days): the planner stepped every WINDOW
    # simulated seconds between records, millions of idle steps; it now steps to the next batch
    s = Simulation(seed=1)
    k = KafkaCluster(s, brokers=1, config={"log.cleaner.backoff.ms": 10**9,
                                           "log.retention.check.interval.ms": 10**9})
    k.create_topic("t", partitions=1)
    p = k.producer({"linger.ms": 0})
    n = 48
    handle = p.produce("t", np.arange(n) * 3600.0 + 1.0, np.full(n, 1000))
    steps = 0
    env = s.env
    while env.peek() < n * 3600.0 and steps < 20 * n:
        env.step()
        steps += 1
    assert env.peek() >= n * 3600.0, f"{steps} steps took us only to t={env.now}"
    s.sync()
    assert handle.acked == n and handle.done.triggered
    assert p._planner.active


def test_windows_grow_while_undisturbed_and_start_short_again_after_a_produce():
    # a long feed is planned in few steps; a produce() re-plans from a short window, so little
    # planned work is thrown away; the results equal the event path's throughout
    rng = np.random.default_rng(5)
    times = np.cumsum(rng.exponential(0.002, 1500)) * (1 + np.pi * 1e-7)
    sizes = rng.integers(1, 900, len(times))
    parts = rng.integers(0, 3, len(times))
    config = {"linger.ms": 2, "batch.size": 3000, "acks": "1"}
    windows = []

    def look(p, s, k):
        windows.append(p._planner.window)

    def more(p, s, k):
        p.produce("t", s.now + np.arange(50) * 0.001, np.full(50, 300))
        windows.append(p._planner.window)

    actions = ((2.0, look), (2.5, more))
    fast = run(True, times, sizes, parts, config, consumer=True, actions=actions)
    slow = run(False, times, sizes, parts, config, consumer=True, actions=actions)
    assert windows[:2] == [planner.MAX_WINDOW, planner.WINDOW]
    assert_same(fast, slow)
