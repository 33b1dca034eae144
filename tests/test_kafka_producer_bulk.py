"""The producer's bulk path (``Producer.produce``): same batching as ``send()``, dense offsets,
trace rows, failures, without a Python object per record."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka import KafkaCluster
from sim import Simulation


def run_both(times, sizes, parts, config, partitions=3):
    """The same workload through send() and produce(); (partition, offset, ack time) each."""
    out = []
    for bulk in (False, True):
        s = Simulation(seed=5)
        k = KafkaCluster(s, brokers=2)
        k.create_topic("t", partitions=partitions)
        p = k.producer(config)
        if bulk:
            handle = p.produce("t", times, sizes, partitions=parts)
        else:
            events = []

            def run(p=p, events=events, s=s):
                for t, size, part in zip(times, sizes, parts, strict=True):
                    if t > s.now:
                        yield s.timeout(t - s.now)
                    events.append(p.send("t", value=b"x" * int(size), partition=int(part)))

            s.process(run())
        s.run(until=(times[-1] if len(times) else 0) + 2)
        acked = dict(zip(s.trace.acked["msg"].tolist(), s.trace.acked["t"].tolist(),
                         strict=True))
        if bulk:
            rows = list(zip(handle.partition.tolist(), handle.offset.tolist(),
                            [acked[m] for m in handle.msg.tolist()], strict=True))
        else:
            rows = [(e.value.partition, e.value.offset, acked[e.value.msg]) for e in events]
        out.append((rows, p.batches_sent, p.requests_sent))
    return out


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 0.004), st.integers(1, 700), st.integers(0, 2)),
                min_size=1, max_size=60),
       st.sampled_from([0, 1, 5]), st.sampled_from([500, 2000, 16384]),
       st.sampled_from([1, 5]))
def test_bulk_path_batches_exactly_like_send(records, linger, batch_size, in_flight):
    # Gaps are scaled off round numbers so that no record is sent at exactly the instant a
    # linger timer or a response fires: send() then depends on simpy's order of simultaneous
    # events, produce() takes the record into the batch. Same-instant records (gap 0) remain.
    times = np.cumsum([r[0] * (1 + np.pi * 1e-7) for r in records])
    sizes = np.array([r[1] for r in records])
    parts = np.array([r[2] for r in records])
    config = {"linger.ms": linger, "batch.size": batch_size,
              "max.in.flight.requests.per.connection": in_flight}
    (rows_send, batches_send, req_send), (rows_bulk, batches_bulk, req_bulk) = run_both(
        times, sizes, parts, config)
    assert [r[:2] for r in rows_bulk] == [r[:2] for r in rows_send]
    assert [r[2] for r in rows_bulk] == pytest.approx([r[2] for r in rows_send])
    assert (batches_bulk, req_bulk) == (batches_send, req_send)


def test_bulk_workload_with_keys_and_sticky_null_keys():
    s = Simulation(seed=2)
    k = KafkaCluster(s, brokers=3)
    k.create_topic("t", partitions=6)
    p = k.producer({"batch.size": 4096})
    n = 20_000
    times = np.arange(n) / 50_000.0
    keys = [b"user-%d" % (i % 100) if i % 4 else None for i in range(n)]
    bulk = p.produce("t", times, np.full(n, 200), keys=keys)
    s.run(until=2)
    assert bulk.done.triggered and bulk.acked == n and bulk.failed == 0
    # offsets are dense per partition and follow send order within a partition
    for part in range(6):
        mine = bulk.partition == part
        assert sorted(bulk.offset[mine].tolist()) == list(range(int(mine.sum())))
        assert np.all(np.diff(bulk.offset[mine]) > 0)
    # keyed records: same key, same partition, matching send()'s choice
    keyed = np.array([key is not None for key in keys])
    probe = k.producer().send("t", value=b"v", key=b"user-7")
    s.run(until=3)
    assert set(bulk.partition[(np.arange(n) % 100 == 7) & keyed].tolist()) == {
        probe.value.partition}
    # null keys stick to a partition for about batch.size bytes (4096 / 200 -> 21 records)
    null_parts = bulk.partition[~keyed]
    switches = np.count_nonzero(np.diff(null_parts))
    assert switches <= len(null_parts) / 21
    # trace: one published and one acked row per record, appended once each
    assert len(s.trace.published) == n + 1 and len(s.trace.acked) == n + 1
    assert len(s.trace.table("appended")) == n + 1
    assert p.batches_sent < n / 5


def test_bulk_records_expire_when_the_link_is_cut():
    s = Simulation()
    k = KafkaCluster(s, brokers=1)
    k.create_topic("t")
    k.link.cut(0.0, 1000.0)
    p = k.producer({"delivery.timeout.ms": 2000, "request.timeout.ms": 1000, "linger.ms": 0})
    bulk = p.produce("t", np.linspace(0, 0.5, 50), np.full(50, 100))
    s.run(until=10)
    assert bulk.done.triggered and bulk.failed == 50 and bulk.acked == 0
    assert {type(e).__name__ for e in bulk.errors} == {"KafkaTimeoutError"}
    assert len(s.trace.table("send_failed")) == 50


def test_bulk_rejects_bad_input():
    s = Simulation()
    k = KafkaCluster(s, brokers=1)
    k.create_topic("t")
    p = k.producer()
    with pytest.raises(ValueError, match="sorted"):
        p.produce("t", [1.0, 0.5], [10, 10])
    with pytest.raises(ValueError, match="same length"):
        p.produce("t", [1.0], [10, 10])
    with pytest.raises(ValueError, match="partitions"):
        p.produce("t", [1.0], [10], partitions=[3])
