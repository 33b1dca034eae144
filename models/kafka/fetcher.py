"""The consumer's fetch side: records as the application sees them, per-partition positions,
long-poll fetches below the high watermark, and offset resets.

Reproduces the Java client's ``Fetcher`` / ``SubscriptionState`` (see ``models.kafka.consumer``
for the behaviour list). ``Fetcher`` is a mixin of ``Consumer``: it works on the consumer's
state (``_assigned``, ``_ready``, the fetch settings read from the config in
``Consumer.__init__``) and keeps no state of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import simpy

from models.kafka.assignors import TopicPartition
from models.kafka.errors import KafkaError, NoOffsetForPartitionError, OffsetOutOfRangeError
from models.kafka.network import broker_name
from models.kafka.records import RecordBatch
from sim.trace import REASON_CODE

_RETENTION = REASON_CODE["retention"]
_OFFSET_RESET = REASON_CODE["offset-reset"]


class ConsumerRecord(NamedTuple):
    """One record, as kafka-python's ``ConsumerRecord`` (timestamp in simulated seconds)."""

    topic: str
    partition: int
    offset: int
    timestamp: float
    key: bytes | None
    value: bytes | None
    msg: int


_RECORD_COLUMNS = ("offset", "msg", "timestamp", "size", "key", "null")


def _column_property(name: str) -> property:
    """A ``Records`` column, sliced from its batch when first read."""
    return property(lambda self: self._column(name), doc=f"The records' ``{name}`` column.")


class Records:
    """The records of one partition returned by one ``poll()``: numpy columns, oldest first.

    Iterating yields ``ConsumerRecord`` tuples (built on demand, for interactive use). The
    columns are rows ``i:j`` of the fetched ``RecordBatch`` they came from, sliced when first
    read (most loops only look at ``msg`` and ``offset``).
    """

    __slots__ = ("_batch", "_cluster", "_cols", "_i", "_j", "partition", "topic")

    def __init__(self, cluster: Any, tp: TopicPartition, batch: RecordBatch, i: int = 0,
                 j: int | None = None) -> None:
        self._cluster = cluster
        self.topic, self.partition = tp
        self._batch = batch
        self._i = i
        self._j = len(batch.offset) if j is None else j
        self._cols: dict[str, np.ndarray] = {}

    def _column(self, name: str) -> np.ndarray:
        col = self._cols.get(name)
        if col is None:
            whole = getattr(self._batch, name)
            i, j = self._i, self._j
            col = whole if i == 0 and j == len(whole) else whole[i:j]
            self._cols[name] = col
        return col

    offset = _column_property("offset")
    msg = _column_property("msg")
    timestamp = _column_property("timestamp")
    size = _column_property("size")
    key = _column_property("key")
    null = _column_property("null")

    def __len__(self) -> int:
        return self._j - self._i

    def __iter__(self) -> Iterator[ConsumerRecord]:
        for i in range(len(self.offset)):
            yield self._record(i)

    def __getitem__(self, i: int | slice) -> ConsumerRecord | Records:
        if isinstance(i, slice):  # a batch of the sliced columns (any step)
            columns = {name: self._column(name)[i] for name in _RECORD_COLUMNS}
            batch = replace(self._batch, **columns)
            return Records(self._cluster, TopicPartition(self.topic, self.partition), batch)
        n = len(self.offset)
        if not -n <= i < n:
            raise IndexError(f"record index {i} out of range for {n} records")
        return self._record(i % n)

    def _record(self, i: int) -> ConsumerRecord:
        msg = int(self.msg[i])
        value = None if self.null[i] else self._cluster.values.get(msg)
        return ConsumerRecord(self.topic, self.partition, int(self.offset[i]),
                              float(self.timestamp[i]),
                              self._cluster.keys.bytes(int(self.key[i])), value, msg)

    def __repr__(self) -> str:
        span = f"{self.offset[0]}..{self.offset[-1]}" if len(self) else "-"
        return f"Records({self.topic}-{self.partition}, n={len(self)}, offsets {span})"


