"""A client connection to the simulated Redis server, and the stream of frames it is sent.

``Client.execute(*args)`` sends one command, as ``redis.Redis.execute_command`` would, and
returns the RESP2 reply decoded like redis-py without response callbacks (ints, bytes, lists,
``None``). Pub/Sub frames (subscribe acks, ``message``, ``pmessage``, ``pong``) are pushed to the
connection and read with :meth:`Client.get_message`, in the dict shape of redis-py's
``PubSub.get_message()``.

The server-to-client stream (:class:`_Pipe`) is where slow subscribers hurt: each frame is
appended when PUBLISH executes, travels one link latency, and is read when the application is
done with the previous one (a FIFO server over the client's service times). Bytes appended but
not yet read, beyond the socket buffers, are the output buffer Redis counts against
``client-output-buffer-limit``.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from models.redis_pubsub.frames import frame_dict
from sim.network import Link
from sim.queueing import fifo_departures

if TYPE_CHECKING:
    from models.redis_pubsub.server import RedisPubSub, _Batch


def _merge_parts(idx_parts, vias, size_parts):
    from models.redis_pubsub.server import _merge_parts as merge

    return merge(idx_parts, vias, size_parts)

_F = np.float64
_I = np.int64
TCP_RTO_MIN = 0.2
"""Linux's minimum TCP retransmission timeout (``TCP_RTO_MIN``, 200 ms): the least a lost
segment delays everything behind it on the connection."""


def _service_sampler(service: object):
    """Turn a service-time spec into ``draw(rng, n) -> seconds``; ``None`` for instant reads."""
    if service is None:
        return None
    if isinstance(service, int | float):
        value = float(service)
        if value < 0:
            raise ValueError("service time must be >= 0")
        return lambda _rng, n: np.full(n, value)
    draw = getattr(service, "draw", None)
    if callable(draw):
        return draw
    if callable(service):
        return service
    raise TypeError(f"service must be seconds, a distribution with draw(rng, n), or a callable; "
                    f"got {service!r}")


@dataclass(slots=True)
class _Plan:
    """What one batch would do to one client's stream, before the batch is committed."""

    pub: np.ndarray  # index of the publish in the batch, ascending
    msg: np.ndarray
    via: np.ndarray
    chan: np.ndarray
    size: np.ndarray  # frame bytes
    append: np.ndarray
    read: np.ndarray
    done: np.ndarray
    service: np.ndarray
    departed: np.ndarray
    arrived: np.ndarray
    close_time: float = math.inf
    close_reason: str = ""
    soft_since: int = -1
    horizon: float = 0.0
    ticks: np.ndarray = field(default_factory=lambda: np.empty(0))
    tick_occupancy: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_I))


