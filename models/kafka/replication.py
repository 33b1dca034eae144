"""Replication of a partition: followers fetching from the leader, the ISR, the high watermark.

``Replication`` is a mixin of ``cluster.Partition`` (as ``Fetcher`` is of ``Consumer``): it
holds the partition's replica state and the leader-side logic of Kafka's ``Partition.scala``;
``ReplicaFetcher`` is a follower broker's ``ReplicaFetcherThread``.

Kafka behaviour reproduced (``shared/reference/kafka.md`` §2.3, §3; ``Partition.scala``,
``Replica.scala``, ``ReplicaFetcherThread``):

- Every replica has its own log end offset (LEO). Followers *pull*: one fetcher per (follower
  broker, leader broker) pair (``num.replica.fetchers=1``) sends one Fetch request per round for
  every partition it follows from that leader, carrying its LEOs. The leader answers at once if
  it has records beyond them, else it holds the request until records arrive or
  ``replica.fetch.wait.max.ms`` (500 ms) has passed; the follower then appends what came and
  sends its next request straight away. So a record is on a waiting follower one link latency
  after the leader appended it, and the leader learns so one more latency later.
- Two regimes, one behaviour. While nothing is wrong — every broker up, running and unfenced,
  no link fault, every ISR complete — the cluster is *steady*: followers are caught up and
  long-polling, so the outcome of the fetch rounds is known in advance (a record reaches the
  followers one latency after its append, the HW covers it two latencies after) and is
  computed instead of simulated: no event per round. The first fault switches the cluster to
  *replicating*: each follower's LEO and what the leader knows of it are set from that rule at
  that instant (``_enter_replicating``), and from then on the fetchers run round by round, as
  above. Once every fault has healed and every replica has caught up again the cluster is
  steady again. (The computed regime assumes a follower's fetch is always waiting at the leader;
  with back-to-back appends a real follower can be mid-round, which adds up to two latencies.)
- The leader learns a follower's LEO from the fetch offset of its requests, and keeps Kafka's
  ``lastCaughtUpTimeMs``: a fetch at the leader's LEO, or at the LEO the leader had at the
  follower's previous fetch, counts as caught up (``Replica.updateFetchStateOrThrow``).
- ISR: every ``replica.lag.time.max.ms / 2`` the leader drops followers that have not been
  caught up for ``replica.lag.time.max.ms`` (30 s) (``maybeShrinkIsr``); a follower rejoins when
  it fetches at or above the HW and the start offset of the leader's epoch (``maybeExpandIsr``).
  The controller also drops a fenced broker from every ISR it is in (unless it is the last
  member), as KRaft does. ISR changes take effect at once (the ``AlterPartition`` round trip
  to the controller is not modelled).
- High watermark: the lowest LEO the leader knows in the ISR (``maybeIncrementLeaderHW``); it
  never moves while the ISR is smaller than ``min.insync.replicas`` (Kafka 3.7+,
  KAFKA-15583), whatever ``acks`` the producer used.
- ``acks=all`` (``DelayedProduce``): the response waits until the HW covers the batch; it fails
  with ``NotLeaderOrFollower`` if the leader loses its leadership meanwhile, and the producer's
  request times out if the HW never gets there.
- Leader change (``makeLeader`` / ``makeFollower``): the leader epoch increments; every replica
  truncates to the new leader's LEO (KIP-101/KIP-279 epoch-based truncation). Records above it
  are gone: traced in the ``truncated`` table (reason ``unclean-election`` for records that were
  below the HW, i.e. committed, else ``log-truncation``); acknowledged ones are also traced as
  ``dropped`` for receiver -1 with reason ``acks-0``, ``acks-1`` (acknowledged before
  replication) or ``unclean-election`` (committed, lost by electing an out-of-sync replica).

Departures, on purpose:

- The replicas share one copy of the records (the leader's ``Log``); a replica *is* its LEO into
  it. Kafka's follower logs are byte-for-byte prefixes of the leader's up to their LEO, so the
  only difference is *when* a replica that diverged drops its extra records: here at the
  election, in Kafka when it next talks to the new leader. A crashed leader's unreplicated
  tail therefore never comes back, not even if that very replica is later elected uncleanly
  (in Kafka it would, resurrecting records that were already reported lost).
- A fetch response carries everything up to the leader's LEO (``replica.fetch.max.bytes`` is
  not modelled; there is no bandwidth, so catching up takes one round trip), so a follower's LEO
  always lies on a batch boundary.
- Follower HW propagation, the follower's own log-append cost, fetch sessions (KIP-227),
  preferred-leader rebalancing (``auto.leader.rebalance.enable``), Eligible Leader Replicas
  (KIP-966) and reassignments are not modelled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from models.kafka.errors import KafkaError, NotLeaderOrFollowerError
from models.kafka.network import broker_name
from sim.trace import REASON_CODE

if TYPE_CHECKING:
    from models.kafka.cluster import KafkaCluster, Partition

INF = float("inf")
_UNCLEAN = REASON_CODE["unclean-election"]
_TRUNCATION = REASON_CODE["log-truncation"]

AckCallback = Callable[[KafkaError | None], None]


class Replication:
    """Replica state and leader-side replication logic (mixin of ``Partition``)."""

    cluster: KafkaCluster
    log: Any
    _log: Any
    topic: str
    topic_id: int
    index: int
    _waiter: simpy.Event | None
    _producers: dict

    def _init_replication(self, replicas: list[int]) -> None:
        now = float(self.cluster.env.now)
        self.replicas = list(replicas)
        self.leader = self.replicas[0]
        self.isr = list(replicas)
        self.leader_epoch = 0
        self.epoch_start_offset = 0
        self.leo = dict.fromkeys(self.replicas, 0)  # followers' LEOs (the leader's: the log's)
        self._seen = dict.fromkeys(self.replicas, 0)  # fetch offset of each follower's last fetch
        self._caught_up = dict.fromkeys(self.replicas, now)
        self._last_fetch_leo = dict.fromkeys(self.replicas, 0)
        self._last_fetch_t = dict.fromkeys(self.replicas, now)
        self._acks_waiters: deque[tuple[int, AckCallback]] = deque()
        self._unreplicated: deque[tuple[int, int, Any, Any]] = deque()  # acks 0/1 above the HW
        self._fetchers: list[ReplicaFetcher] = []  # fetchers following this partition
        self.max_high_watermark = 0  # the highest HW ever exposed (checking.md W4's ghost)
        # steady regime: (append time, start, end) of the appends of the last two latencies,
        # and the end of the older ones (on every follower)
        self._recent: deque[tuple[float, int, int]] = deque()
        self._replicated_upto = 0
        # (t, new LEO, records removed, HW before): every truncation of the log
        self.truncations: list[tuple[float, int, int, int]] = []

    # ---- queries ---------------------------------------------------------------------------
    @property
    def unclean_leader_election(self) -> bool:
        return bool(self.log.config["unclean.leader.election.enable"])

    def replica_leo(self, broker: int) -> int:
        """The LEO of ``broker``'s replica."""
        if broker == self.leader:
            return self.log.log_end_offset
        if self.cluster.replicating:
            return self.leo[broker]
        return self._steady_follower_leo(float(self.cluster.env.now))

    def _steady_follower_leo(self, now: float) -> int:
        """Steady regime: a follower has every record appended a latency ago or earlier (the
        event path's appends in ``_recent``; the planned fast path's in its HW queue, whose
        times are append + 2 latencies)."""
        latency = self.cluster.latency
        log = self.log
        leo = max(log.high_watermark, self._replicated_upto)
        reach = now - latency
        for t, _start, end in self._recent:
            if t <= reach and end > leo:
                leo = end
        for times, ends, _k in getattr(self, "_hw_queue", ()):
            i = int(np.searchsorted(times, now + latency, side="right"))
            if i and int(ends[i - 1]) > leo:
                leo = int(ends[i - 1])
        return min(leo, log.log_end_offset)

    def truncations_below_hw(self) -> list[tuple[float, int, int, int]]:
        """Truncations that removed committed records (checking.md W6)."""
        return [t for t in self.truncations if t[1] < t[3]]

    @property
    def under_min_isr(self) -> bool:
        return len(self.isr) < int(self.log.config["min.insync.replicas"])

    # ---- the leader appended ---------------------------------------------------------------
    def _appended(self, start: int, end: int) -> None:
        """After an append of ``[start, end)`` on the leader: alone in the ISR, move the HW;
        else, replicating, wake the waiting followers, or, steady, move the HW two latencies
        from now (see the module docstring)."""
        if len(self.isr) == 1:
            self._maybe_advance_hw()
            return
        cluster = self.cluster
        if cluster.replicating:
            for fetcher in self._fetchers:
                if fetcher.phase == "poll":
                    fetcher.wake()
            return
        now = float(cluster.env.now)
        recent = self._recent
        horizon = now - 2.0 * cluster.latency
        while recent and recent[0][0] < horizon:
            self._replicated_upto = recent.popleft()[2]
        recent.append((now, start, end))
        cluster.sim.call_at(now + 2.0 * cluster.latency, self._steady_hw, end)

    def _steady_hw(self, end: int) -> None:
        """Steady regime: the followers' next fetches told the leader they have ``end``."""
        if not self.cluster.replicating and end > self.log.high_watermark \
                and not self.under_min_isr:
            self._set_high_watermark(min(end, self.log.log_end_offset))

    def _enter_replicating(self, now: float) -> None:
        """Leave the steady regime: each follower's LEO, and what the leader knows of it, as the
        steady rule has them now (the HW moves pending for later are dropped: the fetchers
        will move it)."""
        got = self._steady_follower_leo(now)
        hw = self.log.high_watermark
        leo = self.log.log_end_offset
        for b in self.replicas:
            if b != self.leader:
                self.leo[b] = got
                self._seen[b] = hw
                self._caught_up[b] = now
                self._last_fetch_leo[b] = leo
                self._last_fetch_t[b] = now
        self._recent.clear()
        hwq = getattr(self, "_hw_queue", None)
        if hwq:
            hwq.clear()  # the fast path's HW moves: the fetchers move the HW from now on

    def in_sync(self) -> bool:
        """Every replica in the ISR and caught up, and the leader knows it (steady again)."""
        if self.leader < 0 or len(self.isr) != len(self.replicas):
            return False
        leo = self.log.log_end_offset
        if self.log.high_watermark != leo and not self.under_min_isr:
            return False
        return all(self.leo[b] == leo and self._seen[b] == leo
                   for b in self.replicas if b != self.leader)

    def _track_unreplicated(self, base: int, end: int, producer: Any, batch: Any) -> None:
        """Remember an ``acks=0``/``acks=1`` batch until the HW covers it (to trace its loss
        should a leader change truncate it first)."""
        if self.log.high_watermark < end:
            self._unreplicated.append((end, base, producer, batch))

    def await_high_watermark(self, end: int, callback: AckCallback) -> None:
        """``acks=all``: ``callback(None)`` once the HW reaches ``end``, or ``callback(error)``
        if the leadership is lost first."""
        if self.log.high_watermark >= end:
            callback(None)
        else:
            self._acks_waiters.append((end, callback))

    def _maybe_advance_hw(self) -> None:
        """HW = lowest LEO the leader knows in the ISR, unless the ISR is under min ISR."""
        leader = self.leader
        isr = self.isr
        if leader < 0 or len(isr) < int(self.log.config["min.insync.replicas"]):
            return
        hw = self.log.log_end_offset
        seen = self._seen
        for b in isr:
            if b != leader and seen[b] < hw:
                hw = seen[b]
        if hw > self.log.high_watermark:
            self._set_high_watermark(hw)

    def _set_high_watermark(self, hw: int) -> None:
        log = self._log  # not the settling property: this runs while inbound batches settle
        log.high_watermark = hw
        if hw > self.max_high_watermark:
            self.max_high_watermark = hw
        unreplicated = self._unreplicated
        while unreplicated and unreplicated[0][0] <= hw:
            unreplicated.popleft()
        waiters = self._acks_waiters
        while waiters and waiters[0][0] <= hw:
            waiters.popleft()[1](None)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.succeed(hw)

    def _fail_waiters(self, error: KafkaError) -> None:
        waiters = self._acks_waiters
        self._acks_waiters = deque()
        for _end, callback in waiters:
            callback(error)

    # ---- followers -------------------------------------------------------------------------
    def _follower_fetch(self, follower: int, offset: int, now: float) -> None:
        """A follower's fetch request at ``offset`` reached the leader."""
        leo = self.log.log_end_offset
        if offset >= leo:
            self._caught_up[follower] = now
        elif offset >= self._last_fetch_leo[follower]:
            self._caught_up[follower] = max(self._caught_up[follower],
                                            self._last_fetch_t[follower])
        self._last_fetch_leo[follower] = leo
        self._last_fetch_t[follower] = now
        self._seen[follower] = offset
        if (follower not in self.isr and offset >= self.log.high_watermark
                and offset >= self.epoch_start_offset
                and self.cluster.broker_live(follower)):
            self.isr.append(follower)
            self.cluster.trace.event(now, "isr-expand", self._name(), broker=follower,
                                     isr=tuple(self.isr))
        self._maybe_advance_hw()

    def _replicated(self, follower: int, end: int) -> None:
        """A fetch response reached the follower: its log now ends at ``end``."""
        if end > self.leo[follower]:
            self.leo[follower] = end

    def _shrink_isr(self, now: float, lag_max: float) -> None:
        """``maybeShrinkIsr``: drop followers not caught up for ``replica.lag.time.max.ms``."""
        leader = self.leader
        out = [b for b in self.isr
               if b != leader and now - self._caught_up[b] > lag_max]
        if out:
            self._remove_from_isr(out, now, "lagging")

    def _remove_from_isr(self, brokers: list[int], now: float, why: str) -> None:
        self.isr = [b for b in self.isr if b not in brokers]
        self.cluster.trace.event(now, "isr-shrink", self._name(), brokers=tuple(brokers),
                                 isr=tuple(self.isr), reason=why)
        self._maybe_advance_hw()

    # ---- leader change ---------------------------------------------------------------------
    def _change_leader(self, new: int, unclean: bool, error: KafkaError | None = None) -> None:
        """Make ``new`` the leader (-1: none, the partition is offline): bump the epoch,
        truncate every replica to the new leader's LEO, fail pending ``acks=all`` waiters."""
        now = float(self.cluster.env.now)
        old = self.leader
        if old >= 0:
            self.leo[old] = self.log.log_end_offset
        self._fail_waiters(error or NotLeaderOrFollowerError(
            f"Leader of {self._name()} moved from broker {old} to {new}"))
        self.leader_epoch += 1
        self.leader = new
        if new < 0:
            self.cluster.trace.event(now, "partition-offline", self._name(), old=old,
                                     epoch=self.leader_epoch, isr=tuple(self.isr))
            return
        end = self.leo[new]
        removed = self._truncate(end, now) if end < self.log.log_end_offset else 0
        for b in self.replicas:
            if self.leo[b] > end:
                self.leo[b] = end
        self.epoch_start_offset = end
        if unclean:
            self.isr = [new]
        hw = self.log.high_watermark
        for b in self.replicas:
            if b != new:
                self._seen[b] = min(self.leo[b], hw)
                self._caught_up[b] = now
                self._last_fetch_leo[b] = end
                self._last_fetch_t[b] = now
        self.cluster.trace.event(now, "leader-change", self._name(), old=old, new=new,
                                 epoch=self.leader_epoch, unclean=unclean, isr=tuple(self.isr),
                                 truncated=removed)
        self._maybe_advance_hw()

    def _truncate(self, end: int, now: float) -> int:
        """Remove the records at and above ``end`` from the log; trace what was lost."""
        log = self.log
        old_hw = log.high_watermark
        offsets, msg = log.truncate(end, now)
        n = len(offsets)
        if n == 0:
            return 0
        self.truncations.append((now, end, n, old_hw))
        if log.high_watermark > end:
            log.high_watermark = end
        # the idempotence state of batches that are gone (ProducerStateManager.truncateAndReload)
        for history in self._producers.values():
            first_gone = None
            while history and history[-1][2] >= end:
                first_gone = history.pop()[0]
            if first_gone is not None and not history:
                history.append((None, first_gone - 1, -1))  # the next sequence expected
        cluster = self.cluster
        committed = offsets < old_hw
        if cluster.tracing:
            cluster.trace.table("truncated").extend(
                msg=msg, channel=self.topic_id, partition=self.index, offset=offsets, t=now,
                reason=np.where(committed, _UNCLEAN, _TRUNCATION))
            if committed.any():
                cluster.trace.dropped.extend(msg=msg[committed], receiver=-1, t=now,
                                             reason=_UNCLEAN)
        start = max(end, old_hw)
        keep: deque = deque()
        for entry in self._unreplicated:
            batch_end, base, producer, batch = entry
            if batch_end > start:
                first = max(start, base)
                producer._truncated(batch, batch.msg[first - base:batch_end - base])
            if base < end:
                keep.append(entry)
        self._unreplicated = keep
        return n

    def _name(self) -> str:
        return f"{self.topic}-{self.index}"


