"""The cluster around the logs: topics and placement, the periodic retention task, the cleaner,
high watermark and data notification, deletions seen by the consumer side, storage samples."""

import numpy as np
import pytest

from models.kafka.cluster import KafkaCluster
from models.kafka.errors import (
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    KafkaConfigError,
    KafkaError,
    OffsetOutOfRangeError,
    TopicExistsError,
    UnknownTopicOrPartitionError,
)
from sim import Simulation
from sim.trace import REASON_CODE


def append(part, n=1, size=100, key=None, ts=None):
    """Leader append of one batch at the current time, as a produce request would do."""
    now = part.cluster.env.now
    msg = part.cluster.trace.new_message_ids(n)
    keys = None if key is None else np.full(n, key)
    return part.append(msg, np.full(n, now if ts is None else ts), np.full(n, size), keys, None,
                       "1")


def test_create_topic_places_leaders_round_robin_with_distinct_replicas():
    k = KafkaCluster(Simulation(seed=1), brokers=3)
    topic = k.create_topic("orders", partitions=6, replication_factor=3)
    leaders = [p.leader for p in topic.partitions]
    assert sorted(leaders) == [0, 0, 1, 1, 2, 2]
    assert all(leaders[i] != leaders[i + 1] for i in range(5))
    for p in topic.partitions:
        assert len(set(p.replicas)) == 3 and p.leader == p.replicas[0] and p.isr == p.replicas
        assert (p.topic, p.topic_id, p.log_end_offset, p.high_watermark) == (
            "orders", k.trace.channels.id("orders"), 0, 0)
    assert k.partition("orders", 5) is topic.partitions[5]
    assert topic.config["retention.ms"] == 604800000


def test_create_topic_errors_name_the_problem():
    k = KafkaCluster(Simulation(), brokers=2)
    k.create_topic("a")
    with pytest.raises(TopicExistsError, match="already exists"):
        k.create_topic("a")
    with pytest.raises(InvalidReplicationFactorError, match="larger than available brokers: 2"):
        k.create_topic("b", replication_factor=3)
    with pytest.raises(InvalidPartitionsError):
        k.create_topic("b", partitions=0)
    with pytest.raises(KafkaError, match="illegal"):
        k.create_topic("bad name!")
    with pytest.raises(KafkaConfigError, match=r"Did you mean 'retention\.ms'"):
        k.create_topic("b", config={"retention.msec": 1})
    with pytest.raises(UnknownTopicOrPartitionError):
        k.partition("a", 1)
    with pytest.raises(KafkaConfigError, match=r"log\.retention\.ms"):
        KafkaCluster(Simulation(), config={"retention.ms": 5})


def test_broker_log_settings_are_topic_defaults():
    k = KafkaCluster(Simulation(), config={"log.retention.hours": 1, "log.segment.bytes": 4096,
                                           "num.partitions": 4})
    topic = k.create_topic("t", config={"segment.bytes": 2048})
    assert len(topic.partitions) == 4
    assert topic.config["retention.ms"] == 3600000 and topic.config["segment.bytes"] == 2048


def test_retention_runs_after_the_initial_delay_then_every_check_interval():
    s = Simulation()
    k = KafkaCluster(s, brokers=1)  # 30 s initial delay, 300 s interval (Kafka's defaults)
    part = k.create_topic("t", config={"retention.ms": 10_000, "segment.bytes": 250}) \
        .partitions[0]
    for t in range(5):  # offsets 0..4 at t = 0..4 s; segments [0,1] [2,3] [4]
        s.run(until=float(t))
        append(part)
    assert [seg.base_offset for seg in part.log.segments] == [0, 2, 4]
    s.run(until=29.9)
    assert part.log_start_offset == 0
    s.run(until=30.1)  # first check: now=30, every segment expired -> roll, delete all
    assert part.log_start_offset == 5 and part.log_end_offset == 5
    assert [seg.base_offset for seg in part.log.segments] == [5]
    deletion = part.deletions[0]
    assert (deletion.t, deletion.start_offset, deletion.end_offset) == (30.0, 0, 5)
    s.run(until=100.0)
    append(part)
    s.run(until=329.9)
    assert part.log_start_offset == 5  # next check at 330
    s.run(until=330.1)
    assert part.log_start_offset == 6
    with pytest.raises(OffsetOutOfRangeError):
        part.read(3)
    # the consumer side sees it in the trace and through the hook
    deleted = s.trace.table("log_deleted")
    assert list(deleted["offset"]) == [0, 1, 2, 3, 4, 5]
    assert set(deleted["reason"]) == {REASON_CODE["retention"]}
    storage = s.trace.table("kafka_storage")
    assert list(storage["t"]) == [30.0, 330.0] and list(storage["bytes"]) == [0, 0]


