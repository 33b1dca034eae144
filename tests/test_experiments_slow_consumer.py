"""slow-consumer: which limit cuts which subscriber."""

import numpy as np
import pytest

from experiments.scenarios import slow_consumer as sc
from experiments.scenarios._same_workload import MIB


def test_speeds_must_be_positive():
    with pytest.raises(ValueError, match=r"consumer\.speeds"):
        sc._speeds(sc.EXPERIMENT.resolve({"consumer.speeds": "0.5,0"}))


def _redis(speed: str, duration: float):
    params = sc.EXPERIMENT.resolve({"consumer.speeds": speed, "duration": duration})
    metrics, series = sc.run_redis(params, seed=3)
    return {m.metric: m.value for m in metrics}, series[f"redis/{speed}x consumer"]


def test_a_mildly_slow_subscriber_is_cut_by_the_soft_limit_after_60_seconds():
    values, s = _redis("0.8", 150.0)
    cut = values["first disconnect (0.8x consumer)"]
    over = s["t"][s["buffer_mib"] * MIB >= 8 * MIB]
    assert values["peak output buffer (0.8x consumer)"] < 32   # never near the hard limit
    assert 60 < cut - over[0] < 62.5                            # soft: > 60 s over 8 MiB


def test_a_very_slow_subscriber_is_cut_by_the_hard_limit():
    values, s = _redis("0.2", 60.0)
    cut = values["first disconnect (0.2x consumer)"]
    over = s["t"][s["buffer_mib"] * MIB >= 8 * MIB]
    assert cut - over[0] < 60                                   # well before the soft window
    assert values["peak output buffer (0.2x consumer)"] > 30
    assert np.isfinite(cut) and values["lost (0.2x consumer)"] > 0