class ReplicaFetcher:
    """Broker ``follower`` fetching, from broker ``leader``, every partition it follows there
    (Kafka's ``ReplicaFetcherThread``): one request per round, driven by callbacks — a round
    costs two or three simpy events, whatever the number of partitions or records.

    Phases: ``idle`` (nothing to fetch, or the follower is down), ``request`` (on its way to
    the leader), ``poll`` (held by the leader until records arrive or
    ``replica.fetch.wait.max.ms`` passes), ``response`` (on its way back), ``backoff`` (after a
    failed request, ``replica.fetch.backoff.ms``). Callbacks carry the round number, so those
    of a round that was given up do nothing.
    """

    def __init__(self, cluster: KafkaCluster, follower: int, leader: int,
                 at_leader: bool = False) -> None:
        self.cluster = cluster
        self.env = cluster.env
        self.sim = cluster.sim
        self.follower = follower
        self.leader = leader
        self.src = broker_name(follower)
        self.dst = broker_name(leader)
        self.parts: dict[Partition, None] = {}
        config = cluster.config
        self.wait_max = config["replica.fetch.wait.max.ms"] / 1000.0
        self.socket_timeout = config["replica.socket.timeout.ms"] / 1000.0
        self.backoff = config["replica.fetch.backoff.ms"] / 1000.0
        self.rounds = 0
        self.phase = "idle"
        self._round = 0
        self._sent = 0.0
        self._offsets: dict[Partition, int] = {}
        self._woken = False
        if at_leader and cluster.replicating:  # its first request is waiting at the leader
            self.resume_at_leader()

    def __repr__(self) -> str:
        return (f"ReplicaFetcher({self.follower} <- {self.leader}, {len(self.parts)} "
                f"partitions, {self.phase})")

    def add(self, part: Partition) -> None:
        if part not in self.parts:
            self.parts[part] = None
            part._fetchers.append(self)
        self.kick()

    def remove(self, part: Partition) -> None:
        if self.parts.pop(part, 0) is None:
            part._fetchers.remove(self)

    def resume_at_leader(self) -> None:
        """Start replicating as a follower that was long-polling the leader (the steady
        regime's assumption): its request is at the leader now."""
        self._round += 1
        r = self._round
        self.phase = "request"
        self._sent = float(self.env.now)
        self.env.timeout(0).callbacks.append(lambda _e: self._at_leader(r))

    def kick(self) -> None:
        """Something changed (a partition joined, a broker came back or died): an idle
        fetcher starts a round, a long poll answers now."""
        if self.phase == "idle":
            self._start()
        elif self.phase == "poll":
            self.wake()

    def wake(self) -> None:
        """The leader appended (or must answer): the long poll answers once the current
        instant's other work is done (so records appended together travel together)."""
        if self.phase == "poll" and not self._woken:
            self._woken = True
            r = self._round
            self.env.timeout(0).callbacks.append(lambda _e: self._answer(r))

    # ---- the round ---------------------------------------------------------------------------
    def _start(self) -> None:
        cluster = self.cluster
        if not self.parts or not cluster.replicating:
            self.phase = "idle"  # nothing to fetch, or steady: rounds are computed
            return
        resume = cluster.broker_resume_at(self.follower)
        if resume == INF:
            self.phase = "idle"  # a restart kicks it
            return
        self._round += 1
        r = self._round
        now = float(self.env.now)
        if resume > now:  # paused: the request leaves when the broker resumes
            self.phase = "backoff"
            self.sim.call_at(resume, self._again, r)
            return
        self.phase = "request"
        self._sent = now
        self._hop(self.src, self.dst, r, self._at_leader)

    def _again(self, r: int) -> None:
        if r == self._round:
            self._start()

    def _hop(self, src: str, dst: str, r: int, then: Callable, *args: Any) -> None:
        hop = self.cluster.net.delay(src, dst)
        if hop is None:  # cut: held until the heal, lost if the request times out first
            until = self._sent + self.socket_timeout
            self.cluster.net.hold(src, dst, until, lambda: then(r, *args))
            self.sim.call_at(until, self._timed_out, r)
        else:
            self.env.timeout(hop).callbacks.append(lambda _e: then(r, *args))

    def _timed_out(self, r: int) -> None:
        if r == self._round and self.phase in ("request", "response"):
            self._start()

    def _failed(self, r: int) -> None:
        """Connection refused or reset by the leader: back off, then try again."""
        self.phase = "backoff"
        self.sim.call_at(float(self.env.now) + self.backoff, self._again, r)

    def _at_leader(self, r: int) -> None:
        if r != self._round or self.phase != "request":
            return
        cluster = self.cluster
        resume = cluster.broker_resume_at(self.leader)
        now = float(self.env.now)
        if resume == INF:
            self._failed(r)
            return
        if resume > now:  # a paused leader reads the request when it resumes
            self.sim.call_at(resume, self._at_leader, r)
            return
        self.phase = "poll"
        self._woken = False
        self._offsets = {}
        if self._register(now):
            self._answer(r)
        else:
            self.sim.call_at(now + self.wait_max, self._answer, r)
            cluster.controller.maybe_steady()  # caught up, and now the leader knows it

    def _register(self, now: float) -> bool:
        """The leader reads the fetch offsets of the partitions it leads; True if it has
        records beyond any of them."""
        offsets = self._offsets
        leader, follower = self.leader, self.follower
        more = False
        for part in self.parts:
            if part.leader == leader:
                off = offsets.get(part)
                if off is None:
                    off = offsets[part] = part.leo[follower]
                    part._follower_fetch(follower, off, now)
                if part.log.log_end_offset > off:
                    more = True
        return more

    def _answer(self, r: int) -> None:
        if r != self._round or self.phase != "poll":
            return
        self._woken = False
        cluster = self.cluster
        resume = cluster.broker_resume_at(self.leader)
        now = float(self.env.now)
        if resume == INF:  # the leader died under the long poll
            self._failed(r)
            return
        if resume > now:  # paused under the long poll: it answers when it resumes
            self.sim.call_at(resume, self._answer, r)
            return
        self._register(now)
        leader = self.leader
        response = [(p, p.leader_epoch, p.log.log_end_offset) for p in self._offsets
                    if p.leader == leader]
        self.phase = "response"
        self._hop(self.dst, self.src, r, self._at_follower, response)

    def _at_follower(self, r: int, response: list) -> None:
        if r != self._round or self.phase != "response":
            return
        resume = self.cluster.broker_resume_at(self.follower)
        if resume == INF:
            self.phase = "idle"
            return
        if resume > self.env.now:
            self.sim.call_at(resume, self._at_follower, r, response)
            return
        for part, epoch, end in response:
            if part.leader_epoch == epoch and part in self.parts:
                part._replicated(self.follower, end)
        self.rounds += 1
        self.cluster.controller.maybe_steady()
        self._start()