class ConsumerRecords(dict):
    """What ``poll()`` gives: ``{TopicPartition: Records}`` (kafka-python returns a dict too)."""

    def count(self) -> int:
        """Number of records (Java ``ConsumerRecords.count()``)."""
        return sum(len(r) for r in self.values())

    def is_empty(self) -> bool:
        return not self

    def records(self) -> Iterator[ConsumerRecord]:
        """Every record, partition by partition."""
        for recs in self.values():
            yield from recs


class PartitionState:
    """Client-side state of one assigned partition."""

    __slots__ = ("buf", "buf_i", "checked", "epoch", "error", "hw", "part", "paused",
                 "position", "tp")

    def __init__(self, tp: TopicPartition, part: Any) -> None:
        self.tp = tp
        self.part = part  # the cluster's Partition
        self.position: int | None = None
        self.paused = False
        self.buf = None  # RecordBatch being drained
        self.buf_i = 0
        self.hw = -1  # high watermark from the last fetch response
        self.epoch = 0  # bumped by seek/reset/revoke: stale fetch responses are ignored
        self.error: KafkaError | None = None
        self.checked = -1.0  # when the position was last known to be on the leader's log


class _Diverged(NamedTuple):
    """KIP-320: the log was truncated below the fetch position; resume at ``offset``."""

    offset: int


