"""A Kafka cluster: brokers, topics, partitions (leader + replicas), and the brokers' periodic
tasks — the retention check and the log cleaner — on simpy processes.

Kafka behaviour reproduced:

- ``create_topic`` places replicas as Kafka's rack-unaware assignment does (random start broker,
  leaders striped over brokers, followers shifted), validates the name, partition count and
  replication factor with Kafka's errors, and derives the topic config from the broker's
  ``log.*`` settings plus the topic overrides.
- Retention (``LogManager.cleanupLogs``): every ``log.retention.check.interval.ms`` after
  ``log.initial.task.delay.ms``, each ``delete`` log runs ``deleteOldSegments``. Logs that are
  ``compact,delete`` get theirs from the cleaner thread instead, after each cleaning attempt (as
  ``CleanerThread.tryCleanFilthiestLog``), unless ``log.cleaner.enable=false``.
- The cleaner (``log.cleaner.enable``): cleans the filthiest compacted log whose dirty ratio is
  above ``min.cleanable.dirty.ratio``, repeats while there is one, then sleeps
  ``log.cleaner.backoff.ms``. A pass takes no simulated time.
- Produce handling on the leader (``Partition.appendRecordsToLeader``): ``acks=all`` with an ISR
  smaller than ``min.insync.replicas`` is rejected before writing (``NotEnoughReplicas``);
  idempotent batches are deduplicated by producer id and sequence against the last 5 batches
  (``ProducerStateEntry.NUM_BATCHES_TO_RETAIN``), a sequence gap is ``OutOfOrderSequence``;
  ``message.timestamp.type=LogAppendTime`` stamps the broker's time.
- Replication (``models.kafka.replication``): followers fetch from the leader; the HW is
  the lowest LEO in the ISR and does not move while the ISR is smaller than
  ``min.insync.replicas`` (Kafka 3.7+, KAFKA-15583); ``acks=all`` waits for it.
- Faults (``models.kafka.controller``): ``fault_targets()`` names the brokers (``broker-0``…)
  and the clients (their ``client.id``); ``apply_fault`` crashes, restarts and pauses brokers
  and cuts, slows or degrades links between them or between a client and a broker. The
  controller fences a silent broker after ``broker.session.timeout.ms`` and elects new leaders.

Network: one client link with a fixed one-way ``latency`` (seconds) and optional loss or cut
windows for every client (``cluster.link``), plus per-pair faults (``cluster.net``). Broker
CPU, disk and request queueing are not modelled. The periodic tasks run forever, so run with
``sim.run(until=…)``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from models.kafka import compaction
from models.kafka.config import KafkaConfig, load, topic_defaults
from models.kafka.controller import Controller
from models.kafka.errors import (
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    KafkaError,
    NotEnoughReplicasError,
    OutOfOrderSequenceError,
    TopicExistsError,
    UnknownTopicOrPartitionError,
)
from models.kafka.inbound import Inbound
from models.kafka.log import Log
from models.kafka.network import KafkaNetwork, broker_name
from models.kafka.records import Deletion, KeyRegistry, RecordBatch
from models.kafka.replication import Replication
from sim.faults import Fault
from sim.simulation import Simulation
from sim.trace import REASON_CODE

_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
NUM_BATCHES_TO_RETAIN = 5
INF = float("inf")
RESERVE_MAX = 1 << 18  # records a partition's log makes room for at once for inbound batches

TRACE_SCHEMAS: dict[str, dict[str, str]] = {
    # a record written to a partition log (twice for a duplicate of a non-idempotent retry)
    "appended": {"msg": "i8", "channel": "i4", "partition": "i4", "offset": "i8", "t": "f8"},
    # records removed from a log by retention or compaction (reason: sim.trace.REASON_CODE)
    "log_deleted": {"msg": "i8", "channel": "i4", "partition": "i4", "offset": "i8", "t": "f8",
                    "reason": "i1"},
    # storage samples per partition and per broker
    "kafka_storage": {"t": "f8", "channel": "i4", "partition": "i4", "bytes": "i8",
                      "log_start": "i8", "log_end": "i8", "segments": "i4"},
    "kafka_broker_storage": {"t": "f8", "broker": "i4", "bytes": "i8"},
    # a send that failed for good (error: Kafka error code, -1 when it has none)
    "send_failed": {"msg": "i8", "t": "f8", "channel": "i4", "partition": "i4", "error": "i2"},
    # records removed from a log by a leader change (reason: unclean-election for records that
    # were committed, log-truncation for the others)
    "truncated": {"msg": "i8", "channel": "i4", "partition": "i4", "offset": "i8", "t": "f8",
                  "reason": "i1"},
}


class ClientLink:
    """The client↔broker network: fixed one-way latency, optional random loss, cut windows."""

    def __init__(self, sim: Simulation, latency: float, loss: float = 0.0) -> None:
        if latency < 0:
            raise ValueError(f"latency must not be negative: {latency!r}")
        if not 0.0 <= loss <= 1.0:
            raise ValueError(f"loss must be a probability, not {loss!r}")
        self.sim = sim
        self.latency = float(latency)
        self.cuts: list[tuple[float, float]] = []
        self.watchers: list[Callable[[], None]] = []
        self._loss = float(loss)
        self._rng = sim.rng("kafka/link")

    @property
    def loss(self) -> float:
        """Probability that a hop is lost."""
        return self._loss

    @loss.setter
    def loss(self, value: float) -> None:
        self._loss = float(value)
        self._changed()

    def watch(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` whenever cuts or loss change (planned traffic must be re-checked)."""
        self.watchers.append(fn)

    def _changed(self) -> None:
        for fn in list(self.watchers):
            fn()

    def delay(self) -> float:
        """Seconds the next hop takes."""
        return self.latency

    def cut(self, start: float, end: float) -> None:
        """Drop every hop sent during ``[start, end)`` (a network partition of the clients)."""
        self.cuts.append((float(start), float(end)))
        self._changed()

    def delivers(self) -> bool:
        """Whether a hop sent now arrives (False inside a cut or when randomly lost)."""
        now = self.sim.now
        for start, end in self.cuts:
            if start <= now < end:
                return False
        return not (self.loss and self._rng.random() < self.loss)


