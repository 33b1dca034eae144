"""Redis Sentinel: a primary crashes, a replica is promoted, and what that does to subscribers.

What it reproduces (Redis 7 ``src/sentinel.c`` at ``4f8cdc2a1ea5``; defaults in
``sentinel.conf``):

- **Detection.** Sentinel pings every instance once a second (``SENTINEL_PING_PERIOD``) and
  holds a primary subjectively down once it has not answered for ``down-after-milliseconds``
  (default 30 000, ``SENTINEL_DEFAULT_DOWN_AFTER``). Reaching the quorum (asking the other
  Sentinels every ``SENTINEL_ASK_PERIOD`` = 1 s), electing a leader, a random start delay
  below ``SENTINEL_MAX_DESYNC`` = 1 s, ``SLAVEOF NO ONE`` and seeing the new role in ``INFO``
  (polled every second during a failover) take about one to three seconds more:
  ``failover_delay`` (default 2 s). So the promotion happens ``down_after + failover_delay``
  after the crash — unless the primary is back by then.
- **Promotion kills the promoted replica's clients.** ``sentinelSendSlaveOf`` sends, in one
  ``MULTI``/``EXEC``: ``SLAVEOF NO ONE`` (or ``SLAVEOF <new primary>`` to the other replicas
  and, once it is back, to the old primary), ``CONFIG REWRITE``, ``CLIENT KILL TYPE normal``
  and ``CLIENT KILL TYPE pubsub`` — "Disconnect all clients … in order to trigger the
  ask-master-on-reconnection protocol". Killing Pub/Sub clients too came with Redis 6.0
  (commit ``9593ffde2``, "Redis sentinel kill pubsub client connections as well", issue
  #6545); up to 5.0 only normal clients were killed. Redis itself keeps Pub/Sub clients on a
  role change (see :mod:`models.redis_pubsub.replication`). Every subscriber of a
  reconfigured server is therefore disconnected (reason ``failover``), loses its unread
  frames and must resubscribe; what it misses meanwhile is traced with ``failover``.
- **Sentinel-aware clients follow the primary** (redis-py's ``Sentinel.master_for``: on
  reconnection the client asks Sentinel where the primary is). Publishers sent through
  :meth:`Sentinel.publish_workload` / :meth:`Sentinel.feed` go to the old primary until the
  promotion — refused while it is down, so nobody gets those (``no-primary`` for the
  replicas' subscribers, ``server-restart`` for the old primary's own) — and to the new
  primary from the promotion on. Subscribers made with :meth:`Sentinel.subscriber` on the
  primary reconnect to the new primary after the failover; those on a replica stay with
  that server (which may now be the primary).

Not modelled: several Sentinels and their votes (one Sentinel stands for the quorum),
``failover-timeout``, replica priorities and offsets (the first replica that is up is
promoted), network partitions between Sentinel and the servers (only crashes are detected).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import simpy

from models.redis_pubsub.client import Client
from models.redis_pubsub.server import RedisPubSub, _encode
from models.redis_pubsub.subscriber import Subscriber
from sim.faults import Fault
from sim.network import Link
from sim.simulation import Simulation
from sim.trace import REASON_CODE
from sim.units import parse_duration
from sim.workload import Workload


class Sentinel:
    """A Redis Sentinel watching ``primary`` and its replicas (``REPLICAOF`` set already).

    ``down_after`` is ``down-after-milliseconds`` in seconds (30 s by default); the replica is
    promoted ``down_after + failover_delay`` after the primary crashes if it is still down.
    Attach fault schedules to the Sentinel (``FaultSchedule.attach(sim, sentinel)``): it owns
    every server and client it watches, and hands each fault to wherever its target is now.
    """

    def __init__(self, sim: Simulation, primary: RedisPubSub, *, down_after: float = 30.0,
                 failover_delay: float = 2.0, name: str = "sentinel") -> None:
        if primary.primary is not None:
            raise ValueError(f"{primary.name!r} is a replica, not a primary")
        self.sim = sim
        self.name = name
        self.down_after = parse_duration(down_after)
        self.failover_delay = parse_duration(failover_delay)
        self.master = primary
        self.servers: list[RedisPubSub] = []
        self.failovers: list[tuple[float, str, str]] = []  # (time, old primary, new primary)
        self._apps: dict[str, Subscriber] = {}
        self._switch_at = math.inf  # when publishers go to ``_next`` instead of ``master``
        self._next: RedisPubSub | None = None
        self._attempt = 0
        self._down_since = -math.inf
        self._watch(primary)

    def _watch(self, server: RedisPubSub) -> None:
        if server not in self.servers:
            self.servers.append(server)
            server._role_listeners.append(self._on_state)
        for replica in server.replicas:
            self._watch(replica)

    # ------------------------------------------------------------------ clients
    def subscriber(self, name: str, channels: Iterable[str | bytes] = (),
                   patterns: Iterable[str | bytes] = (), *, on: RedisPubSub | None = None,
                   service: object = None, reconnect_delay: float = 1.0,
                   latency: float | None = None, link: Link | None = None) -> Subscriber:
        """A Sentinel-aware :class:`Subscriber` on ``on`` (default: the current primary)."""
        server = self.master if on is None else on
        self._watch(server)
        app = Subscriber(server, name, channels, patterns, service=service,
                         reconnect_delay=reconnect_delay, latency=latency, link=link)
        self._apps[name] = app
        return app

    def publish_workload(self, workload: Workload) -> simpy.Process:
        """Drive PUBLISHes from ``workload`` (starting now) at whichever server is the primary
        when each is sent, as a Sentinel-aware publisher would."""
        feed = workload.feed(self.sim)
        names = list(workload.targets)
        trace = self.sim.trace
        sources = np.array([trace.sources.id(p) for p in workload.producer_names],
                           dtype=np.int32)
        origin = self.sim.now

        def take(until: float):
            batch = feed.take(until - origin)
            return (batch.t + origin, batch.target, batch.size, sources[batch.producer],
                    feed.exhausted)

        return self.sim.env.process(self._pump(take, names))

    def feed(self, times: np.ndarray, channels: Sequence[str | bytes], sizes: np.ndarray | int,
             source: str = "publisher") -> simpy.Process:
        """PUBLISHes sent at ``times`` (sorted, not in the past) on ``channels`` (one name per
        message), each to the primary of the moment it is sent."""
        times = np.asarray(times, dtype=np.float64)
        n = len(times)
        index: dict[bytes, int] = {}
        chan = np.fromiter((index.setdefault(_encode(c), len(index)) for c in channels),
                           dtype=np.int64, count=n)
        names = list(index)
        size = np.broadcast_to(np.asarray(sizes, dtype=np.int32), (n,)).copy()
        src = np.full(n, self.sim.trace.sources.id(source), dtype=np.int32)
        state = {"i": 0}

        def take(until: float):
            i = state["i"]
            j = int(np.searchsorted(times, until, side="left"))
            state["i"] = j
            return times[i:j], chan[i:j], size[i:j], src[i:j], j >= n

        return self.sim.env.process(self._pump(take, names))

    def _pump(self, take, names):
        """Hand publishes to the primary of their send time a little ahead, in arrays."""
        env = self.sim.env
        step = self.master.flush_interval
        while True:
            t, chan, size, src, done = take(env.now + 2 * step)
            if len(t):
                later = t >= self._switch_at
                for server, sel in ((self.master, ~later), (self._next, later)):
                    if server is not None and sel.any():
                        server.feed(t[sel], chan[sel], size[sel], source=src[sel],
                                    channel_names=names)
            if done:
                return
            yield env.timeout(step)

    # ------------------------------------------------------------------ failover
    def _on_state(self, server: RedisPubSub, what: str, at: float) -> None:
        if what == "down" and server is self.master:
            self._down_since = at
            self._plan(at + self.down_after + self.failover_delay)
        elif what == "up" and server is self.master:
            self._switch_at, self._next = math.inf, None  # back before the failover
            self._attempt += 1
        elif what == "up":
            if server.primary is None:
                # the old primary is back, empty and a primary: Sentinel makes it a replica
                self._reconfigure(server, self.master)
            master = self.master
            if self.sim.now < master.down_until and self._next is None:
                # the primary is still down and now there is a replica to promote
                self._plan(max(self.sim.now, self._down_since + self.down_after)
                           + self.failover_delay)

    def _plan(self, when: float) -> None:
        """Promote a replica of the (down) primary at ``when``, if one is up."""
        now = self.sim.now
        candidate = next((r for r in self.master.replicas if now >= r.down_until), None)
        if candidate is None:
            return  # nothing to promote: wait for a replica or for the primary to restart
        self._attempt += 1
        self._switch_at, self._next = when, candidate
        self.sim.call_at(when, self._failover, self.master, self._attempt)

    def _failover(self, old: RedisPubSub, attempt: int) -> None:
        now = self.sim.now
        if attempt != self._attempt or old is not self.master or now >= old.down_until:
            return
        new = self._next
        if new is None or now < new.down_until:
            new = next((r for r in old.replicas if now >= r.down_until), None)
        self._switch_at, self._next = math.inf, None
        if new is None:
            return
        others = [r for r in old.replicas if r is not new]
        old._flush(now)  # what reached the old primary before the promotion was refused there
        self._reconfigure(new, None)
        for replica in others:
            self._reconfigure(replica, new)
        self.master = new
        self._watch(new)
        self.failovers.append((now, old.name, new.name))
        self.sim.trace.event(now, "failover", self.name, old=old.name, new=new.name)
        for app in list(self._apps.values()):
            if app.server is old:
                _move(app, new)

    def _reconfigure(self, server: RedisPubSub, primary: RedisPubSub | None) -> None:
        """``MULTI; SLAVEOF …; CONFIG REWRITE; CLIENT KILL TYPE normal; CLIENT KILL TYPE
        pubsub; EXEC`` (``sentinelSendSlaveOf``)."""
        server.replicaof(primary)
        for client in list(server.clients):
            server.kill_client(client.name, "failover")

    # ------------------------------------------------------------------ faults
    def fault_targets(self) -> set[str]:
        """Every watched server and every client of them (:class:`sim.faults.FaultSchedule`)."""
        names: set[str] = set()
        for server in self.servers:
            names |= server.fault_targets()
        return names

    def apply_fault(self, fault: Fault) -> None:
        """Hand ``fault`` to the server that owns its target now (subscribers move)."""
        party = fault.parties[0]
        if isinstance(fault.target, tuple):
            owner = next(s for s in self.servers if s.name in fault.parties)
        else:
            owner = next((s for s in self.servers if s.name == party), None)
            if owner is None:
                app = self._apps.get(party)
                owner = app.server if app is not None else next(
                    s for s in self.servers if party in s.fault_targets())
        owner.apply_fault(fault)


def _move(app: Subscriber, new: RedisPubSub) -> None:
    """A Sentinel-aware subscriber whose primary was replaced: from now on it reconnects to
    ``new``; until it has resubscribed there, what ``new`` runs for it is lost with the reason
    it went away."""
    old, previous = app.server, app.client
    code = old._absent.pop(previous, REASON_CODE["failover"])
    if previous.connected:  # cannot happen after a crash; kept for a live old primary
        old.kill_client(app.name, "failover")
        code = old._absent.pop(previous, code)
    old._apps.pop(app.name, None)
    client = new._clients.get(app.name)
    if client is None:
        client = Client(new, app.name, service=app.service, keep_frames=False,
                        link=previous._pipe.link)
        client.connected = False
        new._clients[app.name] = client
        client.on_disconnect(app._on_disconnect)
    client.intend(app.channels, app.patterns)
    new._absent[client] = code
    new._apps[app.name] = app
    app.server, app.client = new, client