class Fetcher:
    """Fetching, draining and positions (mixin of ``Consumer``)."""

    def _wake_event(self) -> simpy.Event:
        if self._wake is None:
            self._wake = self.env.event()
        return self._wake

    def _wakeup(self) -> None:
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.succeed()

    def _drain(self, limit: int, now: float) -> ConsumerRecords:
        out = ConsumerRecords()
        ready = self._ready
        if not ready or self._closing:
            return out
        assigned = self._assigned
        skipped = []
        while limit > 0 and ready:
            st = ready[0]
            if assigned.get(st.tp) is not st or st.buf is None:
                ready.popleft()
                continue
            if st.paused or st.tp in out:
                skipped.append(ready.popleft())
                continue
            batch, i = st.buf, st.buf_i
            n = len(batch.offset) - i
            take = n if n <= limit else limit
            j = i + take
            recs = Records(self.cluster, st.tp, batch, i, j)
            if j >= len(batch.offset):
                st.buf = None
                st.position = batch.next_offset
                ready.popleft()
            else:
                st.buf_i = j
                st.position = int(batch.offset[j])
            out[st.tp] = recs
            limit -= take
            self.stats["records"] += take
        if skipped:
            ready.extendleft(reversed(skipped))
        if out and self._tracing and self.trace_on_poll:
            parts = [r.msg for r in out.values()]
            msg = parts[0] if len(parts) == 1 else np.concatenate(parts)
            self._delivered.extend(msg=msg, receiver=self.receiver, via=-1, t=now)
        return out

    def _lost(self, broker: int | None = None) -> bool:
        """Whether a hop sent now is dropped (``cluster.link`` loss or cut); with ``broker``,
        also when that broker is down, paused, or cut off from this client."""
        cluster = self.cluster
        link = cluster.link
        if bool(link.loss or link.cuts) and not link.delivers():
            return True
        if broker is None:
            return False
        if broker < 0 or not cluster.broker_ready(broker):
            return True
        net = cluster.net
        if not net.faulty:
            return False
        name = broker_name(broker)
        return not (net.reachable(self.client_id, name) and net.reachable(name, self.client_id))

    def _coordinator(self) -> int | None:
        """The broker of this consumer's group coordinator (None without a group)."""
        group = self._group
        return None if group is None else group.broker

    def _call(self, handler: Callable[[], Any], broker: int | None = None):
        """One request/response exchange (``yield from``): the request crosses the link,
        ``handler()`` runs at the broker, the answer crosses back. Gives ``(True, result)``, or
        ``(False, None)`` once ``request.timeout.ms`` has passed if either hop was lost."""
        env = self.env
        link = self.cluster.link
        sent = float(env.now)
        if self._lost(broker):
            yield env.timeout(self._request_timeout)
            return False, None
        yield env.timeout(link.delay())
        result = handler()
        if self._lost(broker):
            yield env.timeout(max(0.0, sent + self._request_timeout - env.now))
            return False, None
        yield env.timeout(link.delay())
        return True, result

    def _maybe_fetch(self) -> None:
        if self._fetching or self._closed:
            return
        wanted = [
            (st, st.epoch, st.position)
            for st in self._assigned.values()
            if st.position is not None and st.buf is None and not st.paused and st.error is None
        ]
        if wanted:
            self._fetching = True
            self.stats["fetches"] += 1
            if self._fetch_engine is not None:
                self._fetch_engine(wanted)  # the loop's callback fast path (models.kafka.fastloop)
            else:
                self.env.process(self._fetch(wanted))

    def _fetch(self, wanted: list[tuple[PartitionState, int, int]]):
        """One Fetch request: over the link, long-poll on the broker, back over the link."""
        env = self.env
        link = self.cluster.link
        sent = float(env.now)
        if self._lost():
            yield env.timeout(self._request_timeout)
            self._fetching = False
            self._wakeup()
            return
        yield env.timeout(link.delay())
        deadline = env.now + self._fetch_max_wait
        min_bytes = self._fetch_min_bytes
        cluster = self.cluster
        me = self.client_id
        while env.now < deadline:
            served = [w for w in wanted if cluster.serves(w[0].part, me)]
            if self._fetch_ready(served, min_bytes):
                break
            waits = [st.part.wait_for_data() for st, _, _ in wanted]
            yield env.any_of([*waits, env.timeout(deadline - env.now)])
        answered = float(env.now)
        answers = self._fetch_answers(wanted)
        if self._lost():
            yield env.timeout(max(0.0, sent + self._request_timeout - env.now))
            self._fetching = False
            self._wakeup()
            return
        yield env.timeout(link.delay())
        self._fetch_apply(answers, answered)

    def _fetch_answers(self, wanted: list[tuple[PartitionState, int, int]]) -> list[tuple]:
        """The broker answers a fetch now: per wanted partition a batch, an error or nothing."""
        cluster = self.cluster
        me = self.client_id
        budget = self._fetch_max_bytes
        answers = []
        for st, epoch, off in wanted:
            part = st.part
            if not cluster.serves(part, me):  # NotLeaderOrFollower: metadata, next fetch
                answers.append((st, epoch, off, None, None))
                continue
            if part.truncations:
                diverged = min((end for t, end, _n, _hw in part.truncations if t > st.checked),
                               default=off)
                if diverged < off:
                    answers.append((st, epoch, off, None, _Diverged(diverged)))
                    continue
            try:
                if budget <= 0:
                    answers.append((st, epoch, off, None, None))
                    continue
                batch = st.part.read(off, min(self._partition_max_bytes, budget))
                budget -= batch.nbytes
                answers.append((st, epoch, off, batch, None))
            except OffsetOutOfRangeError as error:
                answers.append((st, epoch, off, None, error))
        return answers

    def _fetch_apply(self, answers: list[tuple], answered: float) -> None:
        """The fetch response arrives now: buffer the batches, handle errors, wake ``poll()``."""
        self._fetching = False
        if self._closed:
            return
        assigned = self._assigned
        now = float(self.env.now)
        for st, epoch, off, batch, error in answers:
            if assigned.get(st.tp) is not st or st.epoch != epoch or st.position != off:
                continue  # revoked, sought or reset meanwhile: Kafka drops such responses
            if isinstance(error, _Diverged):
                self._diverged(st, error.offset, now)
            elif error is not None:
                self._out_of_range(st, now)
            elif batch is not None:
                st.checked = answered
                st.hw = batch.high_watermark
                if len(batch.offset):
                    st.buf, st.buf_i = batch, 0
                    self._ready.append(st)
                elif batch.next_offset > off:
                    st.position = batch.next_offset  # only compacted-away offsets in between
        self._wakeup()

    @staticmethod
    def _fetch_ready(wanted: list[tuple[PartitionState, int, int]], min_bytes: int) -> bool:
        total = 0
        for st, _, off in wanted:
            part = st.part
            log = part.log  # settled once (the partition's offsets are its log's)
            if off < log.log_start_offset or off > log.log_end_offset:
                return True  # an error answers at once
            if log.high_watermark > off:
                if min_bytes <= 1:
                    return True
                total += part.available_bytes(off)
                if total >= min_bytes:
                    return True
        return min_bytes <= 0

    def _add(self, tps: list[TopicPartition]) -> None:
        """Start consuming ``tps``: their positions come from the committed offsets or reset."""
        if not tps:
            return
        for tp in tps:
            self._assigned[tp] = PartitionState(tp, self.cluster.partition(tp.topic, tp.partition))
        if self._group is not None and self._member_id is not None:
            self._group.acquire(self._member_id, tps)
        # the states are taken now: an assign()/unsubscribe()/crash at this same instant may
        # remove them before the process first runs; its answers for them are then dropped,
        # as the Java client drops an OffsetFetch response for partitions no longer assigned
        states = [(tp, self._assigned[tp], self._assigned[tp].epoch) for tp in tps]
        self.env.process(self._init_positions(states))

    def _init_positions(self, states: list[tuple[TopicPartition, PartitionState, int]]):
        """OffsetFetch to the coordinator; ListOffsets by ``auto.offset.reset`` if none."""
        tps = [tp for tp, _, _ in states]
        committed: dict[TopicPartition, int | None] = dict.fromkeys(tps)
        group = self._group
        ok = group is None
        checked = dict.fromkeys(tps, float(self.env.now))
        while not ok and not self._closed:  # OffsetFetch, retried after a timeout
            ok, found = yield from self._call(lambda: {tp: group.committed(tp) for tp in tps},
                                              self._coordinator())
            if ok:
                committed = found
                checked = {tp: group.committed_time(tp) for tp in tps}
        resets: dict[TopicPartition, int] = {}
        if any(v is None for v in committed.values()) and self._reset_policy != "none":
            ok = False
            while not ok and not self._closed:  # ListOffsets
                ok, found = yield from self._call(lambda: {
                    tp: self._reset_offset(st) for tp, st, _ in states if committed[tp] is None})
                if ok:
                    resets = found
        for tp, st, epoch in states:
            if self._assigned.get(tp) is not st or st.epoch != epoch or st.position is not None:
                continue
            if committed[tp] is not None:
                st.position = committed[tp]
                st.checked = checked[tp]  # a committed offset is as fresh as its commit
            elif tp in resets:
                st.checked = float(self.env.now)
                st.position = resets[tp]
            else:
                st.error = NoOffsetForPartitionError(f"Undefined offset with no reset policy "
                                                     f"for partitions: {tp}")
        self._maybe_fetch()
        self._wakeup()

    def _diverged(self, st: PartitionState, offset: int, now: float) -> None:
        """KIP-320: a leader change truncated the log below the position; the consumer goes
        back to where the logs diverged (the records it read above it are gone)."""
        self.trace.event(now, "log-truncation", self.name, partition=st.tp, old=st.position,
                         new=offset)
        st.epoch += 1
        st.buf = None
        st.position = offset
        st.checked = now

    def _reset_offset(self, st: PartitionState) -> int:
        if self._reset_policy == "earliest":
            return st.part.log_start_offset
        return st.part.high_watermark

    def _out_of_range(self, st: PartitionState, now: float) -> None:
        """The fetch position is outside the log: reset it by ``auto.offset.reset``, tracing
        the records this consumer will never see."""
        log = st.part
        old = st.position
        self.stats["resets"] += 1
        if self._reset_policy == "none":
            st.error = OffsetOutOfRangeError(
                f"Fetch position {old} is out of range for partition {st.tp}",
                partition=st.tp, offset=old, log_start_offset=log.log_start_offset,
                log_end_offset=log.log_end_offset)
            return
        new = self._reset_offset(st)
        if self._tracing and old is not None and old < log.log_start_offset:
            lost = [d.msg[(d.offsets >= old) & (d.offsets < log.log_start_offset)]
                    for d in log.deletions if d.reason == "retention" and d.end_offset > old]
            lost = [m for m in lost if len(m)]
            if lost:
                self._dropped.extend(msg=np.concatenate(lost), receiver=self.receiver, t=now,
                                     reason=_RETENTION)
            if new > log.log_start_offset:
                skipped = log.read(log.log_start_offset, None, new - log.log_start_offset)
                if len(skipped.msg):
                    self._dropped.extend(msg=skipped.msg, receiver=self.receiver, t=now,
                                         reason=_OFFSET_RESET)
        self.trace.event(now, "offset-reset", self.name, partition=st.tp, old=old,
                         new=new, policy=self._reset_policy)
        st.epoch += 1
        st.buf = None
        st.position = new