@dataclass(slots=True)
class Broker:
    """A broker's state: running (``up``), fenced by the controller, paused until a time."""

    id: int
    up: bool = True
    fenced: bool = False
    paused_until: float = 0.0
    incarnation: int = 0


@dataclass(slots=True)
class Topic:
    name: str
    id: int
    config: KafkaConfig
    partitions: list[Partition] = field(default_factory=list)


@dataclass(slots=True)
class AppendResult:
    """The leader's answer to one batch of a produce request."""

    base_offset: int = -1
    log_append_time: float = -1.0
    error: KafkaError | None = None
    duplicate: bool = False


def _out_of_order(expected: int, error: OutOfOrderSequenceError) -> OutOfOrderSequenceError:
    error.expected = expected  # the broker's next expected sequence (for the producer's reset)
    return error


class Partition(Replication):
    """One topic partition: the log, the HW, producer state, data notification, and its
    replicas (``models.kafka.replication``)."""

    def __init__(self, cluster: KafkaCluster, topic: Topic, index: int,
                 replicas: list[int]) -> None:
        self.cluster = cluster
        self.topic = topic.name
        self.topic_id = topic.id
        self.index = index
        self._log = Log(topic.config, cluster.sim.now, name=f"{topic.name}-{index}",
                        rng=cluster.sim.rng(f"kafka/{topic.name}-{index}/segment-jitter"))
        self.deletions: list[Deletion] = []
        self.on_delete: list[Callable[[Partition, Deletion], None]] = []
        self._env = cluster.env
        self._waiter: simpy.Event | None = None
        self._producers: dict[int, deque] = {}  # pid -> last batches (first_seq, last_seq, base)
        self._log_append_time = topic.config["message.timestamp.type"] == "LogAppendTime"
        # batches on their way (the producer's fast path): applied when their time has come
        self._inbound: list[Inbound] = []
        self._hw_queue: deque[list] = deque()  # [hw_at array, end offsets array, next index]
        self._next_change = INF  # earliest pending arrival or HW move
        self._next_hw = INF  # earliest pending HW move (arrived or not)
        self._timer_at = INF  # wake-up scheduled for a waiting fetch
        self.staging = True  # stage inbound batches in the log (tests switch it off to compare)
        self._init_replication(replicas)

    @property
    def log(self) -> Log:
        """The partition's ``Log``, with every inbound batch that has arrived by now applied
        (one arriving at this very instant first: see ``inbound`` on same-instant order)."""
        if self._next_change <= self._env.now:
            self._settle()
        return self._log

    def __repr__(self) -> str:
        return (f"Partition({self.topic}-{self.index}, leader={self.leader}, "
                f"offsets=[{self.log_start_offset}, {self.high_watermark}/{self.log_end_offset}))")

    # ---- offsets -------------------------------------------------------------------------
    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def high_watermark(self) -> int:
        return self.log.high_watermark

    @property
    def min_insync_replicas(self) -> int:
        return int(self.log.config["min.insync.replicas"])

    # ---- consumer side -------------------------------------------------------------------
    def read(self, offset: int, max_bytes: int | None = 1 << 20,
             max_records: int | None = None) -> RecordBatch:
        """Records from ``offset`` below the high watermark (see ``Log.read``)."""
        return self.log.read(offset, max_bytes, max_records)

    def available_bytes(self, offset: int) -> int:
        """Bytes readable from ``offset`` up to the high watermark."""
        offset = max(offset, self.log.log_start_offset)
        if offset >= self.log.high_watermark:
            return 0
        return self.log.bytes_between(offset, self.log.high_watermark)

    def wait_for_data(self, offset: int | None = None) -> simpy.Event:
        """Event that fires (value: the new HW) when the HW next advances, or at once if the HW
        is already above ``offset``."""
        env = self._env
        hw = self.log.high_watermark
        if offset is not None and hw > offset:
            event = env.event()
            event.succeed(hw)
            return event
        if self._waiter is None:
            self._waiter = env.event()
        if self._next_hw < self._timer_at:
            self._arm_timer()
        return self._waiter

    def update_high_watermark(self, offset: int) -> None:
        """Move the HW up to ``offset`` (capped at the LEO) unless the ISR is under min ISR."""
        if len(self.isr) < self.min_insync_replicas:
            return
        offset = min(offset, self.log.log_end_offset)
        if offset > self.log.high_watermark:
            self._set_high_watermark(offset)

    def _raise_hw(self, log: Log, offset: int) -> None:
        """The fast path's HW move (the ISR check is the caller's); none once faults have
        begun: the followers' fetches move the HW then (``models.kafka.replication``)."""
        offset = min(offset, log.log_end_offset)
        if offset > log.high_watermark and not self.cluster.replicating:
            self._set_high_watermark(offset)

    # ---- inbound batches (the producer's fast path) ----------------------------------------
    def add_inbound(self, batches: Inbound, expect: int = 0) -> None:
        """Batches a producer has sent (or will send) that reach this leader at ``batches.at``;
        appended then, as ``append`` would, but without an event each (see ``inbound``).
        ``expect``: records the producer will send here from these on (the log makes room for
        up to ``RESERVE_MAX`` of them at once)."""
        if expect:
            self._log.reserve(min(expect, RESERVE_MAX))
        self._inbound.append(batches)
        self.inbound_changed()

    def inbound_changed(self) -> None:
        """Recompute the next change time after inbound batches were added or revoked."""
        inbound = self._inbound
        if len(inbound) == 1 and inbound[0].applied < inbound[0].k:
            b = inbound[0]
            due = b.at_l[b.applied]
            hw = b.hw_l[b.applied]
        else:
            inbound = self._inbound = [b for b in inbound if b.applied < b.k]
            due = min((b.next_at() for b in inbound), default=INF)
            hw = min((b.next_hw_at() for b in inbound), default=INF)
        if self._hw_queue:
            head = self._hw_queue[0]
            hw = min(hw, float(head[0][head[2]]))
        self._next_change = min(due, hw)
        self._next_hw = hw
        if self._waiter is not None and hw < self._timer_at:
            self._arm_timer()

    def _arm_timer(self) -> None:
        at = self._next_hw
        self._timer_at = at
        self._env.timeout(max(0.0, at - self._env.now)).callbacks.append(
            lambda _e, at=at: self._on_timer(at))

    def _on_timer(self, at: float) -> None:
        if at == self._timer_at:
            self._timer_at = INF
        if self._next_change <= self._env.now:
            self._settle()
        if self._waiter is not None and self._next_hw < self._timer_at:
            self._arm_timer()

    def _settle(self) -> None:
        """Append the inbound batches that have arrived by now (in arrival order, each at its
        arrival time) and move the HW for those whose HW time has come."""
        now = self._env.now
        log = self._log
        inbound = self._inbound
        if len(inbound) == 1 and not self._hw_queue and self._settle_staged(inbound[0], log, now):
            return
        hw_ok = len(self.isr) >= int(log.config["min.insync.replicas"])
        if len(inbound) == 1:  # one producer's batches (the common case)
            b = inbound[0]
            i = b.applied
            if i < b.k and b.at_l[i] <= now:
                self._apply(b, i, bisect_right(b.at_l, now, i, b.k), log, hw_ok, now)
        while len(inbound) > 1:
            live = [b for b in self._inbound if b.applied < b.k]
            if not live:
                break
            first = min(live, key=Inbound.next_at)
            t0 = first.next_at()
            if t0 > now:
                break
            other = min((b.next_at() for b in live if b is not first), default=INF)
            i = first.applied
            # its batches up to the next batch of another producer (ties: list order)
            self._apply(first, i, bisect_right(first.at_l, min(now, other), i, first.k), log,
                        hw_ok, now)
        hwq = self._hw_queue
        while hwq:
            head = hwq[0]
            times, ends, k = head
            m = int(np.searchsorted(times, now, side="right"))
            if m > k:
                if hw_ok:
                    self._raise_hw(log, int(ends[m - 1]))
                head[2] = m
            if head[2] < len(times):
                break
            hwq.popleft()
        self.inbound_changed()

    def _settle_staged(self, b: Inbound, log: Log, now: float) -> bool:
        """``_settle`` in one go for the usual case of a consumer looking at the partition:
        one inbound, the batches that arrived staged (in timestamp order, create time) and
        visible at once (one replica). False, with nothing done, in any other case."""
        st = b.stage
        i = b.applied
        k = b.k
        if st is None or i >= k or st[0] != log._stage_epoch:
            return False
        at_l = b.at_l
        if at_l[i] > now:
            return False
        j = bisect_right(at_l, now, i, k)
        hw_l = b.hw_l
        if hw_l[j - 1] > now or self._log_append_time or not b.sorted:
            return False
        epoch, leo0, s0, _sbase, bmax = st
        bl = b.bl
        lo = bl[i]
        base = leo0 + lo - bl[s0]
        if not log.append_staged(epoch, base, bl[j] - lo, b.cs[j] - b.cs[i], bmax[j - 1 - s0],
                                 at_l[j - 1]):
            return False
        b.applied = j
        if b.pid >= 0:
            self._remember(b, i, j, base)
        end = base + bl[j] - lo  # the log end offset now
        if (end > log.high_watermark and len(self.isr) >= int(log.config["min.insync.replicas"])
                and not self.cluster.replicating):
            self._set_high_watermark(end)
        if j < k:  # inbound_changed, for one inbound
            due = at_l[j]
            hw = hw_l[j]
        else:
            self._inbound = []
            due = hw = INF
        self._next_change = min(due, hw)
        self._next_hw = hw
        if self._waiter is not None and hw < self._timer_at:
            self._arm_timer()
        return True

    def _remember(self, b: Inbound, i: int, j: int, base: int) -> None:
        """The leader's producer state for staged batches ``i:j`` of ``b`` (appended from
        offset ``base``): the last ``NUM_BATCHES_TO_RETAIN`` batches' sequences and offsets."""
        history = self._producers.get(b.pid)
        if history is None:
            history = self._producers[b.pid] = deque(maxlen=NUM_BATCHES_TO_RETAIN)
        bl = b.bl
        seq_l = b.seq_l
        lo = bl[i]
        for q in range(max(i, j - NUM_BATCHES_TO_RETAIN), j):
            seq = seq_l[q]
            history.append((seq, seq + bl[q + 1] - bl[q] - 1, base + bl[q] - lo))

    def _apply(self, b: Inbound, i: int, j: int, log: Log, hw_ok: bool, now: float) -> None:
        """Append batches ``i:j`` of ``b`` (staged when they can be: see ``inbound``)."""
        st = b.stage
        if (st is not None and st[0] == log._stage_epoch
                and st[1] + b.bl[i] - b.bl[st[2]] == log.log_end_offset) \
                or (self.staging and self._stage(b, i, j, log)):
            epoch, leo0, s0, sbase, bmax = b.stage
            bl = b.bl
            lo = bl[i]
            base = leo0 + lo - bl[s0]
            if self._log_append_time:
                top = b.at_l[j - 1]
            elif b.sorted:
                top = bmax[j - 1 - s0]
            else:
                top = max(bmax[i - s0:j - s0])
            if log.append_staged(epoch, base, bl[j] - lo, b.cs[j] - b.cs[i], top,
                                 b.at_l[j - 1]):
                b.applied = j  # (its base offsets are in the staging: see Inbound.bases)
                if b.pid >= 0:
                    self._remember(b, i, j, base)
                hw_l = b.hw_l
                m = j - i if hw_l[j - 1] <= now else bisect_right(hw_l, now, i, j) - i
                if m and hw_ok:
                    self._raise_hw(log, base + bl[i + m] - lo)
                if m < j - i:
                    bases = sbase[i - s0:j - s0]
                    ends = bases + (b.bounds[i + 1:j + 1] - b.bounds[i:j])
                    self._hw_queue.append([b.hw_at[i + m:j].copy(), ends[m:].copy(), 0])
                return
        bounds = b.bounds[i:j + 1]
        lo, hi = int(bounds[0]), int(bounds[-1])
        at = b.at[i:j]
        counts = bounds[1:] - bounds[:-1]
        if self._log_append_time:
            ts = np.repeat(at, counts)
            top = float(at[-1])
        else:
            ts = b.ts[lo:hi]
            top = float(ts[-1]) if b.sorted else None
        bases = log.append_many(b.msg[lo:hi], ts, b.size[lo:hi], b.key[lo:hi], bounds, at,
                                b.csize[lo:hi + 1], top)
        b.bases()[i:j] = bases
        b.applied = b.fill = j
        ends = bases + counts
        if b.pid >= 0:
            history = self._producers.get(b.pid)
            if history is None:
                history = self._producers[b.pid] = deque(maxlen=NUM_BATCHES_TO_RETAIN)
            q0 = max(0, j - i - NUM_BATCHES_TO_RETAIN)
            for seq, n, base in zip(b.seq[i + q0:j].tolist(), counts[q0:].tolist(),
                                    bases[q0:].tolist(), strict=True):
                history.append((seq, seq + n - 1, base))
        hw_at = b.hw_at[i:j]
        m = j - i if hw_at[-1] <= now else int(hw_at.searchsorted(now, side="right"))
        if m and hw_ok:
            self._raise_hw(log, int(ends[m - 1]))
        if m < j - i:
            self._hw_queue.append([hw_at[m:].copy(), ends[m:].copy(), 0])

    @property
    def next_hw_move(self) -> float:
        """When the high watermark next moves by the batches on their way (inf: none known)."""
        return self._next_hw

    def hw_ahead(self) -> tuple[bool, Inbound | None, float]:
        """Whether this partition's high watermark over time is known ahead, as far as the
        batches on their way tell (the consumers' lean lanes read it so, without settling):
        ``(True, b, inf)`` when the HW is the log end offset now (none pending, all visible),
        and every record to come before some other party appends is ``b``'s (None: no record
        is on its way) — batches ``b.applied`` to ``b.k - 1``, one producer's, staged in the
        log (``Log.row_columns`` has their rows), each visible at its ``b.hw_l`` time, in
        order; else ``(False, None, t)``: ``t`` is when that may change without an event (inf:
        only an event). Not with LogAppendTime, truncations, compaction, no leader or the ISR
        below ``min.insync.replicas``. Stages ``b`` now when it would be staged at its first
        append anyway (the same rows)."""
        log = self.log
        if (self._hw_queue or self._log_append_time
                or log.high_watermark != log.log_end_offset or self.truncations
                or self.leader < 0 or log.compact
                or len(self.isr) < int(log.config["min.insync.replicas"])):
            return False, None, INF
        live = [b for b in self._inbound if b.applied < b.k]
        if not live:
            return True, None, INF
        if len(live) > 1:
            return False, None, min(b.at_l[b.k - 1] for b in live)
        b = live[0]
        a, k = b.applied, b.k
        st = b.stage
        if (st is None or st[0] != log._stage_epoch) and self.staging:
            self._stage(b, a, a, log)
            st = b.stage
        bl = b.bl
        if (st is None or st[0] != log._stage_epoch or not b.sorted
                or st[1] + bl[a] - bl[st[2]] != log.log_end_offset
                or log._staged < bl[k] - bl[a]):
            return False, None, b.at_l[a]
        if not b.hw_in_order():
            return False, None, INF
        return True, b, INF

    def _stage(self, b: Inbound, i: int, j: int, log: Log) -> bool:
        """Stage batches ``i`` on of ``b`` in the log (about to append ``i:j``) when it pays
        and is safe: at least two batches would be left for later applies, nothing else can
        arrive before its last batch, and it was not staged twice already."""
        k = b.k
        if b.stagings >= 2 or k - j < 2:
            return False  # appended at once: as cheap the ordinary way
        last = b.at_l[k - 1]
        for c in self._inbound:
            if c is not b and c.applied < c.k and c.at_l[c.applied] <= last:
                return False
        bounds = b.bounds[i:k + 1]
        lo, hi = int(bounds[0]), int(bounds[-1])
        if self._log_append_time:
            ts = np.repeat(b.at[i:k], bounds[1:] - bounds[:-1])
        else:
            ts = b.ts[lo:hi]
        b.bases()  # the bases of the last staging go in before it is replaced
        log.unstage()
        epoch, leo0 = log.stage(b.msg[lo:hi], ts, b.size[lo:hi], b.key[lo:hi])
        rel = bounds[:-1] - lo
        bmax = None if self._log_append_time else np.maximum.reduceat(ts, rel).tolist()
        b.stage = (epoch, leo0, i, rel + leo0, bmax)
        b.stagings += 1
        return True

    # ---- broker side: produce --------------------------------------------------------------
    def append(self, msg: np.ndarray, timestamp: np.ndarray, size: np.ndarray,
               key: np.ndarray | None, null: np.ndarray | None, acks: str,
               producer_id: int = -1, base_sequence: int = -1,
               record: bool = True) -> AppendResult:
        """Handle one batch of a produce request on the leader (at the current time).

        ``record=False`` leaves the ``appended`` trace row to the caller (the producer writes
        one row set per request).
        """
        now = self.cluster.env.now
        n = len(msg)
        log = self.log  # inbound batches that arrived first get their offsets first
        if acks == "all" and len(self.isr) < self.min_insync_replicas:
            return AppendResult(error=NotEnoughReplicasError(
                f"The size of the current ISR {len(self.isr)} is insufficient to satisfy the "
                f"min.isr requirement of {self.min_insync_replicas} for partition "
                f"{self.topic}-{self.index}"))
        history = None
        if producer_id >= 0:
            history = self._producers.get(producer_id)
            if history:
                for first, last, base in history:
                    if first == base_sequence and last == base_sequence + n - 1:
                        return AppendResult(base, now, duplicate=True)
                expected = history[-1][1] + 1
            else:
                expected = 0
            if base_sequence != expected:
                return AppendResult(error=_out_of_order(expected, OutOfOrderSequenceError(
                    f"Out of order sequence number for producer {producer_id} at offset "
                    f"{self.log.log_end_offset} in partition {self.topic}-{self.index}: "
                    f"{base_sequence} (incoming seq. number), {expected - 1} (current end "
                    f"sequence number)")))
        if self._log_append_time:
            timestamp = np.full(n, now)
        try:
            base = log.append(msg, timestamp, size, key, null, now)
        except KafkaError as err:
            return AppendResult(error=err)
        if history is None and producer_id >= 0:
            history = self._producers[producer_id] = deque(maxlen=NUM_BATCHES_TO_RETAIN)
        if history is not None:
            history.append((base_sequence, base_sequence + n - 1, base))
        cluster = self.cluster
        if record and cluster.tracing:
            cluster.appended.extend(msg=msg, channel=self.topic_id, partition=self.index,
                                    offset=np.arange(base, base + n), t=now)
        self._appended(base, base + n)
        return AppendResult(base, now)

    # ---- deletions -----------------------------------------------------------------------
    def record_deletions(self, deletions: list[Deletion]) -> None:
        cluster = self.cluster
        for d in deletions:
            if not len(d):
                continue
            self.deletions.append(d)
            if cluster.tracing:
                cluster.log_deleted.extend(
                    msg=d.msg, channel=self.topic_id, partition=self.index, offset=d.offsets,
                    t=d.t, reason=REASON_CODE[d.reason])
            for fn in list(self.on_delete):
                fn(self, d)


