"""Network links: how long bytes take to get from one end of a connection to the other.

A :class:`Link` models **one direction of one TCP connection** — a producer to a broker, a
broker to a subscriber. Its bytes form a FIFO stream: each message is serialised onto the wire
at ``bandwidth`` bytes per second behind the ones sent before it, then travels ``latency`` plus
a random ``jitter``; a message never arrives before one sent earlier (TCP delivers in order, so
a delayed segment holds back those behind it — head-of-line blocking). Both directions, or
several clients, are several links. Loss, disconnects and partitions are not modelled here:
fault injection cuts links from outside.

``deliver`` moves a whole batch at once (Lindley's recurrence via
:func:`~sim.queueing.fifo_departures`, then one ``np.maximum.accumulate``), so a million
messages cost milliseconds. :meth:`Link.open` gives a :class:`Pipe` that carries the state
(when the wire is free, the last arrival) from one batch to the next.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.distributions import Distribution, Exponential
from sim.queueing import fifo_departures
from sim.units import parse_duration, parse_size

_BITS = re.compile(r"^\s*(.*?)\s*(bit|bits|bps|bit/s)\s*$", re.IGNORECASE)


def parse_bandwidth(value: Any) -> float | None:
    """Bytes per second from a number, ``"1gb"`` / ``"100mb/s"`` (bytes; Redis spelling,
    1gb = 1024³) or ``"10gbit"`` / ``"100mbps"`` (bits, decimal as networks count them:
    10gbit = 1.25e9 bytes/s). ``None`` means infinite bandwidth."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        bits = _BITS.match(text)
        try:
            if bits:
                rate = parse_size(bits.group(1)) / 8
            else:
                rate = float(parse_size(text.removesuffix("/s").removesuffix("/S")))
        except ValueError:
            raise ValueError(
                f"cannot parse bandwidth {value!r}: use bytes per second (1000000, '100mb', "
                "'1gb/s') or bits ('10gbit', '100mbps')"
            ) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        rate = float(value)
    else:
        raise ValueError(f"bandwidth must be a number of bytes per second, not {value!r}")
    if not rate > 0 or math.isnan(rate):
        raise ValueError(f"bandwidth must be positive, not {value!r}")
    return rate


@dataclass(frozen=True)
class Link:
    """One direction of one TCP connection: ``latency`` one way, an extra random ``jitter``,
    and ``bandwidth`` bytes per second (``None``: infinite).

    ``jitter`` is a duration — the mean of an exponential extra delay, the long right tail that
    measured one-way delays show — or any :class:`~sim.distributions.Distribution` of seconds.
    Defaults describe a LAN or one cloud availability zone: 0.5 ms, no jitter, no bandwidth
    limit.
    """

    latency: float = 0.0005
    jitter: float | Distribution = 0.0
    bandwidth: float | None = None

    def __post_init__(self) -> None:
        try:
            latency = parse_duration(self.latency)
        except ValueError as err:
            raise ValueError(f"Link.latency: {err}") from None
        if not math.isfinite(latency):
            raise ValueError(f"Link.latency must be finite, not {self.latency!r}")
        object.__setattr__(self, "latency", latency)
        if not isinstance(self.jitter, Distribution):
            try:
                jitter = parse_duration(self.jitter)
            except ValueError as err:
                raise ValueError(f"Link.jitter: {err}") from None
            object.__setattr__(self, "jitter", jitter)
        object.__setattr__(self, "bandwidth", parse_bandwidth(self.bandwidth))

    @property
    def _jitter(self) -> Distribution | None:
        if isinstance(self.jitter, Distribution):
            return self.jitter
        return Exponential(self.jitter) if self.jitter > 0 else None

    def open(self, rng: np.random.Generator, free_at: float = 0.0) -> Pipe:
        """A :class:`Pipe`: this link in use, carrying its state from batch to batch."""
        return Pipe(self, rng, free_at)

    def deliver(
        self,
        rng: np.random.Generator | None,
        send_times: np.ndarray,
        sizes: np.ndarray | int,
        free_at: float = 0.0,
        *,
        after: float = -math.inf,
    ) -> tuple[np.ndarray, float]:
        """Arrival times of messages written to the connection at ``send_times`` (sorted).

        ``free_at`` is when the wire finishes the bytes already on it, and ``after`` the last
        arrival of an earlier batch (no message overtakes it). Returns ``(arrivals,
        new_free_at)``; a caller delivering batch after batch passes ``arrivals[-1]`` as the
        next ``after`` — or uses :meth:`open`, which does this.
        """
        send = np.asarray(send_times, dtype=np.float64)
        n = len(send)
        if n == 0:
            return np.empty(0), free_at
        if n > 1 and (np.diff(send) < 0).any():
            raise ValueError("send_times must be in the order the messages were written (sorted)")
        if self.bandwidth is None:
            departed = np.maximum(np.maximum.accumulate(send), free_at)
        else:
            services = np.broadcast_to(np.asarray(sizes, dtype=np.float64), send.shape)
            departed = fifo_departures(send, services / self.bandwidth, free_at)
        arrivals = departed + self.latency
        jitter = self._jitter
        if jitter is not None:
            if rng is None:
                raise ValueError("a link with jitter needs a random stream (rng)")
            arrivals += jitter.draw(rng, n)
        arrivals[0] = max(arrivals[0], after)
        np.maximum.accumulate(arrivals, out=arrivals)
        return arrivals, float(departed[-1])

    def delay(self, rng: np.random.Generator | None, size: int = 0) -> float:
        """One message alone on an idle link: transmission + latency + a jitter draw."""
        seconds = self.latency + (size / self.bandwidth if self.bandwidth else 0.0)
        jitter = self._jitter
        if jitter is not None:
            if rng is None:
                raise ValueError("a link with jitter needs a random stream (rng)")
            seconds += float(jitter.draw(rng, 1)[0])
        return seconds


class Pipe:
    """A :class:`Link` in use: ``send(send_times, sizes)`` → arrival times, keeping the FIFO
    order and the busy wire across batches. Runtime state of one run, one per connection."""

    __slots__ = ("free_at", "last_arrival", "last_send", "link", "rng")

    def __init__(self, link: Link, rng: np.random.Generator | None, free_at: float = 0.0) -> None:
        self.link = link
        self.rng = rng
        self.free_at = free_at
        self.last_arrival = -math.inf
        self.last_send = -math.inf

    def send(self, send_times: np.ndarray, sizes: np.ndarray | int) -> np.ndarray:
        """Arrival times of the next messages written, at ``send_times``, to this connection."""
        send_times = np.asarray(send_times, dtype=np.float64)
        if len(send_times) == 0:
            return np.empty(0)
        if send_times[0] < self.last_send:
            raise ValueError(
                f"send at t={send_times[0]!r} is before the previous batch's last send "
                f"(t={self.last_send!r}): a connection's bytes are written in order"
            )
        arrivals, self.free_at = self.link.deliver(
            self.rng, send_times, sizes, self.free_at, after=self.last_arrival
        )
        self.last_arrival = float(arrivals[-1])
        self.last_send = float(send_times[-1])
        return arrivals
