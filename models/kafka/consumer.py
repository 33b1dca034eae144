"""The Kafka consumer: subscribe or assign, long-poll fetches, positions, commits, group membership.

``Consumer(cluster, config)`` (what ``cluster.consumer(config)`` returns) speaks kafka-python's
language — ``subscribe``, ``assign``, ``poll``, ``commit``, ``commit_async``, ``seek``,
``seek_to_beginning``, ``seek_to_end``, ``position``, ``committed``, ``pause``, ``resume``,
``assignment``, ``close`` — except that whatever would block returns a simpy event to ``yield``
inside a process (``records = yield consumer.poll(timeout_ms=100)``).

Kafka behaviour reproduced (Java ``KafkaConsumer``, classic group protocol):

- ``poll()`` first does the group work (auto-commit when ``auto.commit.interval.ms`` has passed,
  committing the positions reached by the *previous* polls; joining when a rebalance is
  needed), then returns up to ``max.poll.records`` buffered records, draining one partition's
  fetched data before the next; with nothing buffered it sends a fetch and waits up to the
  poll timeout. The position advances when records are returned.
- Fetch: one request in flight per consumer over the partitions that have a position, are not
  paused and have no buffered data. After the one-way latency the broker answers once
  ``fetch.min.bytes`` are available below the high watermark or ``fetch.max.wait.ms`` has
  passed; each partition gives up to ``max.partition.fetch.bytes`` and the response up to
  ``fetch.max.bytes`` (both soft: the first record always comes). Never at or above the HW.
- A new partition's position is its committed offset (OffsetFetch round trip) or, without one,
  ``auto.offset.reset``: ``earliest`` = log start, ``latest`` = high watermark, ``none`` =
  ``NoOffsetForPartitionError`` from the next ``poll()``. A fetch below the log start (retention
  deleted the position) is reset the same way; the records skipped are traced as dropped for
  this consumer: deleted ones with reason ``retention``, retained ones jumped over by a reset
  to ``latest`` with reason ``offset-reset``.
- Group membership (``subscribe``): JoinGroup at the first ``poll()``; the assignment arrives a
  JoinGroup response plus a SyncGroup round trip after the rebalance completes. Eager protocol
  (any non-cooperative assignor listed, as the default ``range, cooperative-sticky``): before
  rejoining, auto-commit (if enabled), then revoke every partition. Cooperative protocol (only
  ``cooperative-sticky``): keep consuming while the rebalance runs, revoke only the
  partitions the new assignment takes away, then rejoin for the follow-up round. A background
  heartbeat every ``heartbeat.interval.ms`` keeps the session alive and reports rebalances; when
  ``max.poll.interval.ms`` passes without a ``poll()`` the consumer leaves the group.
- Commits: ``commit()`` (sync) / ``commit_async()`` send the positions of all assigned
  partitions (or given offsets, the *next* offset to read) in an OffsetCommit round trip; a
  commit from a stale generation fails with ``CommitFailedError``.
- Trace: each ``poll()`` appends its records to ``trace.delivered`` (one ``extend`` per
  partition per poll) for receiver ``"<group>/<client.id>"``; ``trace_on_poll=False`` leaves
  that to the caller (``models.kafka.loops`` records deliveries when processing ends).

- Network: every request and answer crosses ``cluster.link`` (latency; loss and cuts). A lost
  request or answer is noticed after ``request.timeout.ms``: fetches, OffsetFetch, ListOffsets
  and JoinGroup are then retried, a commit fails with ``KafkaTimeoutError``; lost heartbeats
  simply do not count, so a long cut ends in a session timeout and a rebalance.

Not modelled: one fetch per leader broker (here one per consumer), the ListOffsets round trip
of a reset after OffsetOutOfRange (applied at once), fetch sessions,
``isolation.level=read_committed``, topic patterns, static membership, KIP-848, commitSync's
retries up to ``default.api.timeout.ms``. ``committed()`` and ``position()`` answer at once
instead of blocking.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np
import simpy

from models.kafka.assignors import COOPERATIVE, TopicPartition
from models.kafka.config import load
from models.kafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
    RebalanceInProgressError,
)
from models.kafka.group import (
    ILLEGAL_GENERATION,
    REBALANCE_IN_PROGRESS,
    UNKNOWN_MEMBER_ID,
    Group,
    JoinResult,
    coordinator_of,
)
from sim.trace import REASON_CODE

__all__ = ["Consumer", "ConsumerRecord", "ConsumerRecords", "Records", "TopicPartition"]

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


class Records:
    """The records of one partition returned by one ``poll()``: numpy columns, oldest first.

    Iterating yields ``ConsumerRecord`` tuples (built on demand, for interactive use).
    """

    __slots__ = ("_cluster", "key", "msg", "null", "offset", "partition", "size", "timestamp",
                 "topic")

    def __init__(self, cluster: Any, tp: TopicPartition, offset: np.ndarray, msg: np.ndarray,
                 timestamp: np.ndarray, size: np.ndarray, key: np.ndarray,
                 null: np.ndarray) -> None:
        self._cluster = cluster
        self.topic, self.partition = tp
        self.offset, self.msg, self.timestamp = offset, msg, timestamp
        self.size, self.key, self.null = size, key, null

    def __len__(self) -> int:
        return len(self.offset)

    def __iter__(self) -> Iterator[ConsumerRecord]:
        for i in range(len(self.offset)):
            yield self._record(i)

    def __getitem__(self, i: int | slice) -> ConsumerRecord | Records:
        if isinstance(i, slice):
            return Records(self._cluster, TopicPartition(self.topic, self.partition),
                           self.offset[i], self.msg[i], self.timestamp[i], self.size[i],
                           self.key[i], self.null[i])
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


class _Partition:
    """Client-side state of one assigned partition."""

    __slots__ = ("buf", "buf_i", "epoch", "error", "hw", "part", "paused", "position", "tp")

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


class Consumer:
    """A Kafka consumer on ``cluster`` with ``config`` by Kafka's property names."""

    def __init__(self, cluster: Any, config: Mapping[str, Any] | None = None, *,
                 trace_on_poll: bool = True) -> None:
        self.cluster = cluster
        self.env: simpy.Environment = cluster.env
        self.trace = cluster.trace
        self.config = cfg = load("consumer", config)
        self.group_id: str | None = cfg["group.id"]
        given = cfg["client.id"] or ""
        client_id = cluster.client_id("consumer", given)
        if not given and self.group_id:
            client_id = f"consumer-{self.group_id}-{client_id.rsplit('-', 1)[1]}"
        self.client_id = client_id
        name = f"{self.group_id}/{client_id}" if self.group_id else client_id
        self.receiver = self.trace.receiver(name, group=self.group_id)
        self.trace_on_poll = trace_on_poll
        self._tracing = self.trace.enabled
        self._delivered = self.trace.delivered
        self._dropped = self.trace.dropped

        self._reset_policy = cfg["auto.offset.reset"]
        self._auto_commit = bool(cfg["enable.auto.commit"]) and self.group_id is not None
        self._auto_commit_interval = cfg["auto.commit.interval.ms"] / 1000.0
        self._next_auto_commit = float(self.env.now) + self._auto_commit_interval
        self._fetch_min_bytes = cfg["fetch.min.bytes"]
        self._fetch_max_wait = cfg["fetch.max.wait.ms"] / 1000.0
        self._fetch_max_bytes = cfg["fetch.max.bytes"]
        self._partition_max_bytes = cfg["max.partition.fetch.bytes"]
        self._max_poll_records = cfg["max.poll.records"]
        self._max_poll_interval = cfg["max.poll.interval.ms"] / 1000.0
        self._session_timeout = cfg["session.timeout.ms"] / 1000.0
        self._heartbeat_interval = cfg["heartbeat.interval.ms"] / 1000.0
        self._request_timeout = cfg["request.timeout.ms"] / 1000.0
        self._strategies = tuple(cfg["partition.assignment.strategy"])
        self._cooperative = all(s in COOPERATIVE for s in self._strategies)

        self._group: Group | None = (
            coordinator_of(cluster).group(self.group_id) if self.group_id else None
        )
        self._subscription: tuple[str, ...] = ()
        self._manual = False
        self._listener: Any = None
        self._assigned: dict[TopicPartition, _Partition] = {}
        self._ready: deque[_Partition] = deque()
        self._fetching = False
        self._wake: simpy.Event | None = None
        self._member_id: str | None = None
        self._generation = -1
        self._rejoin_needed = False
        self._joining = False
        self._heartbeat: simpy.Process | None = None
        self._last_poll = float(self.env.now)
        self._fatal: KafkaError | None = None
        self._closed = False
        self._closing = False
        self.crashed = False
        self.stats = {"polls": 0, "records": 0, "fetches": 0, "commits": 0, "commit_failures": 0,
                      "rebalances": 0, "resets": 0}

    def __repr__(self) -> str:
        return (f"Consumer({self.client_id!r}, group={self.group_id!r}, "
                f"assignment={sorted(self._assigned)})")

    # -- subscription -----------------------------------------------------------------------

    @property
    def member_id(self) -> str | None:
        return self._member_id

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def group(self) -> Group | None:
        """The coordinator's ``Group`` of this consumer's ``group.id`` (None without one)."""
        return self._group

    @property
    def name(self) -> str:
        """The receiver name in the trace: ``"<group>/<client.id>"``."""
        return self.trace.receivers.name(self.receiver)

    def subscribe(self, topics: Iterable[str] | str, listener: Any = None) -> None:
        """Join the group for ``topics`` (at the next ``poll()``). ``listener`` may define
        ``on_partitions_revoked(tps)``, ``on_partitions_assigned(tps)``,
        ``on_partitions_lost(tps)``, as kafka-python's ``ConsumerRebalanceListener``."""
        self._check_open()
        if self.group_id is None:
            raise KafkaError("InvalidGroupIdException: subscribe() needs a group.id")
        if self._manual:
            raise IllegalStateError("Subscription to topics, partitions and pattern are "
                                    "mutually exclusive")
        topics = (topics,) if isinstance(topics, str) else tuple(topics)
        if not topics:
            self.unsubscribe()
            return
        coordinator_of(self.cluster).check_session_timeout(self._session_timeout)
        self._listener = listener
        if tuple(sorted(set(topics))) != self._subscription:
            self._subscription = tuple(sorted(set(topics)))
            self._rejoin_needed = True

    def subscription(self) -> set[str]:
        return set(self._subscription)

    def unsubscribe(self) -> None:
        """Leave the group (or drop the manual assignment)."""
        self._revoke(list(self._assigned), "unsubscribe")
        if self._member_id is not None and self._group is not None:
            self._group.leave(self._member_id, "leave")
        self._member_id, self._generation = None, -1
        self._subscription = ()
        self._manual = False
        self._rejoin_needed = False

    def assign(self, partitions: Iterable[TopicPartition | tuple[str, int]]) -> None:
        """Manual assignment: no group membership, no rebalances."""
        self._check_open()
        if self._subscription:
            raise IllegalStateError("Subscription to topics, partitions and pattern are "
                                    "mutually exclusive")
        wanted = [TopicPartition(*tp) for tp in partitions]
        for tp in wanted:
            self.cluster.partition(tp.topic, tp.partition)  # UnknownTopicOrPartitionError
        self._manual = bool(wanted)
        self._revoke([tp for tp in self._assigned if tp not in set(wanted)], "assign")
        self._add([tp for tp in wanted if tp not in self._assigned])

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    # -- polling ----------------------------------------------------------------------------

    def poll(self, timeout_ms: float = 0, max_records: int | None = None) -> simpy.Event:
        """Event giving ``ConsumerRecords`` (possibly empty) within ``timeout_ms``."""
        self._check_open()
        now = float(self.env.now)
        self._last_poll = now
        self.stats["polls"] += 1
        if self._fatal is not None:
            error, self._fatal = self._fatal, None
            raise error
        for st in self._assigned.values():
            if st.error is not None:
                raise st.error  # until seek() gives the partition a position, as in Java
        self._group_poll(now)
        limit = max_records or self._max_poll_records
        records = self._drain(limit, now)
        self._maybe_fetch()
        if records or timeout_ms <= 0:
            event = self.env.event()
            event.succeed(records)
            return event
        return self.env.process(self._wait_poll(now + timeout_ms / 1000.0, limit))

    def _wait_poll(self, deadline: float, limit: int):
        env = self.env
        timer = env.timeout(deadline - env.now)
        while True:
            yield self._wake_event() | timer
            if self._closing:
                return ConsumerRecords()
            now = float(env.now)
            self._last_poll = now
            self._group_poll(now)
            records = self._drain(limit, now)
            self._maybe_fetch()
            if records or env.now >= deadline:
                return records

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
            recs = Records(self.cluster, st.tp, batch.offset[i:j], batch.msg[i:j],
                           batch.timestamp[i:j], batch.size[i:j], batch.key[i:j],
                           batch.null[i:j])
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

    # -- network ----------------------------------------------------------------------------

    def _lost(self) -> bool:
        """Whether a hop sent now is dropped (``cluster.link`` loss or cut)."""
        link = self.cluster.link
        return bool(link.loss or link.cuts) and not link.delivers()

    def _call(self, handler: Callable[[], Any]):
        """One request/response exchange (``yield from``): the request crosses the link,
        ``handler()`` runs at the broker, the answer crosses back. Gives ``(True, result)``, or
        ``(False, None)`` once ``request.timeout.ms`` has passed if either hop was lost."""
        env = self.env
        link = self.cluster.link
        sent = float(env.now)
        if self._lost():
            yield env.timeout(self._request_timeout)
            return False, None
        yield env.timeout(link.delay())
        result = handler()
        if self._lost():
            yield env.timeout(max(0.0, sent + self._request_timeout - env.now))
            return False, None
        yield env.timeout(link.delay())
        return True, result

    # -- fetching ---------------------------------------------------------------------------

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
            self.env.process(self._fetch(wanted))

    def _fetch(self, wanted: list[tuple[_Partition, int, int]]):
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
        while env.now < deadline:
            if self._fetch_ready(wanted, min_bytes):
                break
            waits = [st.part.wait_for_data() for st, _, _ in wanted]
            yield env.any_of([*waits, env.timeout(deadline - env.now)])
        budget = self._fetch_max_bytes
        answers = []
        for st, epoch, off in wanted:
            try:
                if budget <= 0:
                    answers.append((st, epoch, off, None, None))
                    continue
                batch = st.part.read(off, min(self._partition_max_bytes, budget))
                budget -= batch.nbytes
                answers.append((st, epoch, off, batch, None))
            except OffsetOutOfRangeError as error:
                answers.append((st, epoch, off, None, error))
        if self._lost():
            yield env.timeout(max(0.0, sent + self._request_timeout - env.now))
            self._fetching = False
            self._wakeup()
            return
        yield env.timeout(link.delay())
        self._fetching = False
        if self._closed:
            return
        assigned = self._assigned
        now = float(env.now)
        for st, epoch, off, batch, error in answers:
            if assigned.get(st.tp) is not st or st.epoch != epoch or st.position != off:
                continue  # revoked, sought or reset meanwhile: Kafka drops such responses
            if error is not None:
                self._out_of_range(st, now)
            elif batch is not None:
                st.hw = batch.high_watermark
                if len(batch.offset):
                    st.buf, st.buf_i = batch, 0
                    self._ready.append(st)
                elif batch.next_offset > off:
                    st.position = batch.next_offset  # only compacted-away offsets in between
        self._wakeup()

    @staticmethod
    def _fetch_ready(wanted: list[tuple[_Partition, int, int]], min_bytes: int) -> bool:
        total = 0
        for st, _, off in wanted:
            log = st.part
            if off < log.log_start_offset or off > log.log_end_offset:
                return True  # an error answers at once
            if log.high_watermark > off:
                if min_bytes <= 1:
                    return True
                total += log.available_bytes(off)
                if total >= min_bytes:
                    return True
        return min_bytes <= 0

    # -- positions and resets -----------------------------------------------------------------

    def _add(self, tps: list[TopicPartition]) -> None:
        """Start consuming ``tps``: their positions come from the committed offsets or reset."""
        if not tps:
            return
        for tp in tps:
            self._assigned[tp] = _Partition(tp, self.cluster.partition(tp.topic, tp.partition))
        if self._group is not None and self._member_id is not None:
            self._group.acquire(self._member_id, tps)
        self.env.process(self._init_positions(tps))

    def _init_positions(self, tps: list[TopicPartition]):
        """OffsetFetch to the coordinator; ListOffsets by ``auto.offset.reset`` if none."""
        states = [(tp, self._assigned[tp], self._assigned[tp].epoch) for tp in tps]
        committed: dict[TopicPartition, int | None] = dict.fromkeys(tps)
        group = self._group
        ok = group is None
        while not ok and not self._closed:  # OffsetFetch, retried after a timeout
            ok, found = yield from self._call(lambda: {tp: group.committed(tp) for tp in tps})
            if ok:
                committed = found
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
            elif tp in resets:
                st.position = resets[tp]
            else:
                st.error = NoOffsetForPartitionError(f"Undefined offset with no reset policy "
                                                     f"for partitions: {tp}")
        self._maybe_fetch()
        self._wakeup()

    def _reset_offset(self, st: _Partition) -> int:
        if self._reset_policy == "earliest":
            return st.part.log_start_offset
        return st.part.high_watermark

    def _out_of_range(self, st: _Partition, now: float) -> None:
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

    def seek(self, partition: TopicPartition | tuple[str, int], offset: int) -> None:
        """Fetch from ``offset`` next (dropping whatever was buffered)."""
        st = self._state(partition)
        st.epoch += 1
        st.buf = None
        st.error = None
        st.position = int(offset)
        self._maybe_fetch()

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions or tuple(self._assigned):
            self.seek(tp, self._state(tp).part.log_start_offset)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        for tp in partitions or tuple(self._assigned):
            self.seek(tp, self._state(tp).part.high_watermark)

    def position(self, partition: TopicPartition | tuple[str, int]) -> int | None:
        """The offset of the next record ``poll()`` will return (None while not yet known)."""
        return self._state(partition).position

    def committed(self, partition: TopicPartition | tuple[str, int]) -> int | None:
        """The group's committed offset of ``partition`` (the next offset to read), or None."""
        if self._group is None:
            return None
        return self._group.committed(TopicPartition(*partition))

    def pause(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self._state(tp).paused = True

    def resume(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self._state(tp).paused = False
        self._maybe_fetch()

    def paused(self) -> set[TopicPartition]:
        return {tp for tp, st in self._assigned.items() if st.paused}

    def beginning_offsets(self, partitions: Iterable[TopicPartition | tuple[str, int]]
                          ) -> dict[TopicPartition, int]:
        """Log start offset of each partition (answered at once, no ListOffsets delay)."""
        return {TopicPartition(*tp): self.cluster.partition(*tp).log_start_offset
                for tp in partitions}

    def end_offsets(self, partitions: Iterable[TopicPartition | tuple[str, int]]
                    ) -> dict[TopicPartition, int]:
        """High watermark of each partition (``read_uncommitted``'s end; answered at once)."""
        return {TopicPartition(*tp): self.cluster.partition(*tp).high_watermark
                for tp in partitions}

    def topics(self) -> set[str]:
        return set(self.cluster.topics)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        found = self.cluster.topics.get(topic)
        return None if found is None else set(range(len(found.partitions)))

    def highwater(self, partition: TopicPartition | tuple[str, int]) -> int | None:
        """The high watermark seen in the last fetch response (kafka-python ``highwater``)."""
        hw = self._state(partition).hw
        return None if hw < 0 else hw

    def lag(self) -> dict[TopicPartition, int]:
        """Records between the position and the last known high watermark, per partition."""
        out = {}
        for tp, st in self._assigned.items():
            if st.position is not None:
                hw = st.hw if st.hw >= 0 else st.part.high_watermark
                out[tp] = max(0, hw - st.position)
        return out

    def metrics(self) -> dict[str, float]:
        """A few of the Java consumer's metrics, by their names."""
        lag = self.lag()
        return {
            "records-consumed-total": self.stats["records"],
            "records-lag-max": max(lag.values(), default=0),
            "fetch-total": self.stats["fetches"],
            "poll-total": self.stats["polls"],
            "commit-total": self.stats["commits"],
            "rebalance-total": self.stats["rebalances"],
            "offset-reset-total": self.stats["resets"],
        }

    def _state(self, partition: TopicPartition | tuple[str, int]) -> _Partition:
        tp = TopicPartition(*partition)
        st = self._assigned.get(tp)
        if st is None:
            raise IllegalStateError(f"No current assignment for partition {tp.topic}-"
                                    f"{tp.partition}")
        return st

    # -- commits ----------------------------------------------------------------------------

    def _positions(self) -> dict[TopicPartition, int]:
        return {tp: st.position for tp, st in self._assigned.items() if st.position is not None}

    def commit(self, offsets: Mapping[TopicPartition, Any] | None = None) -> simpy.Event:
        """Synchronous commit: an event that succeeds when the coordinator stored the offsets
        (the positions of all assigned partitions unless ``offsets`` are given, each the next
        offset to read) and fails with ``CommitFailedError`` when the group has moved on."""
        self._check_open()
        offsets = self._positions() if offsets is None else self._offsets(offsets)
        return self.env.process(self._commit(offsets, raise_errors=True))

    def commit_async(self, offsets: Mapping[TopicPartition, Any] | None = None,
                     callback: Callable[[dict, KafkaError | None], None] | None = None
                     ) -> simpy.Event:
        """Asynchronous commit: the event gives None or the error; it never fails."""
        self._check_open()
        offsets = self._positions() if offsets is None else self._offsets(offsets)
        return self.env.process(self._commit(offsets, raise_errors=False, callback=callback))

    @staticmethod
    def _offsets(offsets: Mapping[TopicPartition, Any] | None) -> dict | None:
        if offsets is None:
            return None
        return {TopicPartition(*tp): int(getattr(v, "offset", v)) for tp, v in offsets.items()}

    def _commit(self, offsets: dict, raise_errors: bool, callback=None):
        """OffsetCommit of ``offsets`` (taken when the commit was called)."""
        if self._group is None:
            raise KafkaError("InvalidGroupIdException: commit needs a group.id")
        if not offsets:
            return None
        member, generation = self._member_id, self._generation
        if not self._subscription:
            member, generation = None, -1
        elif generation < 0:
            # ConsumerCoordinator: group management without a generation fails before sending
            error = CommitFailedError("Commit cannot be completed since the consumer is not "
                                      "part of an active group for auto partition assignment; "
                                      "it is likely that the consumer was kicked out of the "
                                      "group.")
            self.stats["commit_failures"] += 1
            if callback is not None:
                callback(offsets, error)
            if raise_errors:
                raise error
            return error
        group = self._group
        ok, code = yield from self._call(
            lambda: None if self.crashed else group.commit(member, generation, offsets,
                                                           self.receiver))
        if self.crashed:
            return None  # nobody is left to hear the answer
        self.stats["commits"] += 1
        error = None
        if not ok:
            error = KafkaTimeoutError(f"Timeout of {self._request_timeout * 1000:.0f}ms "
                                      f"expired before the offset commit completed")
        elif code == REBALANCE_IN_PROGRESS:
            error = RebalanceInProgressError("the group is rebalancing")
        elif code is not None:
            error = CommitFailedError(
                f"{code}: Commit cannot be completed since the group has already rebalanced "
                f"and assigned the partitions to another member.")
        if error is not None:
            self.stats["commit_failures"] += 1
        if callback is not None:
            callback(offsets, error)
        if error is not None and raise_errors:
            raise error
        return error

    # -- group membership ---------------------------------------------------------------------

    def _group_poll(self, now: float) -> None:
        """The group work ``poll()`` does first (``ConsumerCoordinator.poll``)."""
        if self._group is None:
            return
        if self._auto_commit and now >= self._next_auto_commit:
            self._next_auto_commit = now + self._auto_commit_interval
            if self._assigned and not self._joining and (self._generation >= 0
                                                         or not self._subscription):
                self.commit_async()
        if self._subscription and self._rejoin_needed and not self._joining:
            self._join_prepare()

    def _join_prepare(self) -> None:
        """``onJoinPrepare``: commit (auto-commit on), give up partitions, send JoinGroup."""
        self._joining = True
        self._rejoin_needed = False
        owned = tuple(sorted(self._assigned))
        owned_generation = self._generation
        positions = None
        if self._member_id is None or self._generation < 0:
            # membership was lost (evicted, left on poll timeout): partitions are lost, unsaved
            self._revoke(list(self._assigned), "lost", lost=True)
        else:
            if self._auto_commit:
                positions = self._positions()
            if not self._cooperative:
                self._revoke(list(self._assigned), "rebalance")
        self.env.process(self._join(positions, owned, owned_generation))

    def _join(self, positions: dict | None, owned: tuple[TopicPartition, ...],
              owned_generation: int):
        env = self.env
        group = self._group
        if positions:
            # Java blocks poll() in a commitSync here; the partitions are already revoked
            # (eager), so no record is handed out meanwhile
            yield env.process(self._commit(positions, raise_errors=False))
        if self._closed:
            return
        while self._lost():  # JoinGroup lost: the client retries after request.timeout.ms
            yield env.timeout(self._request_timeout)
            if self._closed:
                return
        yield env.timeout(self.cluster.link.delay())
        if self._closed:
            return
        try:
            self._member_id, event = group.join(
                self._member_id, client_id=self.client_id, receiver=self.receiver,
                topics=self._subscription, strategies=self._strategies,
                cooperative=self._cooperative, session_timeout=self._session_timeout,
                rebalance_timeout=self._max_poll_interval, owned=owned,
                owned_generation=owned_generation)
        except KafkaError as error:  # e.g. InconsistentGroupProtocol: raised by the next poll()
            self._fatal = error
            self._joining = False
            self._wakeup()
            return
        if self._heartbeat is None:
            self._heartbeat = env.process(self._heartbeats())
        result: JoinResult | None = yield event
        if result is not None:
            # JoinGroup response, then the SyncGroup round trip that brings the assignment
            if self._lost() or self._lost() or self._lost():
                yield env.timeout(self._request_timeout)
                self._joining = False
                self._rejoin_needed = True  # never heard the assignment: join again
                return
            yield env.timeout(self.cluster.link.delay() * 3)
        self._joining = False
        if self._closed:
            return
        if result is None or result.member_id != self._member_id:
            self._reset_generation()
            return
        self._generation = result.generation
        self.stats["rebalances"] += 1
        self._apply(result.assignment)
        self._wakeup()

    def _apply(self, assignment: tuple[TopicPartition, ...]) -> None:
        new = set(assignment)
        revoked = [tp for tp in self._assigned if tp not in new]
        if revoked:
            self._revoke(revoked, "rebalance")
            if self._cooperative:
                self._rejoin_needed = True  # KIP-429: the follow-up round hands them over
        added = [tp for tp in assignment if tp not in self._assigned]
        self._add(added)
        if self._listener is not None and hasattr(self._listener, "on_partitions_assigned"):
            self._listener.on_partitions_assigned(set(added))

    def _revoke(self, tps: list[TopicPartition], reason: str, lost: bool = False) -> None:
        if not tps:
            return
        for tp in tps:
            st = self._assigned.pop(tp)
            st.epoch += 1
            st.buf = None
        if self._group is not None and self._member_id is not None:
            self._group.release(self._member_id, tps, reason)
        hook = "on_partitions_lost" if lost else "on_partitions_revoked"
        if self._listener is not None and hasattr(self._listener, hook):
            getattr(self._listener, hook)(set(tps))

    def _reset_generation(self) -> None:
        """Membership is gone (evicted, or left on poll timeout). As the Java client, the
        partitions stay in hand until the next ``poll()`` declares them lost, and commits fail
        with ``CommitFailedError`` meanwhile."""
        self._member_id, self._generation = None, -1
        self._rejoin_needed = True

    def _heartbeats(self):
        """The heartbeat thread: every ``heartbeat.interval.ms`` while the consumer lives."""
        env = self.env
        while not self._closed:
            yield env.timeout(self._heartbeat_interval)
            if self._closed or self._member_id is None or self._joining:
                continue
            if env.now - self._last_poll > self._max_poll_interval:
                # "consumer poll timeout has expired": LeaveGroup; the next poll() rejoins
                self._group.leave(self._member_id, "poll-timeout")
                self._reset_generation()
                continue
            if self._lost():
                continue  # the coordinator never hears it
            code = self._group.heartbeat(self._member_id, self._generation)
            if self._lost():
                continue  # the answer never comes back
            if code == REBALANCE_IN_PROGRESS:
                self._rejoin_needed = True
            elif code in (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION):
                self._reset_generation()

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> simpy.Event:
        """Commit (if auto-commit is on), leave the group, stop. An event to wait for."""
        self._check_open()
        self._closing = True  # a poll() in progress returns empty, later ones raise
        self._wakeup()
        return self.env.process(self._close())

    def _close(self):
        if self._auto_commit and self._assigned:
            yield self.env.process(self._commit(self._positions(), raise_errors=False))
        member = self._member_id
        self._revoke(list(self._assigned), "close")
        if member is not None and self._group is not None:
            lost = self._lost()
            yield self.env.timeout(self.cluster.link.delay())
            if not lost:  # a lost LeaveGroup: the session times out instead
                self._group.leave(member, "leave")
        self._closed = True
        self._wakeup()

    def crash(self) -> None:
        """The process dies now: no commit, no LeaveGroup; the session times out later."""
        if self._closed:
            return
        self._closed = self._closing = True
        self.crashed = True
        self._assigned.clear()
        self._ready.clear()
        self.trace.event(float(self.env.now), "crash", self.name,
                         member=self._member_id)
        self._wakeup()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called (or the consumer crashed)."""
        return self._closing

    def _check_open(self) -> None:
        if self._closing:
            raise IllegalStateError("This consumer has already been closed.")
