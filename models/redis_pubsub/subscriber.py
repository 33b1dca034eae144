"""Ready-made subscriber applications for experiments, on top of :class:`Client`.

A :class:`Subscriber` is what a redis-py ``PubSub`` loop in a service looks like: it subscribes,
spends a service time on each message, and, when its connection drops (output-buffer limit, a
restart, a network fault), reconnects after ``reconnect_delay`` and subscribes again — redis-py's
``PubSub.on_connect`` re-issues SUBSCRIBE/PSUBSCRIBE for what it had. Nothing published while it
was away is ever recovered; those copies are traced as lost with the reason it went away.
``server`` is where it connects; a Sentinel-aware subscriber (``Sentinel.subscriber``) has it
changed to the new primary after a failover, as redis-py's ``Sentinel.master_for`` would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from models.redis_pubsub.errors import ConnectionError
from sim.network import Link

if TYPE_CHECKING:
    from models.redis_pubsub.client import Client
    from models.redis_pubsub.server import RedisPubSub


class Subscriber:
    """A subscribing application called ``name`` with a per-message ``service`` time.

    ``reconnect_delay=None`` means it stays away once disconnected.
    """

    def __init__(
        self,
        server: RedisPubSub,
        name: str,
        channels: Iterable[str | bytes] = (),
        patterns: Iterable[str | bytes] = (),
        *,
        service: object = None,
        reconnect_delay: float | None = 1.0,
        latency: float | None = None,
        link: Link | None = None,
    ) -> None:
        self.server = server
        self.name = name
        self.channels = tuple(channels)
        self.patterns = tuple(patterns)
        self.reconnect_delay = reconnect_delay
        self.service = service
        self.disconnects: list[tuple[float, str]] = []
        self._offline_until = -1.0
        self.crashed = False
        server._apps[name] = self
        self.client: Client = server.connect(name, service=service, latency=latency,
                                             link=link, keep_frames=False)
        self.client.intend(self.channels, self.patterns)
        self.client.on_disconnect(self._on_disconnect)
        self._subscribe()

    def _subscribe(self) -> None:
        if self.channels:
            self.client.execute("SUBSCRIBE", *self.channels)
        if self.patterns:
            self.client.execute("PSUBSCRIBE", *self.patterns)

    def _on_disconnect(self, _client: Client, t: float, reason: str) -> None:
        self.disconnects.append((t, reason))
        if self.reconnect_delay is not None and not self.crashed:
            at = max(t + self.reconnect_delay, self._offline_until)
            self.server.sim.call_at(at, self._try_reconnect)

    def _try_reconnect(self) -> None:
        sim = self.server.sim
        if self.client.connected or self.crashed or sim.now < self._offline_until:
            return
        try:
            self.server.connect(self.name)
        except ConnectionError:  # server still down: retry after the delay
            sim.call_at(sim.now + (self.reconnect_delay or 1.0), self._try_reconnect)
            return
        self._subscribe()

    def go_offline(self, at: float, duration: float) -> None:
        """Disconnect at ``at`` and come back (and resubscribe) ``duration`` seconds later."""
        sim = self.server.sim

        def leave() -> None:
            self._offline_until = at + duration
            if self.client.connected:
                self.server.kill_client(self.name, "disconnected")
            sim.call_at(at + duration, self._try_reconnect)

        sim.call_at(at, leave)

    def crash(self) -> None:
        """The application dies now: its connection closes (reason ``client-crash``) and it
        does not come back until :meth:`restart`."""
        self.crashed = True
        if self.client.connected:
            self.server.kill_client(self.name, "client-crash")

    def restart(self) -> None:
        """The application starts again: it connects and subscribes to what it meant to."""
        self.crashed = False
        self.reconnect_now()

    def reconnect_now(self) -> None:
        """Connect and resubscribe now (if not connected already)."""
        self._offline_until = -1.0
        self._try_reconnect()

    @property
    def connected(self) -> bool:
        return self.client.connected
