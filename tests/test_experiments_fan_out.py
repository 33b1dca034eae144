"""fan-out: the engine shortcut it takes and the cost law it shows."""

import numpy as np
import pytest

from experiments.scenarios import fan_out


def test_flush_interval_is_bookkeeping_only():
    """Settling the Redis batch engine less often gives the same run (up to float rounding)."""
    params = fan_out.EXPERIMENT.resolve(quick=True)
    often = fan_out.run_redis(params, seed=4, subscribers=20, patterns=5, flush_interval=0.05)
    rarely = fan_out.run_redis(params, seed=4, subscribers=20, patterns=5)
    assert often["delivered"] == rarely["delivered"] == often["owed"]
    assert np.allclose(often["publish_rtt"], rarely["publish_rtt"], rtol=0, atol=1e-12)
    assert np.allclose(np.sort(often["e2e"]), np.sort(rarely["e2e"]), rtol=0, atol=1e-12)
    assert often["cpu"] == pytest.approx(rarely["cpu"])


def test_publish_cost_is_linear_in_subscribers_and_patterns():
    params = fan_out.EXPERIMENT.resolve(quick=True)
    one = fan_out.run_redis(params, seed=1, subscribers=1, patterns=0)["cpu_per_publish"]
    many = fan_out.run_redis(params, seed=1, subscribers=41, patterns=0)["cpu_per_publish"]
    pats = fan_out.run_redis(params, seed=1, subscribers=1, patterns=200)["cpu_per_publish"]
    assert many - one == pytest.approx(40 * 0.9e-6)
    assert pats - one == pytest.approx(200 * 0.24e-6)


def test_kafka_counts_respect_the_cap():
    params = fan_out.EXPERIMENT.resolve({"subscribers": "1,10,100,1000,10000"})
    assert fan_out.kafka_counts(params) == [1, 10, 100]
