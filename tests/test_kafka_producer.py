"""The producer: partitioning, batch counts by hand, acks, errors, retries, idempotence, flush."""

import numpy as np
import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from models.kafka import KafkaCluster, RecordMetadata
from models.kafka.errors import (
    BufferExhaustedError,
    InvalidRecordError,
    KafkaTimeoutError,
    NotEnoughReplicasError,
    RecordTooLargeError,
)
from sim import Simulation
from sim.trace import REASON_CODE

LAT = 0.0005


def cluster(brokers=1, seed=0, **kw):
    s = Simulation(seed=seed)
    return s, KafkaCluster(s, brokers=brokers, **kw)


def send_at(s, producer, times, topic="t", size=100, **kw):
    """Send one ``size``-byte record at each time; return the events in order."""
    events = []

    def run():
        for t in times:
            yield s.timeout(t - s.now)
            events.append(producer.send(topic, value=b"x" * size, **kw))

    s.process(run())
    return events


def test_keyed_records_go_where_the_java_client_sends_them():
    s, k = cluster()
    k.create_topic("t", partitions=7)
    p = k.producer()
    keys = [b"k%d" % i for i in range(50)]
    events = [p.send("t", value=b"v", key=key) for key in keys]
    s.run(until=1)
    for key, event in zip(keys, events, strict=True):
        assert event.value.partition == (kafka_python_murmur2(key) & 0x7FFFFFFF) % 7


def test_record_metadata_fields_and_values_kept():
    s, k = cluster()
    k.create_topic("t")
    p = k.producer()
    sent = p.send("t", value="héllo", key=b"k", timestamp=0.25)
    none = p.send("t", value=None, key=b"k")
    s.run(until=1)
    md = sent.value
    assert isinstance(md, RecordMetadata)
    assert (md.topic, md.partition, md.offset, md.timestamp) == ("t", 0, 0, 0.25)
    assert (md.serialized_key_size, md.serialized_value_size) == (1, 6)
    assert none.value.serialized_value_size == -1 and none.value.offset == 1
    assert k.values[md.msg] == "héllo".encode()
    assert k.partition("t", 0).read(0).null.tolist() == [False, True]


def test_linger_batches_records_sent_within_linger_ms():
    # linger 10 ms, a 100-byte record every 3 ms: a batch holds the records of t, t+3, t+6, t+9
    # ms (the sender drains it at t+10), so 25 records make ceil(25/4) = 7 batches.
    s, k = cluster()
    k.create_topic("t")
    p = k.producer({"linger.ms": 10})
    events = send_at(s, p, [0.003 * i for i in range(25)], partition=0)
    s.run(until=1)
    assert p.batches_sent == 7 and p.requests_sent == 7
    assert [e.value.offset for e in events] == list(range(25))
    first_batch_ack = 0.010 + 2 * LAT
    assert s.trace.acked["t"][:4].tolist() == pytest.approx([first_batch_ack] * 4)


def test_batch_size_closes_full_batches():
    # batch.size 1000, linger 50 ms, 100-byte records every 1 ms: 10 records fill a batch;
    # 25 records -> batches of 10, 10 and 5 (the last one sent when linger expires).
    s, k = cluster()
    k.create_topic("t")
    p = k.producer({"linger.ms": 50, "batch.size": 1000})
    send_at(s, p, [0.001 * i for i in range(25)], partition=0)
    s.run(until=1)
    assert p.batches_sent == 3
    acked = s.trace.acked["t"]
    assert acked[0] == pytest.approx(0.009 + 2 * LAT)  # full with the 10th record, at 9 ms
    assert acked[-1] == pytest.approx(0.020 + 0.050 + 2 * LAT)  # 3rd batch created at 20 ms


def test_a_record_bigger_than_batch_size_gets_its_own_batch():
    s, k = cluster()
    k.create_topic("t")
    p = k.producer({"batch.size": 1000})
    for size in (300, 5000, 300):
        p.send("t", value=b"x" * size, partition=0)
    s.run(until=1)
    assert p.batches_sent == 3


def test_linger_zero_still_batches_sends_of_the_same_instant():
    s, k = cluster()
    k.create_topic("t")
    p = k.producer({"linger.ms": 0})
    for _ in range(10):
        p.send("t", value=b"x", partition=0)
    send_at(s, p, [0.005, 0.006, 0.007], partition=0)
    s.run(until=1)
    assert p.batches_sent == 1 + 3


def test_requests_carry_one_batch_per_partition_of_the_broker():
    s, k = cluster(brokers=1)
    k.create_topic("t", partitions=4)
    p = k.producer({"linger.ms": 10})
    for i in range(4):
        p.send("t", value=b"x", partition=i)
    s.run(until=1)
    assert (p.requests_sent, p.batches_sent) == (1, 4)


