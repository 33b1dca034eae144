"""Helpers for experiments that replay one workload through both models.

Used by ``push_vs_pull``, ``slow_consumer``, ``fan_out`` and ``data_volume``. Private (the
registry skips ``_`` modules): no experiment is defined here.

Common random numbers: each model runs in its own :class:`sim.Simulation` built from the same
seed, and :func:`workload_messages` draws the messages through the workload's feed
(``workload.feed(sim)``), so both models get bit-identical send times, sizes and targets.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from experiments.experiment import RunResult
from sim import Simulation
from sim.trace import Trace
from sim.workload import MessageBatch, Workload

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MIB = 1024 * 1024


def parse_numbers(text: str | float | int, what: str = "value") -> list[float]:
    """``"1000, 2e4,50000"`` -> ``[1000.0, 20000.0, 50000.0]`` (a single number works too).

    Raises ``ValueError`` naming ``what`` when an item is not a number or the list is empty.
    """
    if isinstance(text, int | float):
        return [float(text)]
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise ValueError(f"{what}: expected a comma-separated list of numbers, not {text!r}")
    try:
        return [float(item) for item in items]
    except ValueError:
        raise ValueError(f"{what}: expected a comma-separated list of numbers, "
                         f"not {text!r}") from None


def workload_messages(workload: Workload, sim: Simulation) -> MessageBatch:
    """Every message of ``workload``, drawn through its feed on ``sim``'s random streams.

    The feed draws on a fixed time grid, so this equals what ``RedisPubSub.publish_workload``
    hands the server slice by slice: the same seed gives both models the same messages.
    """
    return workload.feed(sim).take(workload.duration)


def publish_times(trace: Trace) -> np.ndarray:
    """Send time of each message, indexed by message id (NaN for ids never published)."""
    published = trace.published
    msg = published["msg"]
    times = np.full(int(msg.max()) + 1 if len(msg) else 0, np.nan)
    times[msg] = published["t"]
    return times


def delivery_latencies(trace: Trace, receivers: np.ndarray | None = None) -> np.ndarray:
    """Seconds from send to delivery of every delivered copy (optionally of some receivers).

    Both models trace a delivery when the receiving application has finished with the message
    (Redis: the subscriber's handler; Kafka: the consumer loop's processing), so the two
    latencies measure the same span.
    """
    delivered = trace.delivered
    msg, t = delivered["msg"], delivered["t"]
    if receivers is not None:
        keep = np.isin(delivered["receiver"], receivers)
        msg, t = msg[keep], t[keep]
    if not len(msg):
        return np.empty(0)
    return t - publish_times(trace)[msg]


def cdf_points(samples: np.ndarray, points: int = 401) -> np.ndarray:
    """The ``points`` quantiles (0..1 evenly) of ``samples``: a compact stand-in for the
    empirical CDF of a large sample (empty input gives an empty array)."""
    if not len(samples):
        return np.empty(0)
    return np.quantile(samples, np.linspace(0.0, 1.0, points))


def run_until(sim: Simulation, settled: Callable[[], bool], first: float, limit: float,
              step: float = 0.05) -> float:
    """Run ``sim`` to time ``first``, then on in steps of ``step`` seconds until ``settled()``
    or time ``limit``; returns the simulated time reached.

    Models that move messages in batches are synced at every stop (``Simulation.run`` does
    it), so ``settled`` may read the trace. Each stop costs a sync, so ``first`` should be when
    the run is expected to be done.
    """
    sim.run(until=min(first, limit))
    while sim.now < limit and not settled():
        sim.run(until=min(sim.now + step, limit))
    return sim.now


def per_interval(times: np.ndarray, end: float, width: float = 1.0,
                 weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Counts (or sums of ``weights``) of ``times`` in bins ``[k·width, (k+1)·width)`` up to
    ``end``; returns (bin starts, values)."""
    edges = np.arange(0.0, end + width, width)
    if len(edges) < 2:
        edges = np.array([0.0, width])
    values, _ = np.histogram(times, bins=edges, weights=weights)
    return edges[:-1], values


def step_value(sample_t: np.ndarray, sample_v: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The last sample at or before each time in ``at`` (0 before the first sample)."""
    idx = np.searchsorted(sample_t, at, side="right") - 1
    out = np.where(idx >= 0, sample_v[np.maximum(idx, 0)], 0)
    return out.astype(np.float64)


def log_axes(ax: Axes, x: bool = True, y: bool = True) -> None:
    """Log scales with ticks labelled as plain numbers (``%g``) at each power of ten (and at 2
    and 5 times it over short ranges), no minor ticks: easier to read than ``10^k`` and much
    quicker to draw. Call it after plotting, so the data range is known."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator

    for on, axis, scale in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if on:
            scale("log")
            lo, hi = axis.get_view_interval()
            decades = np.log10(hi / lo) if lo > 0 and hi > lo else 0.0
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades < 2.5 else (1.0,)))
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_locator(NullLocator())


def comparable(results: Sequence[RunResult], free: Sequence[str] = ()) -> list[RunResult]:
    """The results whose parameters equal the first one's, except for the ``free`` keys.

    A sweep over a list parameter (``--param subscribers=1,10,100``) splits it into one point
    per value; the plots pool such points back into one curve. Points that differ in anything
    else are left out (the figure shows the first point's setting).
    """
    if not results:
        return []

    def rest(r: RunResult) -> dict:
        return {k: v for k, v in r.params.items() if k not in free}

    base = rest(results[0])
    return [r for r in results if rest(r) == base]


def metric_or_nan(result: RunResult, model: str, metric: str) -> float:
    """``result.value(model, metric)``, or NaN when that run has no such metric."""
    try:
        return result.value(model, metric)
    except KeyError:
        return float("nan")


def mean_and_spread(results: Sequence[RunResult], model: str, metrics: Sequence[str]
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per metric name: the mean over the runs that have it, and the standard deviation (None
    when no metric has two runs)."""
    values = np.array([[metric_or_nan(r, model, m) for m in metrics] for r in results])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        counts = np.sum(np.isfinite(values), axis=0)
        spread = np.nanstd(values, axis=0, ddof=1) if (counts > 1).any() else None
    if spread is not None:
        spread = np.nan_to_num(spread)
    return mean, spread
