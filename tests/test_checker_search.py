"""The user's recipe (sim.checker.search): does this configuration guarantee X?"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from models.redis_pubsub import RedisPubSub, stringmatch
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.checker import check_pubsub
from sim.checker.search import find_counterexample

LOADS = st.fixed_dictionaries({
    "rate": st.integers(1, 1000), "seconds": st.integers(1, 5),
    "size": st.sampled_from([100, 1000, 10_000]),
})


def build(p):
    """A subscriber needing 2 ms a message behind a small output-buffer limit."""
    sim = Simulation(seed=1)
    redis = RedisPubSub(sim, {"client-output-buffer-limit": "pubsub 64kb 32kb 1"})
    Subscriber(redis, "app", ["orders"], service=0.002, reconnect_delay=None)
    n = p["rate"] * p["seconds"]
    redis.feed(0.01 + np.arange(n) / p["rate"], ["orders"] * n, p["size"])
    sim.run(until=p["seconds"] + 10)  # drained: at most ~3 000 frames fit before a cut
    return check_pubsub(sim.trace, stringmatch, drained=True)


def no_loss(report):
    return report.receiver("app").lost_total == 0


def test_finds_the_smallest_load_that_loses_messages():
    found = find_counterexample(build, no_loss, LOADS, max_examples=30)
    assert found is not None
    p = found.params
    # the app drains 500 messages/s; below that nothing piles up, so loss needs more
    assert p["rate"] > 500
    assert "output-buffer-limit" in found.story()
    assert str(found).startswith("The guarantee fails for {")


def test_returns_none_when_the_guarantee_holds():
    gentle = st.fixed_dictionaries({"rate": st.integers(1, 400), "seconds": st.integers(1, 3),
                                    "size": st.sampled_from([100, 1000])})
    assert find_counterexample(build, no_loss, gentle, max_examples=15) is None


def test_a_report_can_be_the_verdict():
    """holds=lambda r: r means "the checker finds no error"; pub/sub loss is not an error."""
    assert find_counterexample(build, lambda r: r, LOADS, max_examples=10) is None