def test_max_in_flight_holds_requests_back():
    # in-flight 1, round trip 1 ms, linger 0: a send every 0.1 ms piles up behind the request
    s, k = cluster()
    k.create_topic("t")
    p = k.producer({"linger.ms": 0, "max.in.flight.requests.per.connection": 1,
                    "enable.idempotence": False})
    events = send_at(s, p, [0.0001 * i for i in range(30)], partition=0)
    s.run(until=1)
    assert all(e.ok for e in events)
    # first request at 0 with 1 record; the next leaves at 1 ms with the 10 sent meanwhile...
    assert p.requests_sent == 4 and p.batches_sent == 4


def test_acks_0_returns_offset_minus_one_when_sent():
    s, k = cluster()
    k.create_topic("t")
    p = k.producer({"acks": 0})
    sent = p.send("t", value=b"v")
    s.run(until=0.0051)
    assert sent.triggered and sent.value.offset == -1  # at the linger expiry, before any reply
    assert k.partition("t", 0).log_end_offset == 0
    s.run(until=1)
    assert k.partition("t", 0).log_end_offset == 1
    assert s.trace.acked["offset"].tolist() == [-1]


def test_acks_all_waits_for_the_followers():
    s, k = cluster(brokers=3)
    k.create_topic("t", replication_factor=3)
    one, everyone = k.producer({"acks": 1}), k.producer({"acks": "all"})
    a = one.send("t", value=b"v", partition=0)
    b = everyone.send("t", value=b"v", partition=0)
    s.run(until=1)
    acked = dict(zip(s.trace.acked["msg"].tolist(), s.trace.acked["t"].tolist(), strict=True))
    assert acked[a.value.msg] == pytest.approx(0.005 + 2 * LAT)
    assert acked[b.value.msg] == pytest.approx(0.005 + 4 * LAT)


def test_not_enough_replicas_without_retries():
    s, k = cluster()
    k.create_topic("t", config={"min.insync.replicas": 2})
    p = k.producer({"retries": 0})
    sent = p.send("t", value=b"v")
    s.run(until=1)
    assert isinstance(sent.value, NotEnoughReplicasError)
    assert str(sent.value).startswith("NotEnoughReplicasException")
    assert k.partition("t", 0).log_end_offset == 0  # rejected before writing
    assert s.trace.dropped["reason"].tolist() == [REASON_CODE["not-enough-replicas"]]
    assert s.trace.table("send_failed")["error"].tolist() == [19]


def test_retriable_error_times_out_at_delivery_timeout():
    s, k = cluster()
    k.create_topic("t", config={"min.insync.replicas": 2})
    p = k.producer()  # retries = MAX, delivery.timeout.ms = 120 s
    sent = p.send("t", value=b"v")
    failed_at = []
    sent.callbacks.append(lambda e: failed_at.append(s.now))
    s.run(until=200)
    assert isinstance(sent.value, KafkaTimeoutError)
    assert "120000 ms has passed since batch creation" in str(sent.value)
    assert failed_at == [pytest.approx(120.0)]
    assert p.requests_sent > 100  # retried with backoff up to retry.backoff.max.ms


def test_acks_1_under_min_isr_writes_but_is_not_visible():
    s, k = cluster()
    part = k.create_topic("t", config={"min.insync.replicas": 2}).partitions[0]
    sent = k.producer({"acks": 1}).send("t", value=b"v")
    s.run(until=1)
    assert sent.value.offset == 0
    assert (part.log_end_offset, part.high_watermark) == (1, 0)


def test_too_large_and_keyless_compacted_records_fail():
    s, k = cluster()
    k.create_topic("c", config={"cleanup.policy": "compact"})
    p = k.producer()
    big = p.send("c", value=b"x" * 1048577, key=b"k")
    assert big.triggered and isinstance(big.value, RecordTooLargeError)
    assert "max.request.size" in str(big.value)
    keyless = p.send("c", value=b"v")
    s.run(until=1)
    assert isinstance(keyless.value, InvalidRecordError)
    assert "Compacted topic cannot accept message without key" in str(keyless.value)


def lost_response_run(config):
    """One batch whose first response is lost; the retry reaches the broker again."""
    s, k = cluster()
    k.create_topic("t")
    k.link.cut(0.0052, 0.0058)  # the request leaves at 5 ms, its response at 5.5 ms
    p = k.producer({"request.timeout.ms": 1000, **config})
    events = [p.send("t", value=b"v%d" % i, partition=0) for i in range(3)]
    s.run(until=5)
    return s, k, p, events


def test_idempotent_producer_never_duplicates_on_retry():
    s, k, p, events = lost_response_run({})
    assert p.batches_sent == 2  # sent, response lost, retried after request.timeout.ms
    assert [e.value.offset for e in events] == [0, 1, 2]  # the broker returned the originals
    part = k.partition("t", 0)
    assert part.log_end_offset == 3
    appended = s.trace.table("appended")["msg"].tolist()
    assert sorted(appended) == sorted(set(appended))


def test_without_idempotence_a_retry_duplicates():
    s, k, _p, events = lost_response_run({"enable.idempotence": False, "acks": 1})
    part = k.partition("t", 0)
    assert part.log_end_offset == 6  # the batch is in the log twice
    assert [e.value.offset for e in events] == [3, 4, 5]
    appended = s.trace.table("appended")["msg"].tolist()
    assert len(appended) == 6 and len(set(appended)) == 3


