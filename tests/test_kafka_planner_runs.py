"""The planner's runs of one-batch requests (``Planner._schedule`` / ``Planner._run``) against
its request-at-a-time loop: on workloads where runs happen (sticky bursts that fill batches,
lingering partial batches, several partitions per broker, keys, a second feed, in-flight
limits) both give exactly the same requests, offsets, times, logs and trace rows."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka import KafkaCluster
from sim import Simulation
from tests.test_kafka_planner import TABLES, start_consumer


def run(runs, workload, *, consumer=True):
    """One run of ``workload`` with the planner's runs on or off."""
    (bursts, linger, batch_size, in_flight, acks, rf, idem, partitions, brokers, keyed,
     second) = workload
    times, sizes, parts = arrays(bursts, partitions)
    s = Simulation(seed=3)
    k = KafkaCluster(s, brokers=brokers)
    k.create_topic("t", partitions=partitions, replication_factor=min(rf, brokers),
                   config={"cleanup.policy": "compact"} if keyed else None)
    p = k.producer({"linger.ms": linger, "batch.size": batch_size, "acks": acks,
                    "max.in.flight.requests.per.connection": in_flight,
                    "enable.idempotence": idem and acks == "all"})
    p._planner.runs = runs
    keys = None
    if keyed:  # a few null keys: the leader would reject their batch, the planner stops
        keys = [None if i % 97 == 96 else b"k%d" % (i % 5) for i in range(len(times))]
    handles = [p.produce("t", times, sizes, keys=keys, partitions=parts)]
    if second:  # another feed for the same partitions, overlapping the first in time
        def more():
            handles.append(p.produce("t", s.now + times[::3], sizes[::3], partitions=parts[::3]))

        s.call_at(float(times[len(times) // 2]) * (1 + np.e * 1e-7), more)
    if consumer:
        start_consumer(s, k, partitions)
    s.run(until=2 * float(times[-1]) + 0.5)
    return s, k, p, handles


def arrays(bursts, partitions):
    """Records in bursts: ``count`` records of ``size`` bytes to one partition, ``gap`` apart
    (as a sticky producer sends them), times off round numbers."""
    times, sizes, parts = [], [], []
    t = 0.0
    for part, count, size, gap in bursts:
        for _ in range(count):
            t += gap * (1 + np.pi * 1e-7)
            times.append(t)
            sizes.append(size)
            parts.append(part % partitions)
    return np.array(times), np.array(sizes), np.array(parts)


def assert_identical(a, b):
    (sa, ka, pa, ha), (sb, kb, pb, hb) = a, b
    assert (pa.batches_sent, pa.requests_sent) == (pb.batches_sent, pb.requests_sent)
    for x, y in zip(ha, hb, strict=True):
        assert x.offset.tolist() == y.offset.tolist()
        assert np.array_equal(x.acked_at, y.acked_at, equal_nan=True)
        assert x.error.tolist() == y.error.tolist()
        assert x.done.triggered == y.done.triggered
    for table, cols in TABLES.items():
        ta, tb = sa.trace.table(table), sb.trace.table(table)
        ra = sorted(zip(*(np.asarray(ta[c]).tolist() for c in cols), strict=True))
        rb = sorted(zip(*(np.asarray(tb[c]).tolist() for c in cols), strict=True))
        assert ra == rb, table
    for x, y in zip(ka.all_partitions(), kb.all_partitions(), strict=True):
        for name, col in x.log.columns().items():
            assert np.array_equal(col, y.log.columns()[name]), name
        assert (x.log.high_watermark, x.log.log_end_offset) == (
            y.log.high_watermark, y.log.log_end_offset)


bursts = st.lists(st.tuples(st.integers(0, 5), st.integers(1, 40),
                            st.sampled_from([1, 100, 250, 500, 700]),
                            st.sampled_from([0.0, 1e-5, 1e-4, 5e-4, 2e-3])),
                  min_size=1, max_size=25)
workloads = st.tuples(bursts, st.sampled_from([0, 1, 5]), st.sampled_from([500, 2000, 16384]),
                      st.sampled_from([1, 2, 5]), st.sampled_from(["0", "1", "all"]),
                      st.sampled_from([1, 2]), st.booleans(), st.integers(2, 6),
                      st.integers(1, 3), st.booleans(), st.booleans())


@settings(max_examples=200, deadline=None)
@given(workloads)
def test_runs_plan_what_the_request_at_a_time_loop_plans(workload):
    with_runs = run(True, workload)
    loop = run(False, workload)
    assert loop[2]._planner.run_requests == 0
    assert_identical(with_runs, loop)


def test_a_sticky_feed_is_planned_in_runs():
    # 16 records of 1 KiB fill each 16 KiB batch; the partition changes with every batch
    rng = np.random.default_rng(2)
    bursts = [(int(x), 16, 1024, 1e-5) for x in rng.integers(0, 16, 300)]
    workload = (bursts, 5, 16384, 5, "all", 1, True, 16, 3, False, False)
    with_runs = run(True, workload, consumer=False)
    loop = run(False, workload, consumer=False)
    assert with_runs[2]._planner.run_requests > 0.8 * with_runs[2].requests_sent
    assert_identical(with_runs, loop)