class KafkaCluster:
    """``KafkaCluster(sim, brokers=3, config=None, latency=0.0005)``: brokers and topics.

    ``config`` is the broker config by Kafka name (``{"log.retention.check.interval.ms":
    1000}``); ``latency`` the one-way client↔broker latency in seconds;
    ``storage_sample_interval`` (seconds) adds regular storage samples to the trace (storage
    is always sampled after each retention check).
    """

    def __init__(self, sim: Simulation, brokers: int = 3,
                 config: Mapping[str, Any] | None = None, latency: float = 0.0005,
                 storage_sample_interval: float | None = None) -> None:
        if not isinstance(brokers, int) or brokers < 1:
            raise ValueError(f"brokers must be a positive integer, not {brokers!r}")
        self.sim = sim
        self.env = sim.env
        self.trace = sim.trace
        self.tracing = sim.trace.enabled
        self.config = load("broker", config)
        self.topic_defaults = topic_defaults(self.config)
        self.brokers = [Broker(i) for i in range(brokers)]
        self.topics: dict[str, Topic] = {}
        self.link = ClientLink(sim, latency)
        self.net = KafkaNetwork(sim, latency)
        self.controller = Controller(self)
        self.clients: dict[str, Any] = {}  # client.id -> producer or consumer (fault targets)
        self.all_ready = True  # no broker down or paused (the controller keeps it up to date)
        self.replicating = False  # steady until the first fault (models.kafka.replication)
        self.regime_listeners: list[Callable[[], None]] = []  # called when replicating starts
        self.steady_listeners: list[Callable[[], None]] = []  # called when it is steady again
        self.broker_listeners: list[Callable[[int], None]] = []  # called when a broker dies
        self.keys = KeyRegistry()
        self.values: dict[int, bytes | None] = {}
        self.coordinator: Any = None
        self._next_producer_id = 0
        self._client_seq = {"producer": 0, "consumer": 0}
        tables = {name: self.trace.table(name, schema) for name, schema in TRACE_SCHEMAS.items()}
        self.appended = tables["appended"]
        self.log_deleted = tables["log_deleted"]
        self.env.process(self._retention_task())
        if self.config["log.cleaner.enable"]:
            self.env.process(self._cleaner_task())
        if storage_sample_interval is not None:
            if storage_sample_interval <= 0:
                raise ValueError("storage_sample_interval must be positive")
            self.env.process(self._sampler(storage_sample_interval))

    @property
    def latency(self) -> float:
        return self.link.latency

    # ---- topics --------------------------------------------------------------------------
    def create_topic(self, name: str, partitions: int | None = None,
                     replication_factor: int | None = None,
                     config: Mapping[str, Any] | None = None) -> Topic:
        """Create topic ``name`` (defaults: ``num.partitions``, ``default.replication.factor``)."""
        if not isinstance(name, str) or not _TOPIC_NAME.match(name) or name in (".", ".."):
            raise KafkaError(f"Topic name {name!r} is illegal: use up to 249 ASCII letters, "
                             f"digits, '.', '_' and '-'")
        if name in self.topics:
            raise TopicExistsError(f"Topic '{name}' already exists.")
        partitions = self.config["num.partitions"] if partitions is None else partitions
        rf = self.config["default.replication.factor"] if replication_factor is None \
            else replication_factor
        if not isinstance(partitions, int) or partitions < 1:
            raise InvalidPartitionsError(f"Number of partitions must be larger than 0, "
                                         f"not {partitions!r}.")
        if not isinstance(rf, int) or rf < 1:
            raise InvalidReplicationFactorError(
                f"Replication factor must be larger than 0, not {rf!r}.")
        if rf > len(self.brokers):
            raise InvalidReplicationFactorError(
                f"Replication factor: {rf} larger than available brokers: {len(self.brokers)}.")
        topic_config = load("topic", config, self.topic_defaults)
        topic = Topic(name, self.trace.channels.id(name), topic_config)
        for index, replicas in enumerate(self._place(partitions, rf)):
            topic.partitions.append(Partition(self, topic, index, replicas))
        self.topics[name] = topic
        for part in topic.partitions:
            if not self.broker_live(part.leader):
                self.controller.elect(part)
            # the followers' first fetch is already waiting at the leader
            self.controller.follow(part, at_leader=True)
        return topic

    def _place(self, partitions: int, rf: int) -> list[list[int]]:
        """Kafka's rack-unaware replica assignment (random start index and follower shift)."""
        n = len(self.brokers)
        rng = self.sim.rng("kafka/placement")
        start = int(rng.integers(n))
        shift = int(rng.integers(n))
        out = []
        for p in range(partitions):
            if p > 0 and p % n == 0:
                shift += 1
            first = (p + start) % n
            replicas = [first]
            for j in range(rf - 1):
                replicas.append((first + 1 + (shift + j) % (n - 1)) % n)
            out.append(replicas)
        return out

    def topic(self, name: str) -> Topic:
        try:
            return self.topics[name]
        except KeyError:
            raise UnknownTopicOrPartitionError(
                f"This server does not host this topic-partition: {name!r}") from None

    def partition(self, topic: str, index: int) -> Partition:
        parts = self.topic(topic).partitions
        if not 0 <= index < len(parts):
            raise UnknownTopicOrPartitionError(
                f"Topic {topic!r} has partitions 0..{len(parts) - 1}, not {index}")
        return parts[index]

    def all_partitions(self) -> list[Partition]:
        return [p for t in self.topics.values() for p in t.partitions]

    # ---- clients -------------------------------------------------------------------------
    def producer(self, config: Mapping[str, Any] | None = None):
        """A new ``Producer`` with this producer config (Kafka names, 4.x defaults)."""
        from models.kafka.producer import Producer

        return Producer(self, config)

    def consumer(self, config: Mapping[str, Any] | None = None):
        """A new consumer (``models.kafka.consumer.Consumer``) with this consumer config."""
        from models.kafka.consumer import Consumer  # the consumer side provides it

        return Consumer(self, config)

    def client_id(self, kind: str, given: str = "") -> str:
        """Kafka's generated ``client.id`` (``producer-1``, ``consumer-2``…) when none is set."""
        self._client_seq[kind] += 1
        return given or f"{kind}-{self._client_seq[kind]}"

    def new_producer_id(self) -> int:
        self._next_producer_id += 1
        return self._next_producer_id - 1

    # ---- brokers and faults ----------------------------------------------------------------
    def broker_ready(self, broker: int) -> bool:
        """Whether ``broker`` runs and is not paused now (it handles requests at once)."""
        if self.all_ready:
            return True
        b = self.brokers[broker]
        return b.up and b.paused_until <= self.env.now

    def broker_live(self, broker: int) -> bool:
        """Whether the controller counts on ``broker`` (running and not fenced)."""
        b = self.brokers[broker]
        return b.up and not b.fenced

    def broker_resume_at(self, broker: int) -> float:
        """When ``broker`` next handles a request: now, the end of its pause, or inf (down)."""
        if self.all_ready:
            return float(self.env.now)
        b = self.brokers[broker]
        if not b.up:
            return float("inf")
        return max(float(self.env.now), b.paused_until)

    def broker_id(self, name: str) -> int | None:
        """``"broker-2"`` → 2 (None for any other name)."""
        for b in self.brokers:
            if broker_name(b.id) == name:
                return b.id
        return None

    def register_client(self, client_id: str, client: Any) -> None:
        """A producer or consumer joins the fault targets under its ``client.id``."""
        self.clients[client_id] = client

    def client_hop(self, client: str, broker: int, to_broker: bool = True) -> float | None:
        """Seconds for one message between a client and a broker now (``None``: lost), over
        the shared client link and the pair's own faults."""
        link = self.link
        if (link.loss or link.cuts) and not link.delivers():
            return None
        net = self.net
        if not net.faulty:
            return link.delay()
        b = broker_name(broker)
        delay = net.delay(client, b) if to_broker else net.delay(b, client)
        return None if delay is None else delay - net.latency + link.delay()

    def serves(self, part: Partition, client: str) -> bool:
        """Whether ``part`` has a leader that runs, is not paused and ``client`` reaches."""
        leader = part.leader
        if leader < 0 or not self.broker_ready(leader):
            return False
        net = self.net
        if not net.faulty:
            return True
        b = broker_name(leader)
        return net.reachable(client, b) and net.reachable(b, client)

    def fault_targets(self) -> set[str]:
        """Party names for ``sim.faults.FaultSchedule``: every broker and every client."""
        return {broker_name(b.id) for b in self.brokers} | set(self.clients)

    def apply_fault(self, fault: Fault) -> None:
        """Carry out one fault (see ``models.kafka.controller``)."""
        self.controller.apply_fault(fault)

    # ---- storage -------------------------------------------------------------------------
    def storage_bytes(self) -> dict[tuple[str, int], int]:
        """Bytes stored per partition (one replica)."""
        return {(p.topic, p.index): p.log.size_bytes for p in self.all_partitions()}

    def storage_by_broker(self) -> dict[int, int]:
        """Bytes stored per broker, counting every replica it hosts."""
        out = dict.fromkeys(range(len(self.brokers)), 0)
        for p in self.all_partitions():
            for b in p.replicas:
                out[b] += p.log.size_bytes
        return out

    def sample_storage(self) -> None:
        """Write one storage sample per partition and per broker to the trace."""
        if not self.tracing:
            return
        parts = self.all_partitions()
        now = self.env.now
        if parts:
            self.trace.table("kafka_storage").extend(
                t=now, channel=np.array([p.topic_id for p in parts]),
                partition=np.array([p.index for p in parts]),
                bytes=np.array([p.log.size_bytes for p in parts]),
                log_start=np.array([p.log_start_offset for p in parts]),
                log_end=np.array([p.log_end_offset for p in parts]),
                segments=np.array([len(p.log.segments) for p in parts]))
        by_broker = self.storage_by_broker()
        self.trace.table("kafka_broker_storage").extend(
            t=now, broker=np.array(list(by_broker)), bytes=np.array(list(by_broker.values())))

    # ---- periodic tasks ------------------------------------------------------------------
    def cleanup_logs(self) -> int:
        """One retention pass (``LogManager.cleanupLogs``); returns records deleted."""
        now = self.env.now
        cleaner = self.config["log.cleaner.enable"]
        deleted = 0
        for p in self.all_partitions():
            if p.log.compact and cleaner:
                continue  # compact,delete logs: the cleaner runs their retention
            deletions = p.log.delete_old_segments(now)
            p.record_deletions(deletions)
            deleted += sum(len(d) for d in deletions)
        return deleted

    def clean_filthiest(self) -> bool:
        """Clean the compacted log with the highest dirty ratio above its threshold, if any."""
        now = self.env.now
        best = None
        for p in self.all_partitions():
            c = compaction.needs_cleaning(p.log, now)
            if c is not None and (best is None or c.ratio > best[1].ratio):
                best = (p, c)
        if best is None:
            return False
        p, c = best
        p.record_deletions([compaction.clean(p.log, now, c)])
        return True

    def _retention_task(self):
        yield self.env.timeout(self.config["log.initial.task.delay.ms"] / 1000.0)
        period = self.config["log.retention.check.interval.ms"] / 1000.0
        while True:
            self.cleanup_logs()
            self.sample_storage()
            yield self.env.timeout(period)

    def _cleaner_task(self):
        backoff = self.config["log.cleaner.backoff.ms"] / 1000.0
        while True:
            while self.clean_filthiest():
                self._delete_compacted()
            self._delete_compacted()
            yield self.env.timeout(backoff)

    def _delete_compacted(self) -> None:
        now = self.env.now
        for p in self.all_partitions():
            if p.log.compact and p.log.delete:
                p.record_deletions(p.log.delete_old_segments(now))

    def _sampler(self, interval: float):
        while True:
            self.sample_storage()
            yield self.env.timeout(interval)
