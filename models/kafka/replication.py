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

_UNCLEAN = REASON_CODE["unclean-election"]
_TRUNCATION = REASON_CODE["log-truncation"]

AckCallback = Callable[[KafkaError | None], None]


class Replication:
    """Replica state and leader-side replication logic (mixin of ``Partition``)."""

    cluster: KafkaCluster
    log: Any
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
        # (t, new LEO, records removed, HW before): every truncation of the log
        self.truncations: list[tuple[float, int, int, int]] = []

    # ---- queries ---------------------------------------------------------------------------
    @property
    def unclean_leader_election(self) -> bool:
        return bool(self.log.config["unclean.leader.election.enable"])

    def replica_leo(self, broker: int) -> int:
        """The LEO of ``broker``'s replica."""
        return self.log.log_end_offset if broker == self.leader else self.leo[broker]

    def truncations_below_hw(self) -> list[tuple[float, int, int, int]]:
        """Truncations that removed committed records (checking.md W6)."""
        return [t for t in self.truncations if t[1] < t[3]]

    @property
    def under_min_isr(self) -> bool:
        return len(self.isr) < int(self.log.config["min.insync.replicas"])

    # ---- the leader appended ---------------------------------------------------------------
    def _appended(self) -> None:
        """After an append on the leader: wake waiting followers; alone in the ISR, move the HW."""
        for fetcher in self._fetchers:
            event = fetcher.data
            if event is not None:
                fetcher.data = None
                event.succeed()
        if len(self.isr) == 1:
            self._maybe_advance_hw()

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
        log = self.log
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
    (Kafka's ``ReplicaFetcherThread``). One simpy process; one request per round."""

    def __init__(self, cluster: KafkaCluster, follower: int, leader: int,
                 at_leader: bool = False) -> None:
        self.cluster = cluster
        self.env = cluster.env
        self.follower = follower
        self.leader = leader
        self.src = broker_name(follower)
        self.dst = broker_name(leader)
        self.parts: dict[Partition, None] = {}
        self.data: simpy.Event | None = None  # succeeded by the leader's next append
        self._idle: simpy.Event | None = None
        config = cluster.config
        self.wait_max = config["replica.fetch.wait.max.ms"] / 1000.0
        self.socket_timeout = config["replica.socket.timeout.ms"] / 1000.0
        self.backoff = config["replica.fetch.backoff.ms"] / 1000.0
        self.rounds = 0
        self.process = self.env.process(self._run(at_leader))

    def __repr__(self) -> str:
        return f"ReplicaFetcher({self.follower} <- {self.leader}, {len(self.parts)} partitions)"

    def add(self, part: Partition) -> None:
        if part not in self.parts:
            self.parts[part] = None
            part._fetchers.append(self)
        self.kick()

    def remove(self, part: Partition) -> None:
        if self.parts.pop(part, 0) is None:
            part._fetchers.remove(self)

    def kick(self) -> None:
        """Wake the fetcher: it has work again, or the leader went away under a long poll."""
        for attr in ("_idle", "data"):
            event = getattr(self, attr)
            if event is not None:
                setattr(self, attr, None)
                event.succeed()

    def _held(self, src: str, dst: str, sent: float):
        """A hop across a cut (``yield from``): True once it arrived after the heal, False
        when the request timed out first (``replica.socket.timeout.ms``)."""
        env = self.env
        until = sent + self.socket_timeout
        arrived = env.event()
        self.cluster.net.hold(src, dst, until, arrived.succeed)
        yield arrived | env.timeout(max(0.0, until - env.now))
        return arrived.triggered

    def _run(self, at_leader: bool):
        env = self.env
        cluster = self.cluster
        net = cluster.net
        follower, leader = self.follower, self.leader
        while True:
            if not at_leader:
                while not self.parts or not cluster.broker_ready(follower):
                    resume = cluster.broker_resume_at(follower)
                    if self.parts and resume < float("inf"):
                        yield env.timeout(resume - env.now)  # paused
                    else:
                        self._idle = env.event()
                        yield self._idle
                sent = float(env.now)
                hop = net.delay(self.src, self.dst)
                if hop is None:  # cut: held until the heal, or lost when the request times out
                    if not (yield from self._held(self.src, self.dst, sent)):
                        continue
                else:
                    yield env.timeout(hop)
            else:
                sent = float(env.now)
            at_leader = False
            # ---- at the leader
            resume = cluster.broker_resume_at(leader)
            if resume == float("inf"):  # connection refused: back off, then try again
                yield env.timeout(self.backoff)
                continue
            if resume > env.now:
                yield env.timeout(resume - env.now)
            offsets: dict[Partition, int] = {}
            deadline = float(env.now) + self.wait_max
            while True:
                now = float(env.now)
                for part in self.parts:
                    if part not in offsets and part.leader == leader:
                        offsets[part] = part.leo[follower]
                        part._follower_fetch(follower, offsets[part], now)
                if not cluster.broker_ready(leader) or now >= deadline or any(
                        p.log.log_end_offset > off for p, off in offsets.items()):
                    break
                self.data = env.event()
                yield self.data | env.timeout(deadline - now)
                self.data = None
            resume = cluster.broker_resume_at(leader)
            if resume == float("inf"):  # the leader died under the long poll
                yield env.timeout(self.backoff)
                continue
            if resume > env.now:  # paused under the long poll: it answers when it resumes
                yield env.timeout(resume - env.now)
            response = [(p, p.leader_epoch, p.log.log_end_offset) for p in offsets
                        if p.leader == leader]
            hop = net.delay(self.dst, self.src)
            if hop is None:
                if not (yield from self._held(self.dst, self.src, sent)):
                    continue
            else:
                yield env.timeout(hop)
            # ---- back at the follower
            resume = cluster.broker_resume_at(follower)
            if resume == float("inf"):
                continue
            if resume > env.now:
                yield env.timeout(resume - env.now)
            for part, epoch, end in response:
                if part.leader_epoch == epoch and part in self.parts:
                    part._replicated(follower, end)
            self.rounds += 1
