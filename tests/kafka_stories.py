"""Kafka stories more than one test module replays."""

from __future__ import annotations

import numpy as np

from models.kafka import KafkaCluster
from models.kafka.loops import ConsumerLoop
from sim import Simulation

STALE_GENERATION_RECORDS = 40


def stale_generation_story(fast: bool = True) -> tuple[Simulation, ConsumerLoop]:
    """At-most-once member ``a`` consumes 2 partitions alone, one record per poll, 0.3 s a
    record; ``b`` joins at t=8 s. ``a`` rejoins in a poll that still returns a buffered record
    and commits at once: the JoinGroup reaches the coordinator first, so the commit carries the
    old generation (ILLEGAL_GENERATION). Run to t=30 s; ``fast`` picks the loops' callback fast
    path or the event path. Gives the simulation and ``a``'s loop."""
    s = Simulation(seed=1)
    k = KafkaCluster(s, brokers=1, config={"group.initial.rebalance.delay.ms": 0})
    k.create_topic("t", partitions=2, replication_factor=1)
    n = STALE_GENERATION_RECORDS
    k.producer({"linger.ms": 0}).produce("t", np.zeros(n), np.full(n, 10),
                                         partitions=np.arange(n) % 2)
    cfg = {"group.id": "g", "auto.offset.reset": "earliest", "max.poll.records": 1,
           "heartbeat.interval.ms": 1000, "partition.assignment.strategy": ["cooperative-sticky"]}

    def member(name: str) -> ConsumerLoop:
        loop = ConsumerLoop(k, {**cfg, "client.id": name}, "t", "commit_before_process",
                            processing=0.3)
        loop.fast = fast
        return loop

    a = member("a")
    s.call_at(8.0, lambda: member("b"))
    s.run(until=30)
    return s, a
