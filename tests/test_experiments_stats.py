"""The confidence-interval helper against known Student t values, and summarising runs."""

import math

import pytest

from experiments.experiment import Metric, RunResult
from experiments.stats import mean_ci, summarise, t_cdf, t_quantile


@pytest.mark.parametrize(
    ("p", "df", "expected"),  # scipy.stats.t.ppf(p, df)
    [
        (0.975, 1, 12.706204736174698),
        (0.975, 2, 4.302652729749464),
        (0.975, 4, 2.7764451051977934),
        (0.975, 9, 2.2621571628540993),
        (0.975, 30, 2.0422724563012373),
        (0.995, 5, 4.032142983557536),
        (0.95, 10, 1.8124611228107335),
        (0.025, 3, -3.182446305284263),
    ],
)
def test_t_quantile_matches_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, rel=1e-9)


def test_t_quantile_tends_to_the_normal_and_inverts_the_cdf():
    assert t_quantile(0.975, math.inf) == pytest.approx(1.959963984540054, rel=1e-12)
    z, nu = 1.959963984540054, 10_000  # Cornish-Fisher expansion of the t quantile in 1/nu
    series = z + (z**3 + z) / (4 * nu) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
    assert t_quantile(0.975, nu) == pytest.approx(series, abs=1e-11)
    assert t_cdf(t_quantile(0.9, 3.5), 3.5) == pytest.approx(0.9, abs=1e-12)
    assert t_quantile(0.5, 7) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("p", "df"), [(0.0, 3), (1.0, 3), (0.5, 0)])
def test_t_quantile_rejects_impossible_arguments(p, df):
    with pytest.raises(ValueError):
        t_quantile(p, df)


def test_mean_ci_known_values():
    mean, low, high = mean_ci([1, 2, 3, 4, 5])
    half = 2.7764451051977934 * math.sqrt(2.5 / 5)  # t(0.975, 4) * s / sqrt(n)
    assert (mean, low, high) == pytest.approx((3.0, 3.0 - half, 3.0 + half), rel=1e-12)
    mean, low, high = mean_ci([10.0, 12.0], confidence=0.90)
    half = 6.313751514675043 * 1.0  # t(0.95, 1) * sqrt(2 / 2)
    assert (low, high) == pytest.approx((11.0 - half, 11.0 + half), rel=1e-9)


def test_mean_ci_edge_cases():
    assert mean_ci([4.0, 4.0, 4.0]) == (4.0, 4.0, 4.0)
    mean, low, high = mean_ci([7.0])
    assert mean == 7.0 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(x) for x in mean_ci([]))
    assert mean_ci([1.0, float("nan"), 3.0, float("inf")])[0] == 2.0


def test_summarise_groups_by_point_model_metric_and_skips_failed_runs():
    def result(point, rep, value, error=None):
        return RunResult(metrics=[Metric("redis", "lost", value, "fraction"),
                                  Metric("kafka", "lost", 0, "fraction")],
                         experiment="e", point=point, replication=rep, error=error)

    rows = summarise([result("a", 0, 0.1), result("a", 1, 0.3), result("b", 0, 0.5),
                      result("b", 1, 99.0, error="boom")])
    assert [(s.point, s.model, s.n) for s in rows] == [
        ("a", "redis", 2), ("a", "kafka", 2), ("b", "redis", 1), ("b", "kafka", 1)]
    assert [s.mean for s in rows] == pytest.approx([0.2, 0.0, 0.5, 0.0])
    assert rows[0].unit == "fraction"
