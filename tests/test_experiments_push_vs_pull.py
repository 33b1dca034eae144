"""push-vs-pull: the helpers it relies on, and the modelling shortcut it takes (one Kafka
consumer group stands for each of the ``subscribers`` groups)."""

import numpy as np
import pytest

from experiments.scenarios import push_vs_pull as pvp
from experiments.scenarios._same_workload import (
    cdf_points,
    delivery_latencies,
    parse_numbers,
    per_interval,
    run_until,
    step_value,
    workload_messages,
)
from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.workload import poisson


def test_parse_numbers():
    assert parse_numbers("1000, 2e4,50000") == [1000.0, 20000.0, 50000.0]
    assert parse_numbers(7) == [7.0]
    with pytest.raises(ValueError, match="loads"):
        parse_numbers("1,x", "loads")
    with pytest.raises(ValueError, match="loads"):
        parse_numbers(" , ", "loads")


def test_workload_messages_are_what_publish_workload_sends():
    """Common random numbers: drawing the whole workload at once gives the messages the Redis
    server receives slice by slice through ``publish_workload``."""
    w = poisson(3000, 2.0, "c", "lognormal:200,0.5")
    drawn = workload_messages(w, Simulation(seed=5))
    s = Simulation(seed=5)
    r = RedisPubSub(s)
    r.publish_workload(w)
    s.run(until=3)
    pub = s.trace.published
    assert np.array_equal(pub["t"], drawn.t)
    assert np.array_equal(pub["size"], drawn.size)


def test_delivery_latencies_and_small_helpers():
    s = Simulation(seed=1)
    r = RedisPubSub(s, {"latency": 0.001})
    Subscriber(r, "a", ["c"], service=0.002, reconnect_delay=None)
    r.feed(np.array([0.1, 0.5]), ["c", "c"], 10)
    end = run_until(s, lambda: len(s.trace.delivered) == 2, first=0.2, limit=5, step=0.1)
    assert 0.5 < end <= 1.0
    assert delivery_latencies(s.trace) == pytest.approx([0.004, 0.004], abs=1e-5)
    assert len(delivery_latencies(s.trace, np.array([99]))) == 0
    assert cdf_points(np.arange(11.0), 3).tolist() == [0.0, 5.0, 10.0]
    starts, counts = per_interval(np.array([0.1, 0.2, 1.5]), 2.0)
    assert starts.tolist() == [0.0, 1.0] and counts.tolist() == [2, 1]
    assert step_value(np.array([1.0, 2.0]), np.array([5, 7]),
                      np.array([0.5, 1.0, 3.0])).tolist() == [0.0, 5.0, 7.0]


def test_one_kafka_group_stands_for_many():
    """The Kafka model has no broker CPU: three groups see exactly the latencies of one."""
    params = pvp.EXPERIMENT.resolve(quick=True)
    one = pvp.run_kafka(params, seed=3, rate=5000)
    three = pvp.run_kafka(params, seed=3, rate=5000, groups=3)
    assert three["delivered"] == 3 * one["delivered"] == 3 * one["published"]
    assert np.allclose(np.sort(three["latency"]), np.sort(np.tile(one["latency"], 3)))


def test_capacities_follow_the_cost_settings():
    params = pvp.EXPERIMENT.resolve({"subscribers": 10, "processing.us": 50.0})
    assert pvp.redis_capacity(params) == pytest.approx(1 / (0.65e-6 + 10 * 0.9e-6))
    assert pvp.kafka_capacity(params) == pytest.approx(20_000)