@dataclass(slots=True)
class _Pipe:
    """The frames on their way to one client, not yet read by its application."""

    link: Link
    sampler: Any
    streams: Any  # () -> (service stream, link stream), created on first use
    q_msg: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_I))
    q_via: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    q_chan: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    q_size: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_I))
    q_append: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_F))
    q_read: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_F))
    q_done: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_F))
    q_arrive: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_F))
    q_service: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_F))
    spare: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=_F))
    done_at: float = 0.0
    soft_since: int = -1
    checked_until: float = 0.0
    wire_free_at: float = 0.0
    last_arrival: float = -math.inf
    settled_done: float = 0.0
    cuts: list = field(default_factory=list)  # [start, end] windows of a cut link (end=inf)
    extra_latency: float = 0.0
    loss: float = 0.0

    @property
    def latency(self) -> float:
        return self.link.latency

    @property
    def rng(self) -> np.random.Generator:
        return self.streams()[0]

    @property
    def link_rng(self) -> np.random.Generator:
        return self.streams()[1]

    def arrivals(self, append: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """When frames appended at ``append`` reach the client: the wire (``bandwidth``) is a
        FIFO, then ``latency`` plus ``jitter``; TCP never reorders. Returns (departed, arrived)."""
        link = self.link
        if link.bandwidth is None:
            departed = np.maximum(append, self.wire_free_at)
        else:
            departed = fifo_departures(append, size / link.bandwidth, self.wire_free_at)
        arrived = departed + (link.latency + self.extra_latency)
        jitter = link._jitter
        if jitter is not None:
            arrived += jitter.draw(self.link_rng, len(arrived))
        if self.loss > 0:  # a lost segment waits for TCP's retransmission (RTO >= 200 ms)
            arrived += np.where(self.link_rng.random(len(arrived)) < self.loss, TCP_RTO_MIN, 0.0)
        for start, end in self.cuts:  # bytes sent into a cut wait for the heal, then resend
            blocked = (departed >= start) & (departed < end)
            if blocked.any():
                arrived[blocked] = np.maximum(arrived[blocked], end + link.latency)
        if len(arrived):
            arrived[0] = max(arrived[0], self.last_arrival)
            np.maximum.accumulate(arrived, out=arrived)
        return departed, arrived

    def heal(self, t: float) -> None:
        """The cut ends at ``t``: frames held back arrive one latency later, in order, and the
        reader takes them up again (its reads re-planned from where it stopped)."""
        for window in self.cuts:
            if window[1] == math.inf:
                window[1] = t
        if not len(self.q_arrive):
            self.last_arrival = min(self.last_arrival, t)
            return
        arrive = self.q_arrive.copy()
        blocked = ~np.isfinite(arrive)
        arrive[blocked] = t + self.link.latency + self.extra_latency
        np.maximum.accumulate(arrive, out=arrive)
        service = self.q_service
        finish = fifo_departures(arrive, service, self.settled_done)
        self.q_arrive, self.q_read, self.q_done = arrive, finish - service, finish
        self.done_at, self.last_arrival = float(finish[-1]), float(arrive[-1])

    def reset(self) -> None:
        empty_f, empty_i = np.empty(0, dtype=_F), np.empty(0, dtype=_I)
        self.q_msg, self.q_size = empty_i, empty_i
        self.q_via = self.q_chan = np.empty(0, dtype=np.int32)
        self.q_append = self.q_read = self.q_done = self.q_arrive = self.q_service = empty_f
        self.soft_since = -1

    def draw(self, n: int) -> np.ndarray:
        """Service times for the next ``n`` messages, independent of how batches are cut."""
        if self.sampler is None:
            return np.zeros(n)
        spare = self.spare
        if len(spare) >= n:
            self.spare = spare[n:]
            return spare[:n]
        fresh = np.asarray(self.sampler(self.rng, n - len(spare)), dtype=_F)
        self.spare = spare[:0]
        return np.concatenate((spare, fresh)) if len(spare) else fresh

    def occupancy(self, t: float, socket_buffer: int) -> int:
        appended = self.q_size[self.q_append <= t].sum()
        read = self.q_size[self.q_read <= t].sum()
        return int(max(0, appended - read - socket_buffer))

    # -- planning -----------------------------------------------------------------------------
    def plan(self, server: RedisPubSub, client: Client, batch: _Batch, done: np.ndarray,
             parts, horizon: float) -> _Plan:
        if parts:
            pub, via, size = _merge_parts(parts[0], parts[1], parts[2])
            chan = batch.chan[pub]
            append = done[pub]
            departed, arrived = self.arrivals(append, size)
            service = self.draw(len(pub))
            finish = fifo_departures(arrived, service, self.done_at)
            plan = _Plan(pub, batch.msg[pub], via, chan, size, append, finish - service, finish,
                         service, departed, arrived)
        else:
            e = np.empty(0, dtype=_F)
            ei = np.empty(0, dtype=_I)
            plan = _Plan(ei, ei, ei.astype(np.int32), ei.astype(np.int32), ei, e, e, e, e, e, e)
        self.scan(plan, server.config, horizon)
        return plan

    def scan(self, plan: _Plan, config, horizon: float) -> None:
        """Check the output-buffer limits at every append and every cron tick up to ``horizon``.

        ``checkClientOutputBufferLimits``: hard trips at ``used >= hard``; soft starts a timer
        (``server.unixtime``, whole seconds) the first time ``used >= soft`` is seen and trips
        when a later check sees it still over with ``elapsed > soft-seconds``; a check that sees
        it under resets the timer. ``clientsCron`` checks every client about once a second.
        """
        limit = config.client_output_buffer_limit
        k = len(self.q_size)
        if self.soft_since < 0 and int(self.q_size.sum()) + int(plan.size.sum()) <= (
                config.socket_buffer):
            # everything unread fits in the socket buffers: nothing is counted, no check trips
            first, last = math.floor(self.checked_until) + 1, math.floor(horizon) + 1
            plan.ticks = np.arange(first, last, dtype=_F)
            plan.tick_occupancy = np.zeros(len(plan.ticks), dtype=_I)
            plan.horizon, plan.close_time, plan.soft_since = horizon, math.inf, -1
            return
        sizes = np.concatenate((self.q_size, plan.size)) if k else plan.size
        reads = np.concatenate((self.q_read, plan.read)) if k else plan.read
        appends = np.concatenate((self.q_append, plan.append)) if k else plan.append
        cum = np.concatenate(([0], np.cumsum(sizes)))
        sock = config.socket_buffer
        # occupancy right after each new append
        n_read = np.searchsorted(reads, plan.append, side="right")
        occ_app = np.maximum(cum[k + 1 + np.arange(len(plan.size))] - cum[n_read] - sock, 0)
        # cron ticks: whole seconds after the last check, up to the horizon
        ticks = np.arange(math.floor(self.checked_until) + 1, math.floor(horizon) + 1, dtype=_F)
        occ_tick = np.maximum(cum[np.searchsorted(appends, ticks, side="right")]
                              - cum[np.searchsorted(reads, ticks, side="right")] - sock, 0)
        plan.ticks, plan.tick_occupancy, plan.horizon = ticks, occ_tick, horizon
        close, reason = math.inf, ""
        if limit.hard > 0 and len(occ_app):
            over = np.flatnonzero(occ_app >= limit.hard)
            if len(over):
                close, reason = float(plan.append[over[0]]), "output-buffer-limit"
        soft_since = self.soft_since
        if limit.soft > 0 and (len(occ_app) or len(ticks)):
            times = np.concatenate((plan.append, ticks))
            occ = np.concatenate((occ_app, occ_tick))
            order = np.argsort(times, kind="stable")
            times, over = times[order], occ[order] >= limit.soft
            sec = np.floor(times).astype(_I)
            prev_over = np.concatenate(([soft_since >= 0], over[:-1]))
            starts = over & ~prev_over
            start_pos = np.maximum.accumulate(np.where(starts, np.arange(len(over)), -1))
            start_sec = np.where(start_pos >= 0, sec[np.maximum(start_pos, 0)], soft_since)
            trip = np.flatnonzero(over & (sec - start_sec > limit.soft_seconds))
            if len(trip) and times[trip[0]] < close:
                close, reason = float(times[trip[0]]), "output-buffer-limit"
            soft_since = int(start_sec[-1]) if over[-1] else -1
        plan.close_time, plan.close_reason, plan.soft_since = close, reason, soft_since

    # -- committing ---------------------------------------------------------------------------
    def commit(self, server: RedisPubSub, client: Client, plan: _Plan, cut: int,
               settle_to: float, cron_to: float, memory: dict[float, int]) -> None:
        n_keep = int(np.searchsorted(plan.pub, cut, side="left"))
        if n_keep < len(plan.pub) or cron_to < plan.horizon:
            unused = plan.service[n_keep:]
            if len(unused):
                self.spare = np.concatenate((unused, self.spare))
            plan = _Plan(plan.pub[:n_keep], plan.msg[:n_keep], plan.via[:n_keep],
                         plan.chan[:n_keep], plan.size[:n_keep], plan.append[:n_keep],
                         plan.read[:n_keep], plan.done[:n_keep], plan.service[:n_keep],
                         plan.departed[:n_keep], plan.arrived[:n_keep])
            self.scan(plan, server.config, cron_to)
        for t, used in zip(plan.ticks.tolist(), plan.tick_occupancy.tolist(), strict=True):
            if used:
                memory[t] = memory.get(t, 0) + used
        self.checked_until = max(self.checked_until, math.floor(cron_to))
        self.soft_since = plan.soft_since
        if len(plan.pub):
            self.done_at = float(plan.done[-1])
            self.wire_free_at = float(plan.departed[-1])
            self.last_arrival = float(plan.arrived[-1])
            if len(self.q_msg):
                self.q_msg = np.concatenate((self.q_msg, plan.msg))
                self.q_via = np.concatenate((self.q_via, plan.via))
                self.q_chan = np.concatenate((self.q_chan, plan.chan))
                self.q_size = np.concatenate((self.q_size, plan.size))
                self.q_append = np.concatenate((self.q_append, plan.append))
                self.q_read = np.concatenate((self.q_read, plan.read))
                self.q_done = np.concatenate((self.q_done, plan.done))
                self.q_arrive = np.concatenate((self.q_arrive, plan.arrived))
                self.q_service = np.concatenate((self.q_service, plan.service))
            else:
                self.q_msg, self.q_via, self.q_chan = plan.msg, plan.via, plan.chan
                self.q_size, self.q_append = plan.size, plan.append
                self.q_read, self.q_done = plan.read, plan.done
                self.q_arrive, self.q_service = plan.arrived, plan.service
        settled = int(np.searchsorted(self.q_read, settle_to, side="right"))
        if settled == len(self.q_read) and self.soft_since < 0:
            server._active.discard(client)
        else:
            server._active.add(client)
        if settled:
            head = slice(0, settled)
            server._trace.delivered.extend(msg=self.q_msg[head], receiver=client.receiver,
                                           via=self.q_via[head], t=self.q_done[head])
            client._inbox_messages(self, head)
            self.settled_done = float(self.q_done[settled - 1])
            tail = slice(settled, None)
            self.q_msg, self.q_via = self.q_msg[tail], self.q_via[tail]
            self.q_chan = self.q_chan[tail]
            self.q_size, self.q_append = self.q_size[tail], self.q_append[tail]
            self.q_read, self.q_done = self.q_read[tail], self.q_done[tail]
            self.q_arrive, self.q_service = self.q_arrive[tail], self.q_service[tail]


class Client:
    """One connection. Create it with :meth:`RedisPubSub.connect`."""

    def __init__(self, server: RedisPubSub, name: str, *, service: object, keep_frames: bool,
                 link: Link) -> None:
        self.server = server
        self.name = name
        self.receiver = server.sim.trace.receiver(name)
        self.connected = True
        self.epoch = 0
        self.keep_frames = keep_frames
        self._channels: dict[bytes, None] = {}
        self._patterns: dict[bytes, None] = {}
        self._intent_channels: set[bytes] = set()
        self._intent_patterns: dict[bytes, Any] = {}
        sim = server.sim
        self._pipe = _Pipe(link, _service_sampler(service),
                           lambda: (sim.rng(f"redis/{name}/service"),
                                    sim.rng(f"redis/{name}/link")))
        self._inbox: list[tuple[float, int, dict]] = []
        self._seq = 0
        self._disconnect_listeners: list = []
        self.closed_at: float | None = None
        self.close_reason: str | None = None

    def __repr__(self) -> str:
        state = "connected" if self.connected else f"closed ({self.close_reason})"
        return f"<Client {self.name!r} {state}, {self.subscription_count} subscriptions>"

    def __hash__(self) -> int:
        return self.receiver

    # -- public API ---------------------------------------------------------------------------
    def execute(self, *args: object) -> Any:
        """Send one command now (``"SUBSCRIBE"``, ``"PUBLISH"``, ``"PUBSUB"``, ``"PING"``, ...)."""
        return self.server._command(self, args)

    def get_message(self, ignore_subscribe_messages: bool = False) -> dict | None:
        """The next frame that has reached this client by now, or ``None``."""
        self.server.sync()
        now = self.server.sim.now
        while self._inbox and self._inbox[0][0] <= now:
            frame = heapq.heappop(self._inbox)[2]
            if ignore_subscribe_messages and frame["type"] in _ACK_TYPES:
                continue
            return frame
        return None

    def listen(self) -> list[dict]:
        """Every frame that has arrived by now (a non-blocking ``PubSub.listen``)."""
        frames = []
        while (frame := self.get_message()) is not None:
            frames.append(frame)
        return frames

    @property
    def subscription_count(self) -> int:
        """Channels + patterns, the count Redis puts in (un)subscribe acks."""
        return len(self._channels) + len(self._patterns)

    @property
    def channels(self) -> tuple[bytes, ...]:
        return tuple(self._channels)

    @property
    def patterns(self) -> tuple[bytes, ...]:
        return tuple(self._patterns)

    def disconnect(self) -> None:
        """Close the connection now: the server sees it one latency later, after the commands
        that reached it first; frames not yet read are lost, and so are subscriptions."""
        self.server.kill_client(self.name, "disconnected", at=self.server.sim.now + self.latency)

    @property
    def latency(self) -> float:
        return self._pipe.latency

    def reconnect(self) -> Client:
        """Open the connection again (a new server-side client: no subscriptions)."""
        return self.server.connect(self.name)

    def on_disconnect(self, callback) -> None:
        """Call ``callback(client, t, reason)`` whenever this connection is closed."""
        self._disconnect_listeners.append(callback)

    def intend(self, channels=(), patterns=()) -> None:
        """Declare what this subscriber means to be subscribed to, even while it is offline.

        Copies published on those while it is disconnected are traced as lost, with the reason
        it went away (the reconnect-and-resubscribe loop of ``redis-py``'s ``PubSub``).
        """
        from models.redis_pubsub.glob import compile_pattern
        from models.redis_pubsub.server import _encode

        self._intent_channels.update(_encode(c) for c in channels)
        for p in patterns:
            key = _encode(p)
            self._intent_patterns[key] = compile_pattern(key)

    # -- server side ----------------------------------------------------------------------
    def _simple(self) -> bool:
        """Reads every frame on arrival over a plain link: its stream is a pure function of
        what is published to it (see ``RedisPubSub._fast_groups``)."""
        pipe, link = self._pipe, self._pipe.link
        return (pipe.sampler is None and not self.keep_frames and link.bandwidth is None
                and link._jitter is None and not pipe.loss and not pipe.cuts
                and not pipe.extra_latency and not len(pipe.q_read) and pipe.soft_since < 0)

    def _intent_matches(self, channel: bytes) -> int:
        """Copies of a PUBLISH on ``channel`` this subscriber meant to get but is not subscribed
        for (one per intended channel or pattern that matches and is not active now)."""
        copies = 1 if channel in self._intent_channels and channel not in self._channels else 0
        return copies + sum(1 for p, match in self._intent_patterns.items()
                            if p not in self._patterns and match(channel))

    def _push(self, t: float, frame: dict) -> None:
        if self.keep_frames:
            self._seq += 1
            heapq.heappush(self._inbox, (t + self._pipe.latency, self._seq, frame))

    def _ack(self, at: float, kind: str, name: bytes | None, count: int) -> None:
        self._push(at, frame_dict(kind, name, count))

    def _inbox_messages(self, pipe: _Pipe, sel) -> None:
        if not self.keep_frames:
            return
        server = self.server
        subs = server.sim.trace.subscriptions
        for msg, via, chan, t in zip(pipe.q_msg[sel].tolist(), pipe.q_via[sel].tolist(),
                                     pipe.q_chan[sel].tolist(), pipe.q_read[sel].tolist(),
                                     strict=True):
            channel = server._chan_names[chan]
            data = server._payloads.get(msg, b"msg-%d" % msg)
            if via < 0:
                frame = frame_dict("message", channel, data)
            else:
                pattern = subs.name(via).encode("utf-8", "surrogateescape")
                frame = frame_dict("pmessage", channel, data, pattern)
            self._seq += 1
            heapq.heappush(self._inbox, (t, self._seq, frame))

    def _closed(self, at: float, reason: str) -> None:
        self.connected = False
        self.closed_at, self.close_reason = at, reason
        self._channels.clear()
        self._patterns.clear()

    def _reopen(self) -> None:
        self.connected = True
        self.epoch += 1
        self.closed_at = self.close_reason = None
        self._pipe.reset()
        self._pipe.checked_until = math.floor(self.server.sim.now)
        pipe = self._pipe
        pipe.done_at = pipe.wire_free_at = pipe.settled_done = self.server.sim.now
        pipe.last_arrival = -math.inf
        pipe.cuts = [w for w in pipe.cuts if w[1] == math.inf]  # a cut outlives a reconnect

    def _on_disconnect(self, at: float, reason: str) -> None:
        for callback in list(self._disconnect_listeners):
            callback(self, at, reason)


_ACK_TYPES = frozenset({"subscribe", "unsubscribe", "psubscribe", "punsubscribe"})