def test_without_idempotence_a_lost_request_reorders():
    s, k = cluster()
    k.create_topic("t")
    k.link.cut(0.0049, 0.0051)  # the first request (sent at 5 ms) is lost
    p = k.producer({"request.timeout.ms": 1000, "acks": 1, "enable.idempotence": False})
    first = send_at(s, p, [0.0], partition=0)
    second = send_at(s, p, [0.006], partition=0)
    s.run(until=5)
    assert second[0].value.offset == 0 and first[0].value.offset == 1


def test_idempotence_keeps_order_when_a_request_is_lost():
    s, k = cluster()
    k.create_topic("t")
    k.link.cut(0.0049, 0.0051)
    p = k.producer({"request.timeout.ms": 1000})
    first = send_at(s, p, [0.0], partition=0)
    second = send_at(s, p, [0.006], partition=0)
    s.run(until=5)
    assert first[0].value.offset == 0 and second[0].value.offset == 1


def test_cut_link_fails_with_timeout_after_delivery_timeout():
    s, k = cluster()
    k.create_topic("t")
    k.link.cut(0.0, 1000.0)
    sent = k.producer().send("t", value=b"v")
    s.run(until=200)
    assert isinstance(sent.value, KafkaTimeoutError)
    assert s.trace.dropped["reason"].tolist() == [REASON_CODE["delivery-timeout"]]


def test_flush_sends_at_once_and_waits_for_acks():
    s, k = cluster()
    k.create_topic("t")
    p = k.producer({"linger.ms": 1000})
    p.send("t", value=b"v")
    done = []

    def run():
        yield p.flush()
        done.append(s.now)

    s.process(run())
    s.run(until=5)
    assert done == [pytest.approx(2 * LAT)]


def test_buffer_memory_blocks_then_fails_after_max_block_ms():
    s, k = cluster()
    k.create_topic("t", config={"min.insync.replicas": 2})  # nothing ever completes
    p = k.producer({"buffer.memory": 1000, "max.block.ms": 2000, "retries": 0,
                    "enable.idempotence": False, "linger.ms": 10000,
                    "delivery.timeout.ms": 60000})
    ok = [p.send("t", value=b"x" * 400) for _ in range(2)]
    blocked = p.send("t", value=b"x" * 400)
    s.run(until=1.9)
    assert not blocked.triggered
    s.run(until=2.1)
    assert isinstance(blocked.value, BufferExhaustedError)
    assert not any(e.triggered for e in ok)


def test_trace_published_and_acked():
    s, k = cluster()
    k.create_topic("t", partitions=2)
    p = k.producer({"client.id": "app"})
    events = [p.send("t", value=b"abc", key=b"k", partition=1) for _ in range(3)]
    s.run(until=1)
    pub = s.trace.published
    assert pub["msg"].tolist() == [e.value.msg for e in events]
    assert pub["partition"].tolist() == [1, 1, 1] and pub["offset"].tolist() == [-1, -1, -1]
    assert pub["size"].tolist() == [4, 4, 4] and pub["t"].tolist() == [0, 0, 0]
    assert pub["channel"].tolist() == [s.trace.channels.id("t")] * 3
    assert s.trace.sources.name(int(pub["source"][0])) == "app"
    assert s.trace.acked["offset"].tolist() == [0, 1, 2]


def test_auto_create_topic_on_first_send():
    s, k = cluster(config={"num.partitions": 3})
    sent = k.producer().send("new", value=b"v")
    s.run(until=1)
    assert sent.value.offset == 0 and len(k.topics["new"].partitions) == 3
    _s2, k2 = cluster(config={"auto.create.topics.enable": False})
    missing = k2.producer().send("new", value=b"v")
    assert isinstance(missing.value, KafkaTimeoutError)


def test_null_key_records_stick_to_a_partition_for_batch_size_bytes():
    s, k = cluster(seed=4)
    k.create_topic("t", partitions=8)
    p = k.producer({"batch.size": 1000})
    events = send_at(s, p, [0.001 * i for i in range(40)], size=100)
    s.run(until=1)
    parts = [e.value.partition for e in events]
    # 10 records of 100 bytes reach batch.size: the partition may change only every 10 records
    for start in range(0, 40, 10):
        assert len(set(parts[start:start + 10])) == 1
    assert np.all(np.diff([e.value.offset for e in events[:10]]) == 1)


def test_sender_timer_survives_float_rounding_of_the_linger_deadline():
    """A linger timer can fire a rounding error before the batch is ready (0.2375 vs
    0.23750000000000002); the sender must re-arm, not stall with the batch unsent."""
    import numpy as np

    from models.kafka import KafkaCluster
    from sim import Simulation

    s = Simulation(seed=1)
    k = KafkaCluster(s, brokers=3)
    k.create_topic("events", partitions=6, replication_factor=3)
    k.producer({"linger.ms": 100}).produce("events", 0.0125 + np.arange(400) / 40,
                                            np.full(400, 1000))
    s.run(until=12)
    assert len(s.trace.acked) == 400