def test_on_delete_hook_and_storage_by_broker():
    s = Simulation()
    k = KafkaCluster(s, brokers=3, config={"log.initial.task.delay.ms": 0,
                                           "log.retention.check.interval.ms": 1000})
    part = k.create_topic("t", replication_factor=2,
                          config={"retention.bytes": 150, "segment.bytes": 100}).partitions[0]
    seen = []
    part.on_delete.append(lambda p, d: seen.append((p.index, d.start_offset, d.end_offset)))
    for _ in range(4):
        append(part)
    assert k.storage_bytes() == {("t", 0): 400}
    assert sum(k.storage_by_broker().values()) == 800  # two replicas
    s.run(until=0.5)
    assert seen == []  # the check at t=0 ran before the followers moved the HW
    s.run(until=1.5)
    # size 400, retention.bytes 150: diff 250 -> delete two 100-byte segments (250-200=50>=0)
    assert seen == [(0, 0, 2)]
    assert k.storage_bytes() == {("t", 0): 200}


def test_cleaner_compacts_after_its_backoff_and_never_the_active_segment():
    s = Simulation()
    k = KafkaCluster(s, brokers=1)  # log.cleaner.backoff.ms = 15 s
    part = k.create_topic("c", config={"cleanup.policy": "compact", "segment.bytes": 300})\
        .partitions[0]
    s.run(until=1.0)
    for key in [1, 1, 1, 1, 1, 1, 2]:  # offsets 0..6; segments [0-2] [3-5] [6]
        append(part, key=k.keys.id(b"k%d" % key))
    s.run(until=15.5)  # cleaner woke at 15 s: dirty [0, 6) ratio 1 > 0.5
    offsets = list(part.log.columns()["offset"])
    assert offsets == [5, 6]
    assert part.deletions[-1].reason == "compaction"
    assert list(part.read(0).offset) == [5, 6]


def test_compact_delete_retention_runs_on_the_cleaner_thread():
    s = Simulation()
    k = KafkaCluster(s, brokers=1, config={"log.cleaner.backoff.ms": 1000})
    part = k.create_topic("c", config={"cleanup.policy": "compact,delete", "retention.ms": 500,
                                       "segment.bytes": 100}).partitions[0]
    append(part, key=k.keys.id(b"a"))
    append(part, key=k.keys.id(b"b"))
    s.run(until=2.5)  # well before the 30 s retention task: the cleaner did it
    assert part.log_start_offset == 2


def test_high_watermark_notification():
    s = Simulation()
    k = KafkaCluster(s, brokers=1)
    part = k.create_topic("t").partitions[0]
    fired = []

    def waiter():
        hw = yield part.wait_for_data()
        fired.append((s.now, hw))

    s.process(waiter())
    s.run(until=1.0)
    append(part, n=3)
    s.run(until=1.0 + 1e-9)
    assert fired == [(1.0, 3)]
    ready = part.wait_for_data(offset=2)
    assert ready.triggered and ready.value == 3
    assert not part.wait_for_data(offset=3).triggered
    assert part.available_bytes(1) == 200


def test_high_watermark_waits_for_followers_and_min_isr():
    s = Simulation()
    k = KafkaCluster(s, brokers=3, latency=0.001)
    part = k.create_topic("t", replication_factor=3).partitions[0]
    result = append(part, n=2)
    assert result.base_offset == 0
    assert part.high_watermark == 0 and part.log_end_offset == 2
    # the followers' waiting fetches return at once; their next fetches tell the leader
    s.run(until=0.0019)
    assert part.high_watermark == 0 and [part.replica_leo(b) for b in part.replicas] == [2] * 3
    s.run(until=0.0021)
    assert part.high_watermark == 2
    # min.insync.replicas above the ISR: the HW stays (Kafka 3.7+, KAFKA-15583)
    lonely = k.create_topic("u", config={"min.insync.replicas": 2}).partitions[0]
    append(lonely, n=2)
    s.run(until=1.0)
    assert (lonely.log_end_offset, lonely.high_watermark) == (2, 0)


def test_storage_sampler_interval():
    s = Simulation()
    k = KafkaCluster(s, brokers=2, storage_sample_interval=1.0)
    part = k.create_topic("t", partitions=2).partitions[0]
    append(part, size=500)
    s.run(until=3.5)
    table = s.trace.table("kafka_storage")
    assert list(table["t"]) == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    assert list(table["bytes"][2:4]) == [500, 0]
    brokers = s.trace.table("kafka_broker_storage")
    assert len(brokers) == 8 and sorted(brokers["bytes"][-2:]) == [0, 500]
