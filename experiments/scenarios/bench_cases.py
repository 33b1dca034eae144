"""The models' bench cases for ``python -m experiments bench``, each beside its naive baseline.

``redis-fanout``: one channel, 10 subscribers, ``n`` PUBLISHes of 100 B at 100 000/s through
:class:`~models.redis_pubsub.RedisPubSub` with the trace on (10·n deliveries).
"""

from __future__ import annotations

import time

from experiments.bench import BenchCase, BenchOutcome
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


BENCH_CASES: tuple[BenchCase, ...] = (
    BenchCase(
        "redis-fanout",
        "RedisPubSub: 1 channel, 10 subscribers, 100 B PUBLISHes at 100k/s, trace on",
        redis_fanout, n=1_000_000, unit="publishes", baseline="naive-redis-fanout",
    ),
)
