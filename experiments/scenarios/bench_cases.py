"""The models' bench cases for ``python -m experiments bench``, each beside its naive baseline.

``redis-fanout``: one channel, 10 subscribers, ``n`` PUBLISHes of 100 B at 100 000/s through
:class:`~models.redis_pubsub.RedisPubSub` with the trace on (10·n deliveries).

``kafka-groups``: one topic of 16 partitions, ``n`` records of 1 KiB at 100 000/s through the
producer's bulk path (Kafka's default ``batch.size`` and ``linger.ms``), read by two consumer
groups of four at-least-once consumers (``process_then_commit``), trace on (2·n deliveries).
"""

from __future__ import annotations

import time

import numpy as np

from experiments.bench import BenchCase, BenchOutcome
from models.kafka import KafkaCluster
from models.kafka.loops import process_then_commit
from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.workload import constant_rate


def redis_fanout(n: int, subscribers: int = 10, rate: float = 100_000.0) -> BenchOutcome:
    sim = Simulation(seed=1)
    server = RedisPubSub(sim)
    for i in range(subscribers):
        Subscriber(server, f"s{i}", ["bench"], reconnect_delay=None)
    workload = constant_rate(rate, n / rate, target="bench", size=100)
    start = time.perf_counter()
    server.publish_workload(workload)
    sim.run(until=n / rate + 1.0)
    wall = time.perf_counter() - start
    return BenchOutcome(len(sim.trace.delivered), sim.trace.nbytes, wall)


def kafka_groups(n: int, partitions: int = 16, groups: int = 2, consumers_per_group: int = 4,
                 record_size: int = 1024, rate: float = 100_000.0) -> BenchOutcome:
    sim = Simulation(seed=1)
    cluster = KafkaCluster(sim, brokers=3)
    cluster.create_topic("bench", partitions=partitions, replication_factor=1)
    producer = cluster.producer()
    for g in range(groups):
        for c in range(consumers_per_group):
            process_then_commit(cluster, {"group.id": f"g{g}", "client.id": f"c{c}",
                                          "auto.offset.reset": "earliest"}, "bench")
    start = time.perf_counter()
    producer.produce("bench", np.arange(n) / rate, np.full(n, record_size))
    sim.run(until=n / rate + 2.0)
    wall = time.perf_counter() - start
    return BenchOutcome(len(sim.trace.delivered), sim.trace.nbytes, wall)


BENCH_CASES: tuple[BenchCase, ...] = (
    BenchCase(
        "redis-fanout",
        "RedisPubSub: 1 channel, 10 subscribers, 100 B PUBLISHes at 100k/s, trace on",
        redis_fanout, n=1_000_000, unit="publishes", baseline="naive-redis-fanout",
    ),
    BenchCase(
        "kafka-groups",
        "KafkaCluster: 1 topic, 16 partitions, 1 KiB records at 100k/s (bulk produce, default "
        "batching), 2 groups x 4 process-then-commit consumers, trace on",
        kafka_groups, n=1_000_000, unit="records", baseline="naive-kafka-groups",
    ),
)
