"""The simulated Redis server: one main thread, a subscription table, per-client output streams.

What it reproduces (Redis 7, ``src/pubsub.c`` and ``src/networking.c``; facts and sources in
``shared/reference/redis-pubsub.md``):

- **Nothing is stored.** A PUBLISH goes to the subscriptions that exist when the main thread
  *executes* it, and is gone. A connection that is not subscribed then never gets it.
- **One thread, FIFO.** Every command costs CPU time on one server (``command-cost``); a PUBLISH
  also costs ``pattern-match-cost`` per unique pattern (all are tested) and ``delivery-cost`` per
  copy appended, so its latency and the server's utilisation grow with fan-out, patterns and load.
  Execution times follow Lindley's recurrence (:func:`sim.queueing.fifo_departures`), computed for
  a whole batch of publishes at once.
- **PUBLISH returns the number of copies**, counting a client once per matching subscription: a
  client subscribed to ``foo`` and to ``f*`` gets ``message`` then ``pmessage``.
- **Slow subscribers are cut, not throttled.** Frames wait in the client's output stream; bytes
  beyond the socket buffers count against ``client-output-buffer-limit pubsub 32mb 8mb 60``.
  The hard limit is checked on every append; the soft limit on every append and by ``clientsCron``
  about once a second (Redis's ``server.unixtime`` resolution, ``elapsed > soft-seconds``), and
  dropping below it resets the timer only when a check sees it. A cut client loses everything it
  had not read and all its subscriptions; every lost copy is traced with its reason.
- **A restart loses everything in flight** and every subscription; PUBLISH fails while it is down.
- **Replicas** (``REPLICAOF``, :meth:`RedisPubSub.replicaof`) run every PUBLISH their primary
  executes, one replication-link latency later, for their own subscribers; a PUBLISH sent to a
  replica stays there (:mod:`models.redis_pubsub.replication`; failover in
  :mod:`models.redis_pubsub.sentinel`).

How it stays fast: publishes from workloads are fed in as arrays ahead of time and executed in
batches between control events (a SUBSCRIBE, a disconnect, a limit being hit); a subscriber's
reads are another Lindley recurrence over its own service times. A batch is cut at the first
disconnect any client suffers and the rest re-planned with the new subscription table.

Departures from Redis, on purpose: the order among the subscribers of one PUBLISH is subscription
order (Redis 7.4+ uses hash order and promises none); between a client being flagged
``CLOSE_ASAP`` and freed, Redis still counts it in PUBLISH's reply — here it is gone at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import simpy

from models.redis_pubsub.client import Client, _Pipe
from models.redis_pubsub.config import RedisConfig
from models.redis_pubsub.errors import ConnectionError, ResponseError
from models.redis_pubsub.frames import frame_dict, message_frame_size, pmessage_frame_size
from models.redis_pubsub.glob import compile_pattern, stringmatch
from models.redis_pubsub.replication import cut_stream, lose, propagate
from sim.faults import Fault
from sim.network import Link
from sim.queueing import fifo_departures
from sim.simulation import Simulation
from sim.trace import REASON_CODE
from sim.workload import Workload

if TYPE_CHECKING:
    from models.redis_pubsub.subscriber import Subscriber

_EMPTY_F = np.empty(0, dtype=np.float64)
_EMPTY_I = np.empty(0, dtype=np.int64)

_ALLOWED_WHEN_SUBSCRIBED = frozenset(
    {"ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe",
     "punsubscribe", "quit", "reset"}
)
_ARITY = {  # Redis command arity: n >= 0 exact, n < 0 at least -n (including the name)
    "subscribe": -2, "psubscribe": -2, "unsubscribe": -1, "punsubscribe": -1, "publish": 3,
    "pubsub": -2, "ping": -1, "echo": 2, "quit": -1, "reset": 1,
}
_PUBSUB_ARITY = {  # PUBSUB subcommands (counting "PUBSUB <sub>") as in Redis 7's command table
    b"channels": -2, b"numsub": -2, b"numpat": 2, b"help": 2, b"shardchannels": -2,
    b"shardnumsub": -2,
}
# Real Redis commands this model does not simulate: known, so that a subscribed RESP2
# connection gets Redis's "Can't execute" error for them rather than "unknown command".
_OTHER_REDIS_COMMANDS = frozenset(
    "append auth bgsave bitcount blmove blpop brpop client command config copy dbsize decr "
    "decrby del discard dump eval evalsha exec exists expire expireat flushall flushdb get "
    "getbit getdel getex getset hdel hello hexists hget hgetall hincrby hkeys hlen hmget hmset "
    "hset hvals incr incrby incrbyfloat info keys lastsave lindex linsert llen lmove lpop lpush "
    "lrange lset ltrim memory mget monitor move mset multi object persist pexpire pfadd pfcount "
    "psetex pttl randomkey rename replicaof restore role rpop rpush sadd save scan scard script "
    "sdiff select set setbit setex setnx shutdown sinter sismember slaveof slowlog smembers sort "
    "spop spublish srandmember srem ssubscribe strlen sunion sunsubscribe time touch ttl type "
    "unlink unwatch wait watch xack xadd xlen xread xreadgroup zadd zcard zcount zincrby zrange "
    "zrangebyscore zrank zrem zrevrange zrevrank zscore".split()
)


def _encode(arg: object) -> bytes:
    """Encode a command argument as redis-py does (str as UTF-8, numbers as their text)."""
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, bytearray | memoryview):
        return bytes(arg)
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, bool):
        raise TypeError(
            "Invalid input of type: 'bool'. Convert to a bytes, string, int or float first."
        )
    if isinstance(arg, int | float):
        return repr(arg).encode()
    raise TypeError(f"Invalid input of type: {type(arg).__name__!r}")


class _Batch:
    """Publishes waiting to execute, as parallel arrays sorted by arrival time at the server.

    ``rep`` marks the PUBLISHes that came down the replication stream from this server's
    primary (already published, and executed there first) rather than from a client.
    """

    __slots__ = ("chan", "msg", "rep", "sent", "size", "src", "t")

    def __init__(self, t, chan, size, msg, src, sent, rep=None) -> None:
        self.t, self.chan, self.size, self.msg, self.src, self.sent = t, chan, size, msg, src, sent
        self.rep = np.zeros(len(t), dtype=bool) if rep is None else rep

    @classmethod
    def empty(cls) -> _Batch:
        i4 = np.empty(0, dtype=np.int32)
        return cls(_EMPTY_F, i4, i4, _EMPTY_I, i4, _EMPTY_F)

    def __len__(self) -> int:
        return len(self.t)

    def take(self, sel) -> _Batch:
        return _Batch(self.t[sel], self.chan[sel], self.size[sel], self.msg[sel], self.src[sel],
                      self.sent[sel], self.rep[sel])

    def merged(self, other: _Batch) -> _Batch:
        if not len(self):
            return other
        cat = [np.concatenate(pair) for pair in zip(self._cols(), other._cols(), strict=True)]
        order = np.argsort(cat[0], kind="stable")
        return _Batch(*(c[order] for c in cat))

    def _cols(self):
        return self.t, self.chan, self.size, self.msg, self.src, self.sent, self.rep


class RedisPubSub:
    """A Redis 7 server as far as Pub/Sub goes. ``RedisPubSub(sim).connect("a")`` gives a client.

    ``config`` is a :class:`RedisConfig` or a mapping of ``redis.conf`` names, e.g.
    ``{"client-output-buffer-limit": "pubsub 32mb 8mb 60"}``.
    """

    def __init__(
        self,
        sim: Simulation,
        config: RedisConfig | Mapping[str, object] | None = None,
        name: str = "redis",
    ) -> None:
        self.sim = sim
        self.name = name
        self.config = (
            config if isinstance(config, RedisConfig) else RedisConfig.from_mapping(config)
        )
        trace = sim.trace
        self._trace = trace
        self._channels: dict[bytes, dict[Client, None]] = {}
        self._patterns: dict[bytes, dict[Client, None]] = {}
        self._matchers: dict[bytes, Callable[[bytes], bool]] = {}
        self._clients: dict[str, Client] = {}
        self._apps: dict[str, Subscriber] = {}  # subscriber applications, for client faults
        self._active: set[Client] = set()  # connected clients with frames or a soft-limit timer
        self._tails: list[_Tail] = []  # frames on the wire to groups of identical subscribers
        self._grouped: set[Client] = set()
        self._lost_tail: list = []
        self._chan_names: list[bytes | None] = []
        self._chan_len = np.zeros(0, dtype=np.int64)
        self._payloads: dict[int, bytes] = {}  # payloads of interactive PUBLISHes, by message id
        self._pending = _Batch.empty()
        self._absent: dict[Client, int] = {}  # offline subscribers with intents -> reason code
        self._cpu_free = 0.0
        self.busy_time = 0.0
        self.down_until = -math.inf
        self.disconnections: dict[str, int] = {}
        self._mem_until = 0.0
        self._ticker: simpy.Process | None = None
        self.flush_interval = 0.5
        self.server_id = trace.servers.id(name)
        self.primary: RedisPubSub | None = None  # REPLICAOF: the server this one replicates
        self.replicas: list[RedisPubSub] = []
        self.repl_latency = self.config.latency
        self._role_listeners: list[Callable[[RedisPubSub, str, float], None]] = []
        self._exec_table = trace.table(
            "redis_publish", {"msg": "i8", "t": "f8", "receivers": "i4", "server": "i4"}
        )
        self._memory_table = trace.table(
            "redis_memory", {"t": "f8", "output_buffers": "i8", "clients": "i4"}
        )
        sim.on_sync(self.sync)

    # ----------------------------------------------------------------- clients
    def connect(
        self,
        name: str,
        *,
        service: object = None,
        latency: float | None = None,
        link: Link | None = None,
        keep_frames: bool = True,
    ) -> Client:
        """Open a connection called ``name`` (its receiver name in the trace).

        ``service`` is the time the client's application spends on each message (seconds: a
        number, a distribution with ``draw(rng, n)``, or a callable ``(rng, n) -> array``);
        ``None`` means the client library reads frames as they arrive and queues them for
        :meth:`Client.get_message`. ``keep_frames=False`` skips that queue (bulk subscribers).
        ``link`` (a :class:`sim.network.Link`: latency, jitter, bandwidth) is the network from
        the server to this client; ``latency`` alone is a shortcut, and the default is the
        server's ``latency`` setting. Commands from the client take ``link.latency`` to arrive.
        """
        if name in self._clients and self._clients[name].connected:
            raise ValueError(f"a connection named {name!r} is already open")
        self._flush(self.sim.now)
        if self.sim.now < self.down_until:
            raise ConnectionError(f"Error connecting to {self.name}: connection refused")
        client = self._clients.get(name)
        if client is None:
            if link is None:
                link = Link(latency=self.config.latency if latency is None else latency)
            client = Client(self, name, service=service, keep_frames=keep_frames, link=link)
            self._clients[name] = client
        else:
            client._reopen()
        self._trace.event(self.sim.now, "connect", name, epoch=client.epoch, server=self.name)
        return client

    @property
    def clients(self) -> tuple[Client, ...]:
        return tuple(c for c in self._clients.values() if c.connected)

    def client(self, name: str) -> Client:
        return self._clients[name]

    # ----------------------------------------------------------------- feeding publishes
    def feed(
        self,
        times: np.ndarray,
        channels: Sequence[str | bytes] | np.ndarray,
        sizes: np.ndarray | int,
        source: str | np.ndarray = "publisher",
        channel_names: Sequence[str | bytes] | None = None,
    ) -> np.ndarray:
        """Queue PUBLISHes sent at ``times`` (sorted, not in the past); returns their message ids.

        ``channels`` is one name per message, or integer indices into ``channel_names``. The
        commands reach the server one link latency later and execute in arrival order with
        everything else. This is how workloads drive the server without an event per message.
        """
        times = np.asarray(times, dtype=np.float64)
        n = len(times)
        if n and times[0] < self.sim.now:
            raise ValueError("cannot feed publishes in the past")
        if channel_names is not None:
            ids = np.array([self._chan_id(_encode(c)) for c in channel_names], dtype=np.int32)
            chan = ids[np.asarray(channels, dtype=np.int64)] if n else ids[:0]
        else:
            uniq: dict[object, int] = {}
            chan = np.fromiter(
                (uniq.setdefault(c, self._chan_id(_encode(c))) for c in channels),
                dtype=np.int32, count=n,
            )
        size = np.broadcast_to(np.asarray(sizes, dtype=np.int32), (n,)).copy()
        msg = self._trace.new_message_ids(n)
        if isinstance(source, str):
            src = np.full(n, self._trace.sources.id(source), dtype=np.int32)
        else:
            src = np.asarray(source, dtype=np.int32)
        arrive = times + self.config.latency
        self._pending = self._pending.merged(_Batch(arrive, chan, size, msg, src, times))
        self._wake()
        return msg

    def publish_workload(self, workload: Workload) -> simpy.Process:
        """Drive PUBLISHes from a :class:`sim.workload.Workload` (targets are channel names),
        starting now (the workload's time 0).

        Messages are handed to the server a little ahead of their send time, in arrays, so a
        million publishes cost a few hundred simulation events; each producer is a source in
        the trace. Keys, if the workload has them, mean nothing to Redis and are ignored.
        """
        feed = workload.feed(self.sim)
        names = list(workload.targets)
        sources = np.array([self._trace.sources.id(p) for p in workload.producer_names],
                           dtype=np.int32)
        step = self.flush_interval
        origin = self.sim.now  # the workload's time 0 is when it is started

        def push(until: float) -> None:
            batch = feed.take(until - origin)
            if len(batch):
                self.feed(batch.t + origin, batch.target, batch.size,
                          source=sources[batch.producer], channel_names=names)

        def run():
            env = self.sim.env
            push(env.now + 2 * step)
            while not feed.exhausted:
                yield env.timeout(step)
                push(env.now + 2 * step)

        return self.sim.env.process(run())

    def _chan_id(self, channel: bytes) -> int:
        ident = self._trace.channels.id(channel.decode("utf-8", "surrogateescape"))
        names = self._chan_names
        if len(names) <= ident:
            names.extend([None] * (ident + 1 - len(names)))
        if len(self._chan_len) <= ident:  # amortised growth
            grown = np.zeros(max(2 * len(self._chan_len), ident + 1), dtype=np.int64)
            grown[: len(self._chan_len)] = self._chan_len
            self._chan_len = grown
        names[ident] = channel
        self._chan_len[ident] = len(channel)
        return ident

    def _pattern_id(self, pattern: bytes) -> int:
        return self._trace.subscriptions.id(pattern.decode("utf-8", "surrogateescape"))

    # ----------------------------------------------------------------- time keeping
    def sync(self) -> None:
        """Execute everything that has arrived and settle deliveries up to ``now``."""
        self._flush(self.sim.now)

    def _wake(self) -> None:
        if self._ticker is None or not self._ticker.is_alive:
            self._ticker = self.sim.env.process(self._tick())

    def _busy(self) -> bool:
        return bool(len(self._pending) or self._active or self._tails)

    def _tick(self):
        """Settle batches now and then. How often changes no result, only how much work is
        done per batch: with many connections, batches grow so per-connection overhead stays
        small (the ordering of everything is decided by simulated times, not by flushes)."""
        env = self.sim.env
        while self._busy():
            yield env.timeout(max(self.flush_interval, 5e-4 * len(self._clients)))
            self._flush(env.now)

    # ----------------------------------------------------------------- the batch engine
    def _flush(self, until: float) -> None:
        """Execute pending publishes that arrived by ``until``; settle reads up to ``now``."""
        if self.primary is not None:  # what the primary ran by then is on its way here
            self.primary._flush(until - self.repl_latency)
        while True:
            pending = self._pending
            k = int(np.searchsorted(pending.t, until, side="right"))
            batch = pending.take(slice(0, k))
            self._pending = pending.take(slice(k, None))
            leftover = self._execute(batch, until)
            if leftover is None:
                return
            self._pending = leftover.merged(self._pending)

    def _execute(self, batch: _Batch, until: float) -> _Batch | None:
        """Run one batch; return the part after a disconnect that must be re-planned, or None."""
        now = self.sim.now
        horizon = min(until, now)
        down = batch.t < self.down_until
        if down.any():
            self._fail_publishes(batch.take(down))
            batch = batch.take(~down)
        n = len(batch)
        if not n and not self._active and not self._tails:
            self._record_memory(horizon, {})
            return None
        receivers, groups = self._plan(batch)
        if n:
            n_pat = len(self._patterns)
            cfg = self.config
            fanout = np.array([len(r) for r in receivers], dtype=np.float64)
            costs = (cfg.command_cost + n_pat * cfg.pattern_match_cost
                     + fanout[groups.inverse] * cfg.delivery_cost)
            done = fifo_departures(batch.t, costs, self._cpu_free)
        else:
            costs, done = _EMPTY_F, _EMPTY_F
        # What each connected client gets from this batch, in execution order; frame sizes
        # are computed once per (channel, subscription), not once per subscriber.
        incoming: dict[Client, tuple[list, list, list]] = {}
        frames: dict[tuple[int, int], np.ndarray] = {}
        for u, recv in enumerate(receivers):
            idx = groups.indices(u)
            for client, via in recv:
                sizes = frames.get((u, via))
                if sizes is None:
                    sizes = frames[(u, via)] = self._frame_sizes(batch, idx, via)
                parts = incoming.get(client)
                if parts is None:
                    parts = incoming[client] = ([], [], [], [])
                parts[0].append(idx)
                parts[1].append(via)
                parts[2].append(sizes)
                parts[3].append((u, via))
        self._settle_tails(horizon)
        groups_fast = self._fast_groups(incoming, done)
        plans = {}
        cut_time = math.inf
        closing: tuple[Client, str] | None = None
        involved = [c for c in incoming if c not in self._grouped]
        involved += [c for c in self._active if c not in incoming and c.connected]
        for client in involved:
            parts = incoming.get(client)
            plan = client._pipe.plan(self, client, batch, done, parts, horizon)
            plans[client] = plan
            if plan.close_time < cut_time:
                cut_time, closing = plan.close_time, (client, plan.close_reason)
        if closing is None:
            cut = n
            settle_to, cron_to = horizon, horizon
        else:
            cut = int(np.searchsorted(done, cut_time, side="right"))
            settle_to, cron_to = min(horizon, cut_time), cut_time
        # Commit publishes [0, cut).
        if cut:
            self._record_publishes(batch, done, costs, receivers, groups, cut)
            self._cpu_free = float(done[cut - 1])
        if self._absent and cut:
            self._record_absent(batch, done, cut)
        memory: dict[float, int] = {}
        for group in groups_fast:
            self._commit_group(group, batch, cut, settle_to, cron_to)
        self._grouped.clear()
        for client, plan in plans.items():
            client._pipe.commit(self, client, plan, cut, settle_to, cron_to, memory)
        self._record_memory(cron_to if closing else horizon, memory)
        if closing is not None:
            client, reason = closing
            self._disconnect(client, cut_time, reason)
            return batch.take(slice(cut, None))
        return None

    # ------------------------------------------------------------------ identical subscribers
    # Subscribers that read every frame the moment it arrives, over a plain link, and that get
    # exactly the same frames, have identical streams: one computation serves them all (the
    # fan-out experiments have thousands). Their last frames, still on the wire at the horizon,
    # wait in a shared tail; a disconnect takes the client out of it, losing what had not
    # arrived.
    def _fast_groups(self, incoming: dict, done: np.ndarray) -> list[_Group]:
        by_key: dict[tuple, list[Client]] = {}
        for client, parts in incoming.items():
            if client._simple() and client not in self._active:
                by_key.setdefault((tuple(parts[3]), client._pipe.latency), []).append(client)
        found = []
        sock = self.config.socket_buffer
        for (_, latency), members in by_key.items():
            idx_parts, vias, size_parts, _keys = incoming[members[0]]
            pub, via, size = _merge_parts(idx_parts, vias, size_parts)
            append = done[pub]
            cum = np.concatenate(([0], np.cumsum(size)))
            oldest = np.searchsorted(append, append - latency, side="right")
            in_flight = cum[1:] - cum[oldest]
            tail_bytes = sum(t.nbytes for t in self._tails if members[0] in t.members)
            if len(in_flight) and int(in_flight.max()) + tail_bytes > sock:
                continue  # frames pile up beyond the socket buffers: per-client accounting
            found.append(_Group(members, pub, via, size, append, append + latency))
            self._grouped.update(members)
        return found

    def _commit_group(self, group: _Group, batch: _Batch, cut: int, settle_to: float,
                      cron_to: float) -> None:
        keep = int(np.searchsorted(group.pub, cut, side="left"))
        pub, read = group.pub[:keep], group.read[:keep]
        checked = float(math.floor(cron_to))
        for client in group.members:
            pipe = client._pipe
            pipe.checked_until = max(pipe.checked_until, checked)
            if keep:
                pipe.done_at = pipe.last_arrival = float(read[-1])
                pipe.wire_free_at = float(group.append[keep - 1])
        if not keep:
            return
        msg, via, chan = batch.msg[pub], group.via[:keep], batch.chan[pub]
        settled = int(np.searchsorted(read, settle_to, side="right"))
        self._deliver_group(group.members, msg[:settled], via[:settled], read[:settled])
        if settled < keep:
            self._tails.append(_Tail(dict.fromkeys(group.members), msg[settled:], via[settled:],
                                     chan[settled:], read[settled:], group.size[settled:keep]))

    def _deliver_group(self, members, msg, via, read) -> None:
        if not len(msg) or not members:
            return
        ids = np.array([c.receiver for c in members], dtype=np.int32)
        k = len(ids)
        self._trace.delivered.extend(msg=np.tile(msg, k), receiver=np.repeat(ids, len(msg)),
                                     via=np.tile(via, k), t=np.tile(read, k))
        for client in members:
            client._pipe.settled_done = float(read[-1])

    def _settle_tails(self, horizon: float) -> None:
        kept = []
        for tail in self._tails:
            n = int(np.searchsorted(tail.read, horizon, side="right"))
            self._deliver_group(list(tail.members), tail.msg[:n], tail.via[:n], tail.read[:n])
            if n < len(tail.read) and tail.members:
                kept.append(tail.advance(n))
        self._tails = kept

    def _leave_tails(self, client: Client, at: float) -> None:
        """``client`` is closed at ``at``: frames of shared tails that reached it by then are
        delivered, the rest lost with it."""
        for tail in self._tails:
            if client not in tail.members:
                continue
            del tail.members[client]
            n = int(np.searchsorted(tail.read, at, side="right"))
            self._deliver_group([client], tail.msg[:n], tail.via[:n], tail.read[:n])
            if n < len(tail.read):
                self._lost_tail.append((client, tail.msg[n:]))
        self._tails = [t for t in self._tails if t.members]

    def _frame_sizes(self, batch: _Batch, idx: np.ndarray, via: int) -> np.ndarray:
        """RESP2 bytes of the frames for publishes ``idx`` (one channel) sent as ``via``."""
        chan_len = self._chan_len[batch.chan[idx]]
        payload = batch.size[idx]
        if via < 0:
            return message_frame_size(chan_len, payload)
        pattern_len = len(self._trace.subscriptions.name(via).encode("utf-8", "surrogateescape"))
        return pmessage_frame_size(pattern_len, chan_len, payload)

    def _plan(self, batch: _Batch):
        """Receivers (client, via) of each distinct channel in the batch, and the grouping."""
        groups = _Groups(batch.chan)
        receivers = [self._receivers_of(self._chan_names[c]) for c in groups.unique]
        return receivers, groups

    def _receivers_of(self, channel: bytes) -> list[tuple[Client, int]]:
        found = [(c, -1) for c in self._channels.get(channel, ())]
        for pattern, subs in self._patterns.items():
            if self._matchers[pattern](channel):
                via = self._pattern_id(pattern)
                found.extend((c, via) for c in subs)
        return found

    def _record_publishes(self, batch, done, costs, receivers, groups, cut) -> None:
        trace = self._trace
        recv_count = np.array([len(r) for r in receivers], dtype=np.int32)[groups.inverse[:cut]]
        own = ~batch.rep[:cut]  # propagated ones were published (and recorded) on the primary
        trace.published.extend(
            msg=batch.msg[:cut][own], t=batch.sent[:cut][own], source=batch.src[:cut][own],
            channel=batch.chan[:cut][own], size=batch.size[:cut][own], partition=-1, offset=-1,
        )
        self._exec_table.extend(msg=batch.msg[:cut], t=done[:cut], receivers=recv_count,
                                server=self.server_id)
        self.busy_time += float(costs[:cut].sum())
        if self.replicas:
            propagate(self, batch.take(slice(0, cut)), done[:cut])

    def _record_absent(self, batch: _Batch, done: np.ndarray, cut: int) -> None:
        """Copies that offline subscribers would have got: lost, with why they were offline."""
        chan_names = self._chan_names
        groups = _Groups(batch.chan[:cut])
        for client, reason in self._absent.items():
            for u, c in enumerate(groups.unique):
                copies = client._intent_matches(chan_names[c])
                if not copies:
                    continue
                idx = groups.indices(u)
                for _ in range(copies):
                    self._trace.dropped.extend(
                        msg=batch.msg[idx], receiver=client.receiver, t=done[idx], reason=reason
                    )

    def _fail_publishes(self, batch: _Batch) -> None:
        """PUBLISHes sent while the server was down: the connection was refused (the ones
        coming down the replication stream to a dead replica are simply never executed).
        Subscribers of this primary's replicas lose them too (``no-primary``)."""
        own = ~batch.rep
        self._trace.published.extend(
            msg=batch.msg[own], t=batch.sent[own], source=batch.src[own],
            channel=batch.chan[own], size=batch.size[own], partition=-1, offset=-1,
        )
        self._exec_table.extend(msg=batch.msg, t=batch.t, receivers=-1, server=self.server_id)
        if self.replicas and own.any():
            for replica in self.replicas:
                lose(replica, batch.take(own), batch.t[own], REASON_CODE["no-primary"])
        if self._absent:
            reason = REASON_CODE["server-restart"]
            for client in self._absent:
                for i in range(len(batch)):
                    copies = client._intent_matches(self._chan_names[batch.chan[i]])
                    for _ in range(copies):
                        self._trace.dropped.append(msg=int(batch.msg[i]), receiver=client.receiver,
                                                   t=float(batch.t[i]), reason=reason)

    def _record_memory(self, horizon: float, memory: dict[float, int]) -> None:
        first, last = math.floor(self._mem_until) + 1, math.floor(horizon) + 1
        ticks = np.arange(first, last, dtype=np.float64)
        if len(ticks):
            used = np.array([memory.get(float(t), 0) for t in ticks], dtype=np.int64)
            self._memory_table.extend(t=ticks, output_buffers=used,
                                      clients=len(self.clients))
            self._mem_until = float(ticks[-1])

    # ----------------------------------------------------------------- commands
    def _command(self, client: Client, args: tuple[object, ...]):
        if not client.connected:
            raise ConnectionError("Connection closed by server.")
        if not args:
            raise ResponseError("empty command")
        argv = [_encode(a) for a in args]
        name = argv[0].decode("utf-8", "surrogateescape").lower()
        now = self.sim.now
        arrive = now + client._pipe.latency
        self._flush(arrive)
        if arrive < self.down_until:
            raise ConnectionError("Connection closed by server.")
        if name == "publish" and len(argv) == 3 and not client.subscription_count:
            return self._publish_one(client, argv[1], argv[2], arrive)
        at = max(arrive, self._cpu_free) + self.config.command_cost
        self._cpu_free = at
        self.busy_time += self.config.command_cost
        arity = _ARITY.get(name)
        if arity is None and name not in _OTHER_REDIS_COMMANDS:
            args_preview = " ".join(f"'{a.decode('utf-8', 'replace')}'" for a in argv[1:4])
            raise ResponseError(
                f"unknown command '{argv[0].decode('utf-8', 'replace')}', "
                f"with args beginning with: {args_preview}" + (" " if args_preview else "")
            )
        fullname = name
        if name == "pubsub" and len(argv) >= 2:
            sub = argv[1].lower()
            if sub not in _PUBSUB_ARITY:
                raise ResponseError(
                    f"unknown subcommand '{argv[1].decode('utf-8', 'replace')}'. "
                    "Try PUBSUB HELP."
                )
            fullname, arity = f"pubsub|{sub.decode()}", _PUBSUB_ARITY[sub]
        if arity is not None and (
            (arity >= 0 and len(argv) != arity) or (arity < 0 and len(argv) < -arity)
        ):
            raise ResponseError(f"wrong number of arguments for '{fullname}' command")
        if client.subscription_count and name not in _ALLOWED_WHEN_SUBSCRIBED:
            raise ResponseError(
                f"Can't execute '{fullname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                "QUIT / RESET are allowed in this context"
            )
        if arity is None:
            raise ResponseError(
                f"brokersim does not simulate '{name}': only the Pub/Sub commands (SUBSCRIBE, "
                "UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB, PING, ECHO, QUIT, RESET)"
            )
        handler = getattr(self, f"_cmd_{name}")
        return handler(client, argv[1:], at)

    def _cmd_subscribe(self, client: Client, names: list[bytes], at: float) -> None:
        for channel in names:
            if channel not in client._channels:
                client._channels[channel] = None
                self._channels.setdefault(channel, {})[client] = None
                self._trace.event(at, "subscribe", client.name, channel=channel)
            client._ack(at, "subscribe", channel, client.subscription_count)
        self._maybe_present(client)

    def _cmd_psubscribe(self, client: Client, patterns: list[bytes], at: float) -> None:
        for pattern in patterns:
            if pattern not in client._patterns:
                client._patterns[pattern] = None
                if pattern not in self._patterns:
                    self._patterns[pattern] = {}
                    self._matchers[pattern] = compile_pattern(pattern)
                self._patterns[pattern][client] = None
                self._trace.event(at, "psubscribe", client.name, pattern=pattern)
            client._ack(at, "psubscribe", pattern, client.subscription_count)
        self._maybe_present(client)

    def _cmd_unsubscribe(self, client: Client, names: list[bytes], at: float) -> None:
        self._unsubscribe(client, names, at, client._channels, self._channels, "unsubscribe")

    def _cmd_punsubscribe(self, client: Client, patterns: list[bytes], at: float) -> None:
        self._unsubscribe(client, patterns, at, client._patterns, self._patterns, "punsubscribe")

    def _unsubscribe(self, client: Client, names: list[bytes], at: float,
                     mine: dict[bytes, None], table: dict[bytes, dict[Client, None]],
                     kind: str) -> None:
        """(P)UNSUBSCRIBE: one ack per name with the running count; with no names, one per
        subscription held, or a single ``<kind> nil <count>`` when none is held."""
        if not names:
            if not mine:
                client._ack(at, kind, None, client.subscription_count)
            names = list(mine)
        detail = "channel" if kind == "unsubscribe" else "pattern"
        for name in names:
            if name in mine:
                del mine[name]
                self._unlink(table, name, client)
                self._trace.event(at, kind, client.name, **{detail: name})
            client._ack(at, kind, name, client.subscription_count)

    def _unlink(self, table: dict[bytes, dict[Client, None]], key: bytes, client: Client) -> None:
        subs = table[key]
        del subs[client]
        if not subs:  # Redis removes a channel's entry when its last subscriber leaves
            del table[key]
            if table is self._patterns:
                del self._matchers[key]

    def _publish_one(self, client: Client, channel: bytes, payload: bytes, arrive: float) -> int:
        """PUBLISH from a client: a batch of one through the same engine (cost, fan-out, limits)."""
        msg = self._trace.new_message_id()
        self._payloads[msg] = payload
        one = _Batch(np.array([arrive]), np.array([self._chan_id(channel)], dtype=np.int32),
                     np.array([len(payload)], dtype=np.int32), np.array([msg], dtype=np.int64),
                     np.array([self._trace.sources.id(client.name)], dtype=np.int32),
                     np.array([self.sim.now]))
        self._pending = one.merged(self._pending)
        self._flush(arrive)
        rows = self._exec_table
        msgs, servers = rows["msg"], rows["server"]
        for i in range(len(rows) - 1, -1, -1):  # its row is among the last ones
            if msgs[i] == msg and servers[i] == self.server_id:
                return int(rows["receivers"][i])
        raise AssertionError("PUBLISH did not execute")  # pragma: no cover

    def _cmd_pubsub(self, client: Client, argv: list[bytes], at: float):
        sub = argv[0].lower()
        rest = argv[1:]
        if sub == b"channels" and len(rest) <= 1:
            pattern = rest[0] if rest else None
            return [c for c in self._channels if pattern is None or stringmatch(pattern, c)]
        if sub == b"numsub":
            out: list[object] = []
            for channel in rest:
                out += [channel, len(self._channels.get(channel, ()))]
            return out
        if sub == b"numpat":
            return len(self._patterns)
        if sub == b"shardchannels" and len(rest) <= 1:
            return []  # sharded Pub/Sub (SSUBSCRIBE) is not modelled: no shard channels
        if sub == b"shardnumsub":
            return [x for channel in rest for x in (channel, 0)]
        if sub == b"help":
            return [b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    b"CHANNELS [<pattern>]", b"NUMPAT", b"NUMSUB [<channel> ...]",
                    b"SHARDCHANNELS [<pattern>]", b"SHARDNUMSUB [<shardchannel> ...]", b"HELP"]
        raise ResponseError(
            f"unknown subcommand or wrong number of arguments for '{argv[0].decode()}'. "
            "Try PUBSUB HELP."
        )

    def _cmd_ping(self, client: Client, argv: list[bytes], at: float):
        if len(argv) > 1:
            raise ResponseError("wrong number of arguments for 'ping' command")
        if client.subscription_count:
            client._push(at, frame_dict("pong", None, argv[0] if argv else b""))
            return None
        return argv[0] if argv else b"PONG"

    def _cmd_echo(self, client: Client, argv: list[bytes], at: float) -> bytes:
        return argv[0]

    def _cmd_quit(self, client: Client, argv: list[bytes], at: float) -> bytes:
        self._disconnect(client, at, "disconnected", quiet=True)
        return b"OK"

    def _cmd_reset(self, client: Client, argv: list[bytes], at: float) -> bytes:
        for channel in list(client._channels):
            self._unlink(self._channels, channel, client)
            self._trace.event(at, "unsubscribe", client.name, channel=channel)
        for pattern in list(client._patterns):
            self._unlink(self._patterns, pattern, client)
            self._trace.event(at, "punsubscribe", client.name, pattern=pattern)
        client._channels.clear()
        client._patterns.clear()
        return b"RESET"

    # ----------------------------------------------------------------- replication
    def replicaof(self, primary: RedisPubSub | None, latency: float | None = None) -> None:
        """``REPLICAOF host port`` (``primary``) or ``REPLICAOF NO ONE`` (``None``), now.

        From now on every PUBLISH ``primary`` executes reaches this server ``latency`` seconds
        later (default: the server's ``latency`` setting) down the replication stream and is
        run here for this server's own subscribers (:mod:`models.redis_pubsub.replication`).
        Subscriptions and connections are kept either way: Redis does not close Pub/Sub
        clients on a role change (Sentinel does, with ``CLIENT KILL TYPE pubsub``). Leaving a
        primary drops what was still on the link from it (``replication-link``).
        """
        now = self.sim.now
        if primary is self:
            raise ValueError("a server cannot replicate itself")
        if self.primary is not None:
            self._flush(now)
            cut_stream(self, now)
            self.primary.replicas.remove(self)
            self.primary = None
        if primary is not None:
            if primary.sim is not self.sim:
                raise ValueError("a replica must be in the same simulation as its primary")
            seen = primary
            while seen is not None:  # no replication loops
                if seen is self:
                    raise ValueError(f"{primary.name!r} replicates {self.name!r}: a loop")
                seen = seen.primary
            primary._flush(now)
            self.primary = primary
            primary.replicas.append(self)
            if latency is not None:
                self.repl_latency = float(latency)
        self._trace.event(now, "role", self.name,
                          role="master" if primary is None else "replica",
                          primary=None if primary is None else primary.name)

    @property
    def role(self) -> str:
        """``"master"`` or ``"replica"``, as ``ROLE`` / ``INFO replication`` say."""
        return "master" if self.primary is None else "replica"

    # ----------------------------------------------------------------- faults
    def _disconnect(self, client: Client, at: float, reason: str, quiet: bool = False) -> None:
        """Close ``client`` at ``at``: unread frames are lost, subscriptions are gone."""
        code = REASON_CODE[reason]
        pipe = client._pipe
        self._lost_tail: list = []
        self._leave_tails(client, at)
        for _, msgs in self._lost_tail:
            self._trace.dropped.extend(msg=msgs, receiver=client.receiver, t=at, reason=code)
        lost = pipe.q_read > at
        if lost.any():
            self._trace.dropped.extend(msg=pipe.q_msg[lost], receiver=client.receiver, t=at,
                                       reason=code)
        keep = ~lost
        if keep.any():
            self._trace.delivered.extend(msg=pipe.q_msg[keep], receiver=client.receiver,
                                         via=pipe.q_via[keep], t=pipe.q_done[keep])
            client._inbox_messages(pipe, keep)
        pipe.reset()
        self._active.discard(client)
        for channel in list(client._channels):
            self._unlink(self._channels, channel, client)
        for pattern in list(client._patterns):
            self._unlink(self._patterns, pattern, client)
        client._closed(at, reason)
        if not quiet:
            self.disconnections[reason] = self.disconnections.get(reason, 0) + 1
        self._trace.event(at, "disconnect", client.name, reason=reason, epoch=client.epoch)
        if client._intent_channels or client._intent_patterns:
            self._absent[client] = code
        client._on_disconnect(at, reason)

    # ----------------------------------------------------------------- fault injection
    def fault_targets(self) -> set[str]:
        """Party names for :class:`sim.faults.FaultSchedule`: the server and every client."""
        return {self.name, *self._clients, *self._apps}

    def apply_fault(self, fault: Fault) -> None:
        """Carry out one fault (see :mod:`sim.faults`) on the server or a client."""
        action, now = fault.action, self.sim.now
        if isinstance(fault.target, tuple):
            self._link_fault(fault)
        elif fault.target == self.name:
            if action == "crash":
                self._crash(downtime=math.inf)
            elif action == "restart":
                self._flush(now)
                self.down_until = max(now, self._cpu_free)
                self._trace.event(now, "server-up", self.name)
                for listener in list(self._role_listeners):
                    listener(self, "up", now)
            elif action == "pause":  # the main thread stalls (a fork, a slow disk, swapping)
                self._flush(now)
                self._cpu_free = max(self._cpu_free, now) + fault.params["duration"]
            else:
                raise ValueError(f"the Redis server cannot {action!r}")
        else:
            app = self._apps.get(fault.target)
            if action in ("crash", "restart") and app is not None:
                app.crash() if action == "crash" else app.restart()
            elif action in ("crash", "disconnect"):
                reason = "client-crash" if action == "crash" else "disconnected"
                self.kill_client(fault.target, reason)
            elif action in ("restart", "reconnect"):
                if app is not None:
                    app.reconnect_now()
                elif not self._clients[fault.target].connected:
                    self.connect(fault.target)
            else:
                raise ValueError(f"a Redis client cannot {action!r}")

    def _link_fault(self, fault: Fault) -> None:
        a, b = fault.target
        if self.name not in (a, b):
            raise ValueError(f"link faults need the server {self.name!r} as one end: {fault}")
        other = b if a == self.name else a
        if other not in self._clients:
            raise ValueError(f"link faults between {self.name!r} and {other!r} are not "
                             "modelled: only the links between the server and its clients "
                             "(not the replication link between two servers)")
        client = self._clients[other]
        pipe, now = client._pipe, self.sim.now
        self._flush(now)
        if fault.action == "cut":
            # one-way from the client to the server leaves the pushes flowing
            if fault.params["direction"] == "both" or a == self.name:
                pipe.cuts.append([now, math.inf])
                dead_at = now + 2 * self.config.tcp_keepalive
                self.sim.call_at(dead_at, self._keepalive_check, client, now)
        elif fault.action == "heal":
            pipe.heal(now)
            self._wake()
        elif fault.action == "latency":
            pipe.extra_latency = fault.params["extra"]
        elif fault.action == "loss":
            pipe.loss = fault.params["p"]

    def _keepalive_check(self, client: Client, cut_at: float) -> None:
        """TCP keepalive found the peer dead: Redis closes the connection."""
        if client.connected and any(w[0] == cut_at and w[1] == math.inf
                                    for w in client._pipe.cuts):
            self.kill_client(client.name, "network-cut")

    def _crash(self, downtime: float) -> None:
        """The server dies once the command it is running is done (so the trace stays causal:
        nothing executes after the crash) and refuses connections for ``downtime`` seconds."""
        self._flush(self.sim.now)
        at = max(self.sim.now, self._cpu_free)
        self.down_until = at + downtime
        self._cpu_free = at
        self._trace.event(at, "server-restart", self.name, down_until=self.down_until)
        for replica in self.replicas:  # the replication stream dies with the primary
            cut_stream(replica, at)
        for client in list(self._clients.values()):
            if client.connected:
                self._disconnect(client, at, "server-restart")
        for listener in list(self._role_listeners):
            listener(self, "down", at)

    def kill_client(self, name: str, reason: str = "disconnected", at: float | None = None
                    ) -> None:
        """Close a connection (``CLIENT KILL``, a fault, a client going away).

        It takes effect at ``at`` (default now) or, if later, when the main thread finishes the
        commands already queued before it: the event loop handles a closed socket between
        commands, so everything that arrived earlier executes first.
        """
        at = self.sim.now if at is None else at
        self._flush(at)
        client = self._clients[name]
        if client.connected:
            self._disconnect(client, max(at, self._cpu_free), reason)

    def restart(self, downtime: float = 1.0) -> None:
        """Crash and restart the server now: every connection and subscription is lost, and
        PUBLISH is refused for ``downtime`` seconds (nothing is persisted: pub/sub is not in
        RDB or AOF)."""
        self._crash(downtime)

    def _maybe_present(self, client: Client) -> None:
        """A subscriber stops being counted as away once it has resubscribed to all it meant."""
        if client in self._absent and not (
            client._intent_channels.difference(client._channels)
            or set(client._intent_patterns).difference(client._patterns)
        ):
            del self._absent[client]

    # ----------------------------------------------------------------- introspection
    def output_buffer_bytes(self, name: str) -> int:
        """Bytes counted against ``client-output-buffer-limit`` for ``name`` right now."""
        self.sync()
        return self._clients[name]._pipe.occupancy(self.sim.now, self.config.socket_buffer)

    def utilisation(self) -> float:
        """Fraction of elapsed simulated time the main thread was busy."""
        return self.busy_time / self.sim.now if self.sim.now > 0 else 0.0


def _merge_parts(idx_parts, vias, size_parts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One client's frames from the batch, in execution order (``message`` before the
    ``pmessage`` copies of the same PUBLISH, in subscription order)."""
    if len(idx_parts) == 1:
        pub = idx_parts[0]
        return pub, np.full(len(pub), vias[0], dtype=np.int32), size_parts[0]
    pub = np.concatenate(idx_parts)
    size = np.concatenate(size_parts)
    via = np.concatenate([np.full(len(p), v, dtype=np.int32)
                          for p, v in zip(idx_parts, vias, strict=True)])
    rank = np.concatenate([np.full(len(p), k) for k, p in enumerate(idx_parts)])
    order = np.lexsort((rank, pub))
    return pub[order], via[order], size[order]


class _Group:
    """Identical instant subscribers and the frames they all get from one batch."""

    __slots__ = ("append", "members", "pub", "read", "size", "via")

    def __init__(self, members, pub, via, size, append, read) -> None:
        self.members, self.pub, self.via, self.size = members, pub, via, size
        self.append, self.read = append, read


class _Tail:
    """Frames still on the wire to a group of identical subscribers at the last horizon."""

    __slots__ = ("chan", "members", "msg", "read", "size", "via")

    def __init__(self, members: dict, msg, via, chan, read, size) -> None:
        self.members, self.msg, self.via, self.chan = members, msg, via, chan
        self.read, self.size = read, size

    @property
    def nbytes(self) -> int:
        return int(self.size.sum())

    def advance(self, n: int) -> _Tail:
        return _Tail(self.members, self.msg[n:], self.via[n:], self.chan[n:], self.read[n:],
                     self.size[n:])


class _Groups:
    """Indices of a batch grouped by channel id, in execution order within each group."""

    __slots__ = ("_order", "_starts", "inverse", "unique")

    def __init__(self, chan: np.ndarray) -> None:
        if len(chan) == 0:
            self.unique = np.empty(0, dtype=np.int32)
            self.inverse = np.empty(0, dtype=np.int64)
            self._order = np.empty(0, dtype=np.int64)
            self._starts = np.zeros(1, dtype=np.int64)
            return
        self._order = np.argsort(chan, kind="stable")
        ordered = chan[self._order]
        self.unique, starts, self.inverse = np.unique(ordered, return_index=True,
                                                      return_inverse=True)
        inverse = np.empty(len(chan), dtype=np.int64)
        inverse[self._order] = self.inverse
        self.inverse = inverse
        self._starts = np.append(starts, len(chan))

    def indices(self, u: int) -> np.ndarray:
        return self._order[self._starts[u]:self._starts[u + 1]]


__all__ = ["RedisPubSub", "_Pipe"]
