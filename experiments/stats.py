"""Means and t-distribution confidence intervals over replications (no scipy needed).

The Student t quantile is found by bisection on its CDF, written with the regularised incomplete
beta function (continued fraction, Numerical Recipes' ``betacf``): exact to ~1e-10, which is far
more than a report with four significant digits needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import NamedTuple

from experiments.experiment import RunResult


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` > 0 degrees of freedom (inf: normal)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), not {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    if math.isinf(df):
        return NormalDist().inv_cdf(p)
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the sample mean and its t-distribution confidence interval.

    Non-finite values (a latency of a run with no deliveries) are left out. With one value the
    interval is ``(nan, nan)``; with none, everything is ``nan``. Identical values give a zero-width
    interval.
    """
    xs = [float(v) for v in values if math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = math.fsum(xs) / n
    if n == 1:
        return mean, math.nan, math.nan
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * math.sqrt(var / n)
    return mean, mean - half, mean + half


class Summary(NamedTuple):
    """One metric of one model at one parameter point, over its replications."""

    experiment: str
    point: str
    model: str
    metric: str
    unit: str
    n: int
    mean: float
    low: float
    high: float


def summarise(results: Sequence[RunResult], confidence: float = 0.95) -> list[Summary]:
    """Mean and confidence interval per (experiment, point, model, metric), in first-seen order.

    Runs that ended in an error are left out.
    """
    groups: dict[tuple[str, str, str, str], tuple[str, list[float]]] = {}
    for result in results:
        if not result.ok:
            continue
        for m in result.metrics:
            key = (result.experiment, result.point, m.model, m.metric)
            groups.setdefault(key, (m.unit, []))[1].append(m.value)
    rows = []
    for (experiment, point, model, metric), (unit, values) in groups.items():
        mean, low, high = mean_ci(values, confidence)
        rows.append(Summary(experiment, point, model, metric, unit, len(values), mean, low, high))
    return rows
