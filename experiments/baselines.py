"""Naive baselines: the two workloads written in plain simpy the way a newcomer would.

They are deliberately the obvious design DESIGN.md warns against (one simpy event and one Python
object per message per receiver, deliveries kept in Python lists), so the bench can show how much
faster the real models are. Keep them naive: they are the yardstick, not code to improve.

- :func:`naive_redis_fanout` — one publisher, one channel, N subscribers, a ``simpy.Store`` per
  subscriber; every publish puts the message into each Store; each subscriber process does
  ``yield store.get()`` and appends ``(msg, t)`` to a list.
- :func:`naive_kafka_groups` — one producer appending each record (a Python object) to a list per
  partition with a ``yield env.timeout(...)`` per record; two groups of four consumers over 16
  partitions (range assignment), each polling its partitions with one event per record delivered.

The record payload is one shared ``bytes`` object, so memory measures the simulation's
bookkeeping rather than payload copies.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Generator

import simpy

from experiments.bench import BenchCase, BenchOutcome


class Message:
    """A published message, as a newcomer would write it."""

    def __init__(self, msg_id: int, channel: str, payload: bytes, published_at: float) -> None:
        self.msg_id = msg_id
        self.channel = channel
        self.payload = payload
        self.published_at = published_at


class Record:
    """A Kafka record, as a newcomer would write it."""

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes,
                 timestamp: float) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestamp = timestamp


def recorded_bytes(inboxes: list[list[tuple[object, float]]]) -> int:
    """Bytes the delivery lists hold: the lists, their tuples and the time floats.

    Each delivery's time is its own float object (simpy computes every event's time afresh);
    the message or record objects are counted once per publish elsewhere, not here.
    """
    total = 0
    for inbox in inboxes:
        total += sys.getsizeof(inbox)
        for entry in inbox:
            total += sys.getsizeof(entry) + sys.getsizeof(entry[1])
    return total


def naive_redis_fanout(
    publishes: int, subscribers: int = 10, rate: float = 100_000.0, payload_size: int = 100
) -> BenchOutcome:
    """Fan ``publishes`` messages out to ``subscribers`` Stores, one event per copy."""
    start = time.perf_counter()
    env = simpy.Environment()
    payload = b"x" * payload_size
    stores = [simpy.Store(env) for _ in range(subscribers)]
    inboxes: list[list[tuple[object, float]]] = [[] for _ in range(subscribers)]

    def publisher() -> Generator[simpy.Event, object, None]:
        for i in range(publishes):
            yield env.timeout(1.0 / rate)
            msg = Message(i, "news", payload, env.now)
            for store in stores:
                store.put(msg)

    def subscriber(store: simpy.Store, inbox: list[tuple[object, float]]
                   ) -> Generator[simpy.Event, object, None]:
        while True:
            msg = yield store.get()
            inbox.append((msg, env.now))

    env.process(publisher())
    for store, inbox in zip(stores, inboxes, strict=True):
        env.process(subscriber(store, inbox))
    env.run()
    wall = time.perf_counter() - start
    deliveries = sum(len(inbox) for inbox in inboxes)
    return BenchOutcome(deliveries, recorded_bytes(inboxes), wall)


def naive_kafka_groups(
    records: int,
    partitions: int = 16,
    groups: int = 2,
    consumers_per_group: int = 4,
    record_size: int = 1024,
    rate: float = 100_000.0,
    poll_interval: float = 0.001,
    fetch_time: float = 1e-6,
) -> BenchOutcome:
    """Produce ``records`` records round-robin over ``partitions``; every group reads them all."""
    start = time.perf_counter()
    env = simpy.Environment()
    value = b"x" * record_size
    log: list[list[Record]] = [[] for _ in range(partitions)]
    producer_done = [False]
    inboxes: list[list[tuple[object, float]]] = []

    def producer() -> Generator[simpy.Event, object, None]:
        for i in range(records):
            yield env.timeout(1.0 / rate)
            p = i % partitions
            log[p].append(Record("topic", p, len(log[p]), None, value, env.now))
        producer_done[0] = True

    def consumer(assigned: list[int], inbox: list[tuple[object, float]]
                 ) -> Generator[simpy.Event, object, None]:
        positions = {p: 0 for p in assigned}
        while True:
            got_any = False
            for p in assigned:
                while positions[p] < len(log[p]):
                    record = log[p][positions[p]]
                    yield env.timeout(fetch_time)
                    inbox.append((record, env.now))
                    positions[p] += 1
                    got_any = True
            if not got_any:
                if producer_done[0]:
                    return
                yield env.timeout(poll_interval)

    env.process(producer())
    per_consumer = -(-partitions // consumers_per_group)
    for _ in range(groups):
        for c in range(consumers_per_group):
            inbox: list[tuple[object, float]] = []
            inboxes.append(inbox)
            assigned = list(range(c * per_consumer, min(partitions, (c + 1) * per_consumer)))
            env.process(consumer(assigned, inbox))
    env.run()
    wall = time.perf_counter() - start
    deliveries = sum(len(inbox) for inbox in inboxes)
    return BenchOutcome(deliveries, recorded_bytes(inboxes), wall)


BENCH_CASES: tuple[BenchCase, ...] = (
    BenchCase(
        "naive-redis-fanout",
        "plain simpy: 1 channel, 10 subscribers, a Store each, one event per delivered copy",
        functools.partial(naive_redis_fanout, subscribers=10),
        n=100_000, unit="publishes", is_baseline=True,
    ),
    BenchCase(
        "naive-kafka-groups",
        "plain simpy: 1 topic, 16 partitions, 1 KiB records, 2 groups x 4 consumers, "
        "one event per record produced and per record delivered",
        naive_kafka_groups,
        n=100_000, unit="records", is_baseline=True,
    ),
)
