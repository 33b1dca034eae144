"""Vectorised FIFO single-server queue: Lindley's recurrence without an event per customer.

``done[i] = max(arrival[i], done[i-1]) + service[i]`` is rewritten with ``S = cumsum(service)``
as ``done[i] = S[i] + max(free_at - S[-1]..., max_{j<=i}(arrival[j] - S[j-1]))``, one
``np.maximum.accumulate`` pass. This is how a single-threaded server (Redis's main thread) or a
subscriber that handles one message at a time is simulated at millions of messages per second.
"""

from __future__ import annotations

import numpy as np


def fifo_departures(
    arrivals: np.ndarray, services: np.ndarray, free_at: float = 0.0
) -> np.ndarray:
    """Departure times of a FIFO single server, given sorted arrival times and service times.

    ``free_at`` is when the server finishes the work it already has (its previous departure).
    """
    arrivals = np.asarray(arrivals, dtype=np.float64)
    services = np.asarray(services, dtype=np.float64)
    if arrivals.shape != services.shape:
        raise ValueError("arrivals and services must have the same length")
    if arrivals.size == 0:
        return arrivals.copy()
    cum = np.cumsum(services)
    before = cum - services  # S[j-1]
    start_slack = np.maximum.accumulate(arrivals - before)
    return cum + np.maximum(start_slack, free_at)


def fifo_departures_loop(
    arrivals: np.ndarray, services: np.ndarray, free_at: float = 0.0
) -> np.ndarray:
    """The same recurrence as a plain loop: the reference the vectorised form is tested against."""
    out = np.empty(len(arrivals))
    done = free_at
    for i, (a, s) in enumerate(zip(arrivals, services, strict=True)):
        done = max(a, done) + s
        out[i] = done
    return out
