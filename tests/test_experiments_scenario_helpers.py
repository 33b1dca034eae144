"""Helpers shared by the replay, retention, consumer-groups and delivery-guarantees experiments:
one workload into both models, Kafka ``*.ms`` settings, trace tallies, distinct variant colours."""

import numpy as np
import pytest

from experiments.scenarios._feeding import (
    kafka_ms,
    offset_for_time,
    produce_workload,
    scaled_ms,
    workload_messages,
)
from experiments.scenarios._styles import distinct_styles
from experiments.scenarios._tally import (
    deliveries_to,
    drops_to,
    longest_gap,
    per_bin,
    publish_times,
    receiver_ids,
    tally,
)
from models.kafka import KafkaCluster
from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.trace import REASON_CODE
from sim.workload import constant_rate, poisson


@pytest.mark.parametrize(("value", "ms"), [
    (60000, 60000.0), ("60000", 60000.0), ("7d", 604_800_000.0), ("5min", 300_000.0),
    ("500ms", 500.0), (-1, -1.0), ("-1", -1.0), (2.5, 2.5),
])
def test_kafka_ms_reads_numbers_as_milliseconds_and_strings_with_units_as_durations(value, ms):
    assert kafka_ms(value) == ms


@pytest.mark.parametrize("bad", [True, "-5", -2, "seven days", float("nan")])
def test_kafka_ms_rejects_what_is_not_a_duration(bad):
    with pytest.raises(ValueError):
        kafka_ms(bad)


def test_scaled_ms_compresses_to_whole_milliseconds_at_least_one():
    assert scaled_ms("7d", 8640) == 70_000
    assert scaled_ms("5min", 8640) == 35
    assert scaled_ms("1ms", 1e6) == 1
    assert scaled_ms(-1, 8640) == -1
    with pytest.raises(ValueError, match="time_scale"):
        scaled_ms("7d", 0)


def test_workload_messages_are_the_ones_redis_publishes_common_random_numbers():
    workload = poisson(300.0, 5.0, target="events", size="uniform:100,900")
    sim = Simulation(seed=11)
    server = RedisPubSub(sim)
    server.publish_workload(workload)
    sim.run(until=6.0)
    mine = workload_messages(workload, Simulation(seed=11))
    np.testing.assert_array_equal(np.sort(sim.trace.published["t"]), mine.t)
    np.testing.assert_array_equal(sim.trace.published["size"], mine.size)
    assert not np.array_equal(workload_messages(workload, Simulation(seed=12)).t, mine.t)


def test_produce_workload_sends_every_message_at_its_time_from_start():
    sim = Simulation(seed=3)
    cluster = KafkaCluster(sim, brokers=1)
    cluster.create_topic("events", 2, 1)
    workload = constant_rate(100.0, 2.0, target="events", size=200)
    bulk, messages = produce_workload(cluster, workload, {"linger.ms": 10}, start=1.0)
    sim.run(until=5.0)
    assert len(bulk) == len(messages) == 200
    assert bulk.acked == 200
    np.testing.assert_allclose(np.sort(sim.trace.published["t"]), messages.t + 1.0)


def test_produce_workload_is_not_stalled_by_the_producer_timer_round_off():
    """Rate 40/s with linger.ms=100 once hit a producer timer stall (a linger timer firing a
    rounding error early); every record must get out."""
    sim = Simulation(seed=1)
    cluster = KafkaCluster(sim, brokers=3)
    cluster.create_topic("events", 6, 3)
    workload = constant_rate(40.0, 10.0, target="events", size=1000)
    bulk, _ = produce_workload(cluster, workload, {"linger.ms": 100})
    sim.run(until=12.0)
    assert bulk.acked == 400


def test_model_producer_alone_sends_everything_at_40_per_second_with_linger_100ms():
    sim = Simulation(seed=1)
    cluster = KafkaCluster(sim, brokers=3)
    cluster.create_topic("events", 6, 3)
    times = 0.0125 + np.arange(400) / 40.0
    bulk = cluster.producer({"linger.ms": 100}).produce("events", times, np.full(400, 1000))
    sim.run(until=12.0)
    assert bulk.acked == 400


def test_offset_for_time_is_the_first_retained_offset_at_or_after_the_time():
    sim = Simulation(seed=1)
    cluster = KafkaCluster(sim, brokers=1)
    cluster.create_topic("t", 1, 1, {"segment.bytes": 1000})
    part = cluster.partition("t", 0)
    msg = cluster.trace.new_message_ids(30)
    for i in range(0, 30, 10):
        stamps = np.arange(i, i + 10, dtype=float)
        part.append(msg[i:i + 10], stamps, np.full(10, 100), None, None, "all")
    assert offset_for_time(part, 0.0) == 0
    assert offset_for_time(part, 12.5) == 13
    assert offset_for_time(part, 29.0) == 29
    assert offset_for_time(part, 99.0) == part.high_watermark == 30


def test_tallies_count_deliveries_duplicates_drops_and_publish_times():
    sim = Simulation(seed=1)
    server = RedisPubSub(sim)
    sub = Subscriber(server, "s", ["c"], reconnect_delay=None)
    sub.go_offline(at=1.0, duration=1.0)
    server.feed(np.arange(30) * 0.1 + 0.05, ["c"] * 30, 10)
    sim.run(until=4.0)
    trace = sim.trace
    (rid,) = receiver_ids(trace, ["s"])
    msg, t = deliveries_to(trace, rid)
    assert tally(msg) == (20, 20, 0)
    assert tally(np.array([1, 1, 2, 3, 3, 3])) == (6, 3, 3)
    assert len(drops_to(trace, rid, "disconnected")) == 10
    assert len(drops_to(trace, rid, "retention")) == 0
    assert set(trace.dropped["reason"]) == {REASON_CODE["disconnected"]}
    sent = publish_times(trace)
    assert np.all(sent[msg] <= t)
    with pytest.raises(KeyError, match="nobody"):
        receiver_ids(trace, ["nobody"])


def test_per_bin_and_longest_gap():
    edges, counts = per_bin(np.array([0.1, 0.2, 1.5, 2.9, 3.0]), 0.0, 3.0, 1.0)
    assert edges.tolist() == [0.0, 1.0, 2.0]
    assert counts.tolist() == [2, 1, 2]  # numpy's last bin is closed
    assert longest_gap(np.array([1.0, 2.0, 6.0]), 0.0, 7.0) == (4.0, 2.0)
    assert longest_gap(np.array([]), 3.0, 5.0) == (2.0, 3.0)
    with pytest.raises(ValueError):
        per_bin(np.array([1.0]), 0.0, 1.0, 0.0)


def test_distinct_styles_keep_the_family_and_never_repeat_a_colour_within_it():
    names = ["redis", "redis/late", "kafka/a", "kafka/b", "kafka/c", "kafka/d", "other"]
    styles = distinct_styles(names)
    kafka = [styles[n] for n in names if n.startswith("kafka")]
    assert len({s.color for s in kafka}) == len(kafka)
    assert {s.marker for s in kafka} == {"s"} and styles["redis/late"].marker == "o"
    assert styles["redis"].color != styles["redis/late"].color
    assert distinct_styles(names) == styles
