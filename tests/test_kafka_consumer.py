"""Consumer: poll/fetch semantics, positions, resets, commits, retention loss — exact numbers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka.cluster import KafkaCluster
from models.kafka.consumer import ConsumerRecord, TopicPartition
from models.kafka.errors import (
    IllegalStateError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
)
from sim import Simulation
from sim.trace import REASON_CODE

LAT = 0.0005  # one-way client<->broker latency


def make(partitions=1, topic_config=None, broker_config=None, seed=1):
    s = Simulation(seed=seed)
    k = KafkaCluster(s, brokers=1, latency=LAT,
                     config={"group.initial.rebalance.delay.ms": 0, **(broker_config or {})})
    k.create_topic("t", partitions=partitions, replication_factor=1, config=topic_config)
    return s, k


def produce(k, n, partition=0, size=100, batch=10, topic="t"):
    """Append ``n`` records straight to the partition log (HW moves at once with RF 1)."""
    part = k.topics[topic].partitions[partition]
    msg = k.trace.new_message_ids(n)
    for i in range(0, n, batch):
        m = msg[i:i + batch]
        result = part.append(m, np.full(len(m), k.env.now), np.full(len(m), size), None, None,
                             "all")
        assert result.error is None
    return msg


def collect(s, c, until, timeout_ms=100, out=None):
    out = [] if out is None else out

    def run():
        while s.now < until:
            recs = yield c.poll(timeout_ms=timeout_ms)
            for tp, r in recs.items():
                out.append((s.now, tp, r.offset.copy(), r.msg.copy()))
    s.process(run())
    return out


def offsets_of(batches, tp=None):
    return [int(o) for _, p, offs, _ in batches if tp is None or p == tp for o in offs]


def test_assign_poll_reads_everything_below_the_hw_in_max_poll_records_batches():
    s, k = make()
    msg = produce(k, 1234)
    c = k.consumer({"group.id": "g", "auto.offset.reset": "earliest", "max.poll.records": 500,
                    "enable.auto.commit": False})
    tp = TopicPartition("t", 0)
    c.assign([tp])
    got = collect(s, c, until=1)
    s.run(until=1)
    assert [len(o) for _, _, o, _ in got] == [500, 500, 234]
    assert offsets_of(got) == list(range(1234))
    assert c.position(tp) == 1234
    assert c.lag() == {tp: 0}
    d = s.trace.delivered
    assert np.array_equal(d["msg"], msg)
    assert set(d["receiver"]) == {c.receiver}
    assert s.trace.receivers.name(c.receiver) == f"g/{c.client_id}"
    # assign: OffsetFetch + ListOffsets round trips, then one fetch round trip
    assert got[0][0] == pytest.approx(6 * LAT)


def test_poll_never_returns_offsets_at_or_above_the_high_watermark():
    s, k = make()
    part = k.topics["t"].partitions[0]
    c = k.consumer({"auto.offset.reset": "earliest"})
    c.assign([("t", 0)])
    seen = []

    def run():
        while s.now < 2:
            recs = yield c.poll(timeout_ms=50)
            for r in recs.values():
                seen.append((part.high_watermark, int(r.offset.max())))
    s.process(run())
    for t in np.arange(0.1, 1.5, 0.1):
        s.call_at(float(t), produce, k, 7)
    s.run(until=2)
    assert seen and all(last < hw for hw, last in seen)
    assert sum(1 for _ in seen) >= 10
    assert c.position(("t", 0)) == part.high_watermark == 14 * 7


def test_long_poll_answers_when_data_arrives():
    s, k = make()
    c = k.consumer({"auto.offset.reset": "earliest"})
    c.assign([("t", 0)])
    got = collect(s, c, until=1, timeout_ms=1000)
    s.call_at(0.3, produce, k, 5)
    s.run(until=1)
    # the fetch waits on the broker; the response comes back one hop after the append
    assert got[0][0] == pytest.approx(0.3 + LAT)
    assert offsets_of(got) == [0, 1, 2, 3, 4]


def test_fetch_min_bytes_waits_for_enough_data_or_fetch_max_wait():
    s, k = make()
    c = k.consumer({"auto.offset.reset": "earliest", "fetch.min.bytes": 1000,
                    "fetch.max.wait.ms": 200})
    c.assign([("t", 0)])
    got = collect(s, c, until=1, timeout_ms=1000)
    s.call_at(0.1005, produce, k, 5)   # 500 bytes: not enough
    s.call_at(0.15, produce, k, 5)     # 1000 bytes: enough
    s.run(until=1)
    assert got[0][0] == pytest.approx(0.15 + LAT)
    assert offsets_of(got[:1]) == list(range(10))

    s, k = make()
    c = k.consumer({"auto.offset.reset": "earliest", "fetch.min.bytes": 1000,
                    "fetch.max.wait.ms": 200})
    c.assign([("t", 0)])
    produce(k, 3)
    got = collect(s, c, until=1, timeout_ms=1000)
    s.run(until=1)
    # no group: a ListOffsets round trip, then the fetch waits the full 200 ms on the broker
    assert got[0][0] == pytest.approx(4 * LAT + 0.2)
    assert offsets_of(got) == [0, 1, 2]


def test_max_partition_fetch_bytes_limits_each_fetch():
    s, k = make()
    produce(k, 100, size=100)
    c = k.consumer({"auto.offset.reset": "earliest", "max.partition.fetch.bytes": 1000})
    c.assign([("t", 0)])
    got = collect(s, c, until=1)
    s.run(until=1)
    assert [len(o) for _, _, o, _ in got] == [10] * 10
    assert c.metrics()["fetch-total"] >= 10


def test_latest_starts_at_the_hw_earliest_at_the_log_start():
    s, k = make()
    produce(k, 50)
    late = k.consumer({"group.id": "late", "auto.offset.reset": "latest"})
    early = k.consumer({"group.id": "early", "auto.offset.reset": "earliest"})
    for c in (late, early):
        c.subscribe(["t"])
    got_late = collect(s, late, until=1)
    got_early = collect(s, early, until=1)
    s.call_at(0.5, produce, k, 20)
    s.run(until=1)
    assert offsets_of(got_late) == list(range(50, 70))
    assert offsets_of(got_early) == list(range(70))


def test_reset_none_raises_from_poll():
    s, k = make()
    produce(k, 5)
    c = k.consumer({"group.id": "g", "auto.offset.reset": "none"})
    c.assign([("t", 0)])
    errors = []

    def run():
        while s.now < 1:
            try:
                yield c.poll(timeout_ms=100)
            except NoOffsetForPartitionError as e:
                errors.append(e)
                return
    s.process(run())
    s.run(until=1)
    assert len(errors) == 1
    assert "NoOffsetForPartitionException" in str(errors[0])


def test_committed_offset_is_the_next_offset_to_read_and_restart_resumes_there():
    s, k = make()
    produce(k, 30)
    cfg = {"group.id": "g", "auto.offset.reset": "earliest", "enable.auto.commit": False,
           "max.poll.records": 10}
    c = k.consumer(cfg)
    tp = TopicPartition("t", 0)
    c.assign([tp])

    def first():
        recs = yield c.poll(timeout_ms=100)
        assert list(recs[tp].offset) == list(range(10))
        yield c.commit()
        assert c.committed(tp) == 10
        yield c.close()
    s.process(first())
    s.run(until=1)
    rows = s.trace.committed
    assert list(rows["offset"]) == [10]
    assert rows["channel"][0] == s.trace.channels.id("t")
    c2 = k.consumer(cfg)
    c2.assign([tp])
    got = collect(s, c2, until=2)
    s.run(until=2)
    assert offsets_of(got) == list(range(10, 30))


def test_seek_and_replay():
    s, k = make()
    produce(k, 20)
    c = k.consumer({"auto.offset.reset": "earliest"})
    tp = TopicPartition("t", 0)
    c.assign([tp])
    seen = []

    def run():
        # after a seek the next fetch waits for the one in flight (fetch.max.wait.ms = 500)
        recs = yield c.poll(timeout_ms=1000)
        seen.append(list(recs[tp].offset))
        c.seek(tp, 5)
        assert c.position(tp) == 5
        recs = yield c.poll(timeout_ms=1000)
        seen.append(list(recs[tp].offset))
        c.seek_to_beginning()
        recs = yield c.poll(timeout_ms=1000)
        seen.append(list(recs[tp].offset))
        c.seek_to_end()
        assert c.position(tp) == 20
    s.process(run())
    s.run(until=3)
    assert seen == [list(range(20)), list(range(5, 20)), list(range(20))]


def test_pause_and_resume():
    s, k = make(partitions=2)
    produce(k, 10, partition=0)
    produce(k, 10, partition=1)
    c = k.consumer({"auto.offset.reset": "earliest"})
    c.assign([("t", 0), ("t", 1)])
    c.pause(TopicPartition("t", 1))
    got = collect(s, c, until=0.5)
    s.run(until=0.5)
    assert offsets_of(got, TopicPartition("t", 1)) == []
    assert c.paused() == {TopicPartition("t", 1)}
    c.resume(TopicPartition("t", 1))
    collect(s, c, until=1, out=got)
    s.run(until=1)
    assert offsets_of(got, TopicPartition("t", 1)) == list(range(10))


def test_records_iterate_as_consumer_record_tuples():
    s, k = make()
    produce(k, 3)
    c = k.consumer({"auto.offset.reset": "earliest"})
    c.assign([("t", 0)])
    out = []

    def run():
        recs = yield c.poll(timeout_ms=100)
        out.extend(recs.records())
        out.append(recs[TopicPartition("t", 0)][-1])
    s.process(run())
    s.run(until=1)
    assert all(isinstance(r, ConsumerRecord) for r in out)
    assert [r.offset for r in out] == [0, 1, 2, 2]
    assert out[0].topic == "t" and out[0].key is None


def test_position_of_unassigned_partition_is_an_error():
    _s, k = make()
    c = k.consumer({})
    with pytest.raises(IllegalStateError):
        c.position(("t", 0))


# --- retention ------------------------------------------------------------------------------

RETENTION = {"segment.bytes": 1000, "retention.ms": 10_000}
NO_TASK = {"log.initial.task.delay.ms": 10**9}


def test_lagging_past_retention_with_earliest_loses_exactly_the_deleted_records():
    """Reads 25, has 25 more prefetched, stalls; retention deletes offsets 0-99 meanwhile."""
    s, k = make(topic_config=RETENTION, broker_config=NO_TASK)
    msg = produce(k, 100)                     # t=0: 10 segments of 10 records
    c = k.consumer({"group.id": "g", "auto.offset.reset": "earliest", "max.poll.records": 25,
                    "max.partition.fetch.bytes": 2500, "enable.auto.commit": False})
    c.assign([("t", 0)])
    got = []

    def run():
        recs = yield c.poll(timeout_ms=100)
        got.extend(recs[TopicPartition("t", 0)].offset)
        yield s.timeout(20 - s.now)           # stall
        while s.now < 30:
            recs = yield c.poll(timeout_ms=100)
            for r in recs.values():
                got.extend(r.offset)
    s.process(run())
    s.call_at(15, produce, k, 30)             # 3 newer segments at t=15
    s.call_at(18, k.cleanup_logs)             # the t=0 segments are older than 10 s
    s.run(until=30)
    part = k.topics["t"].partitions[0]
    assert part.log_start_offset == 100
    # 25..49 were already in the consumer's fetch buffer; 50..99 are gone
    assert [int(o) for o in got] == list(range(50)) + list(range(100, 130))
    dropped = s.trace.dropped
    assert list(dropped["msg"]) == list(msg[50:100])
    assert set(dropped["reason"]) == {REASON_CODE["retention"]}
    assert set(dropped["receiver"]) == {c.receiver}
    assert c.metrics()["offset-reset-total"] == 1


def test_reset_to_latest_after_retention_traces_offset_reset():
    s, k = make(topic_config=RETENTION, broker_config=NO_TASK)
    msg = produce(k, 50)
    c = k.consumer({"group.id": "g", "auto.offset.reset": "latest"})
    tp = TopicPartition("t", 0)
    c.assign([tp])
    got = []

    def run():
        yield s.timeout(19)
        c.seek(tp, 10)                       # rewind to 10, deleted at t=18
        yield s.timeout(20 - s.now)
        while s.now < 30:
            recs = yield c.poll(timeout_ms=100)
            for r in recs.values():
                got.extend(int(o) for o in r.offset)
    s.process(run())
    more = []
    s.call_at(15, lambda: more.append(produce(k, 30)))
    s.call_at(18, k.cleanup_logs)
    s.call_at(25, lambda: more.append(produce(k, 5)))
    s.run(until=30)
    reason = s.trace.dropped["reason"]
    dmsg = s.trace.dropped["msg"]
    assert list(dmsg[reason == REASON_CODE["retention"]]) == list(msg[10:50])
    assert list(dmsg[reason == REASON_CODE["offset-reset"]]) == list(more[0])
    assert got == list(range(80, 85))


def test_reset_none_after_retention_raises_offset_out_of_range():
    s, k = make(topic_config=RETENTION, broker_config=NO_TASK)
    produce(k, 50)
    c = k.consumer({"group.id": "g", "auto.offset.reset": "none"})
    tp = TopicPartition("t", 0)
    c.assign([tp])
    errors = []

    def run():
        yield s.timeout(19)
        c.seek(tp, 0)
        yield s.timeout(1)
        try:
            while True:
                yield c.poll(timeout_ms=100)
        except OffsetOutOfRangeError as e:
            errors.append(e)
    s.process(run())
    s.call_at(15, lambda: produce(k, 30))
    s.call_at(18, k.cleanup_logs)
    s.run(until=30)
    assert len(errors) == 1 and errors[0].offset == 0


# --- property: one consumer reads each partition exactly once, in order, below the HW -------


@settings(max_examples=25, deadline=None)
@given(
    appends=st.lists(st.tuples(st.floats(0, 2), st.integers(0, 2), st.integers(1, 40)),
                     max_size=12),
    max_poll=st.integers(1, 60),
    max_wait=st.integers(0, 300),
    part_bytes=st.integers(50, 3000),
    timeout_ms=st.integers(0, 200),
)
def test_single_consumer_reads_every_partition_once_in_order(appends, max_poll, max_wait,
                                                             part_bytes, timeout_ms):
    s, k = make(partitions=3)
    for t, p, n in appends:
        s.call_at(t, produce, k, n, p)
    c = k.consumer({"auto.offset.reset": "earliest", "max.poll.records": max_poll,
                    "fetch.max.wait.ms": max_wait, "max.partition.fetch.bytes": part_bytes})
    c.assign([("t", p) for p in range(3)])
    parts = k.topics["t"].partitions
    seen = {p: [] for p in range(3)}

    def run():
        while s.now < 4:
            recs = yield c.poll(timeout_ms=timeout_ms)
            assert recs.count() <= max_poll
            for tp, r in recs.items():
                assert int(r.offset.max()) < parts[tp.partition].high_watermark
                seen[tp.partition].extend(int(o) for o in r.offset)
            if not recs:
                yield s.timeout(0.01)
    s.process(run())
    s.run(until=4)
    for p in range(3):
        assert seen[p] == list(range(parts[p].high_watermark))


def test_records_of_a_poll_slice_and_index_like_their_columns():
    s, k = make()
    msg = produce(k, 30)
    c = k.consumer({"group.id": "g", "auto.offset.reset": "earliest", "max.poll.records": 20})
    c.assign([TopicPartition("t", 0)])
    got = []

    def run():
        yield s.timeout(0.01)
        recs = yield c.poll(timeout_ms=100)
        got.append(recs[TopicPartition("t", 0)])
    s.process(run())
    s.run(until=1.0)
    recs = got[0]
    assert len(recs) == 20 and recs.msg.tolist() == msg[:20].tolist()
    for part in (slice(3, 9), slice(None, None, 4), slice(-5, None)):
        sub = recs[part]
        assert len(sub) == len(range(20)[part])
        for col in ("offset", "msg", "timestamp", "size", "key", "null"):
            assert np.array_equal(getattr(sub, col), getattr(recs, col)[part]), col
        assert list(sub) == list(recs)[part]
    assert recs[-1] == ConsumerRecord("t", 0, 19, recs.timestamp[-1], None, None,
                                      int(msg[19]))
