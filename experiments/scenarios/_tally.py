"""Counting a run's trace per receiver: what arrived, how often, when it had been published.

Private helpers of the replay, retention, consumer-groups and delivery-guarantees experiments
(the registry skips ``_`` modules). All of them read the columnar trace (``sim.trace``) with
numpy; none keeps state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.trace import REASON_CODE, Trace


class Tally(NamedTuple):
    """What one receiver got: deliveries, distinct messages, repeats."""

    deliveries: int
    unique: int
    duplicates: int


def publish_times(trace: Trace) -> np.ndarray:
    """Send time of each message, indexed by message id (NaN for ids never published)."""
    msg, t = trace.published["msg"], trace.published["t"]
    out = np.full(int(msg.max()) + 1 if len(msg) else 0, np.nan)
    out[msg] = t
    return out


def receiver_ids(trace: Trace, names: list[str]) -> list[int]:
    """Trace ids of the named receivers (KeyError naming the missing one)."""
    known = trace.receivers.ids
    missing = [n for n in names if n not in known]
    if missing:
        raise KeyError(f"no receiver {missing[0]!r} in the trace; known: {sorted(known)}")
    return [known[n] for n in names]


def deliveries_to(trace: Trace, receiver: int) -> tuple[np.ndarray, np.ndarray]:
    """``(msg, t)`` of every delivery to ``receiver``, in trace order."""
    d = trace.delivered
    mine = d["receiver"] == receiver
    return d["msg"][mine], d["t"][mine]


def tally(msg: np.ndarray) -> Tally:
    """Deliveries, distinct messages and repeated deliveries among ``msg``."""
    unique = len(np.unique(msg))
    return Tally(len(msg), unique, len(msg) - unique)


def drops_to(trace: Trace, receiver: int, reason: str | None = None) -> np.ndarray:
    """Message ids dropped for ``receiver`` (for one ``reason`` if given)."""
    d = trace.dropped
    mine = d["receiver"] == receiver
    if reason is not None:
        mine &= d["reason"] == REASON_CODE[reason]
    return d["msg"][mine]


def per_bin(times: np.ndarray, start: float, end: float, width: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``times`` in bins ``[start + k·width, start + (k+1)·width)`` covering
    ``[start, end)``: ``(bin starts, counts)``."""
    if not width > 0 or not end > start:
        raise ValueError(f"need width > 0 and end > start, not {width!r}, [{start!r}, {end!r})")
    n = int(np.ceil((end - start) / width - 1e-9))
    edges = start + width * np.arange(n + 1)
    counts, _ = np.histogram(times, bins=edges)
    return edges[:-1], counts


def longest_gap(times: np.ndarray, start: float, end: float) -> tuple[float, float]:
    """The longest stretch of ``[start, end]`` without any of ``times``: ``(length, began)``."""
    inside = np.sort(times[(times >= start) & (times <= end)])
    points = np.concatenate(([start], inside, [end]))
    gaps = np.diff(points)
    i = int(np.argmax(gaps))
    return float(gaps[i]), float(points[i])
