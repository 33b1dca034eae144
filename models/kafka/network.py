"""Link faults between the parties of a Kafka cluster: brokers (``broker-0``…) and clients.

``KafkaNetwork`` holds the faults that ``sim.faults`` actions put on a pair of parties — a cut
(both ways, or one way), extra one-way latency, packet loss — and answers one question for
every hop the model sends: how long does a message from ``src`` to ``dst`` take now, or does it
never arrive (``None``)? With no fault active it answers ``latency`` at the cost of one
attribute test, so the fault-free hot path pays nothing.

Behaviour reproduced (TCP under Kafka's request/response protocol):

- ``cut``: TCP keeps what is sent across a cut and delivers it one latency after the
  ``heal`` — unless the sender gave up first: its request timed out (``request.timeout.ms`` for
  clients, ``replica.socket.timeout.ms`` for follower fetches), it closed the connection, and
  the bytes are gone; it then retries. ``direction="one-way"`` cuts only ``a → b``.
- ``latency``: ``extra`` seconds added to every hop between the two parties, both ways.
- ``loss``: TCP retransmits lost segments, so loss becomes delay, not message loss: a hop is
  retransmitted ``k`` times with probability ``p**k (1 - p)``, each retransmission waiting a
  doubling retransmission timeout from Linux's ``TCP_RTO_MIN`` (200 ms).

Not modelled: bandwidth and congestion (a hop takes the same time whatever its size), the
KRaft controller quorum's own links (the controller reaches
every broker that runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TCP_RTO_MIN = 0.2
"""Linux's minimum TCP retransmission timeout (``TCP_RTO_MIN``), seconds."""


def broker_name(broker: int) -> str:
    """The party name of broker ``broker`` in fault schedules: ``broker-0``, ``broker-1``…"""
    return f"broker-{broker}"


class KafkaNetwork:
    """Per-pair link faults (see the module docstring). ``latency`` is the base one-way delay
    between any two parties, in seconds."""

    def __init__(self, sim: Any, latency: float) -> None:
        self.latency = float(latency)
        self.faulty = False  # True while any fault is in place (the fast path tests this)
        self._cut: set[tuple[str, str]] = set()  # directed (src, dst)
        self._extra: dict[frozenset[str], float] = {}
        self._loss: dict[frozenset[str], float] = {}
        self._held: list[tuple[str, str, float, Callable[[], Any]]] = []
        self._sim = sim
        self._rng = sim.rng("kafka/network")

    def delay(self, src: str, dst: str) -> float | None:
        """Seconds a message sent now from ``src`` takes to reach ``dst``; ``None`` if lost."""
        if not self.faulty:
            return self.latency
        if (src, dst) in self._cut:
            return None
        pair = frozenset((src, dst))
        seconds = self.latency + self._extra.get(pair, 0.0)
        p = self._loss.get(pair, 0.0)
        if p > 0.0:
            k = int(self._rng.geometric(1.0 - p)) - 1  # retransmissions before it got through
            seconds += TCP_RTO_MIN * (2.0 ** k - 1.0)
        return seconds

    def reachable(self, src: str, dst: str) -> bool:
        """Whether ``src → dst`` is not cut."""
        return not self.faulty or (src, dst) not in self._cut

    def cut(self, a: str, b: str, direction: str = "both") -> None:
        self._cut.add((a, b))
        if direction == "both":
            self._cut.add((b, a))
        self._update()

    def hold(self, src: str, dst: str, until: float, deliver: Callable[[], Any]) -> bool:
        """A message sent now across a cut ``src → dst``: ``deliver()`` runs one latency after
        the heal if that comes before ``until`` (when the sender gives up). False if the pair
        is not cut (the message was lost some other way)."""
        if (src, dst) not in self._cut:
            return False
        self._held.append((src, dst, until, deliver))
        return True

    def heal(self, a: str, b: str) -> None:
        self._cut.discard((a, b))
        self._cut.discard((b, a))
        self._update()
        now = self._sim.now
        held, self._held = self._held, []
        for src, dst, until, deliver in held:
            if (src, dst) in self._cut:
                self._held.append((src, dst, until, deliver))
            elif until > now:
                arrive = now + (self.delay(src, dst) or self.latency)
                if arrive < until:
                    self._sim.call_at(arrive, deliver)

    def set_latency(self, a: str, b: str, extra: float) -> None:
        pair = frozenset((a, b))
        if extra > 0:
            self._extra[pair] = float(extra)
        else:
            self._extra.pop(pair, None)
        self._update()

    def set_loss(self, a: str, b: str, p: float) -> None:
        pair = frozenset((a, b))
        if p > 0:
            self._loss[pair] = float(p)
        else:
            self._loss.pop(pair, None)
        self._update()

    def _update(self) -> None:
        self.faulty = bool(self._cut or self._extra or self._loss)
