"""The Kafka consumer: subscribe or assign, long-poll fetches, positions, commits, group membership.

The fetch side lives in ``models.kafka.fetcher`` and the group side in
``models.kafka.membership`` (mixins of ``Consumer``, as the Java client's ``Fetcher`` and
``ConsumerCoordinator``); this module holds the public API.

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
  poll) for receiver ``"<group>/<client.id>"``; ``trace_on_poll=False`` leaves that to the
  caller (``models.kafka.loops`` records deliveries when processing ends).
- Leaders and faults: a partition is fetched from its leader; while it has none, or its
  leader's broker is down, paused or cut off from this consumer (``cluster.serves``), the
  fetch brings nothing for it (NotLeaderOrFollower) and the next one tries again. After a
  leader change that truncated the log below the consumer's position (an unclean election),
  the consumer goes back to where the logs diverged (KIP-320's log truncation detection;
  trace event ``log-truncation``). Group requests (JoinGroup, SyncGroup, heartbeats, commits,
  OffsetFetch, LeaveGroup) go to the coordinator's broker and get no answer while it is down
  or cut off; the coordinator moves when its broker is fenced (``models.kafka.group``).
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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import simpy

from models.kafka.assignors import COOPERATIVE, TopicPartition
from models.kafka.config import load
from models.kafka.errors import IllegalStateError, KafkaError
from models.kafka.fetcher import (
    ConsumerRecord,
    ConsumerRecords,
    Fetcher,
    PartitionState,
    Records,
)
from models.kafka.group import Group, coordinator_of
from models.kafka.membership import Membership

__all__ = ["Consumer", "ConsumerRecord", "ConsumerRecords", "Records", "TopicPartition"]


class Consumer(Fetcher, Membership):
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
        cluster.register_client(client_id, self)
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
        self._assigned: dict[TopicPartition, PartitionState] = {}
        self._ready: deque[PartitionState] = deque()
        self._fetching = False
        self._fetch_engine: Callable[[list], None] | None = None  # see models.kafka.fastloop
        self._lean: Any = None  # a loop's lean lane (models.kafka.leanloop), while it runs
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
        self._release_lean()
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
        self._release_lean()
        self._revoke(list(self._assigned), "unsubscribe")
        if self._member_id is not None and self._group is not None:
            self._group.leave(self._member_id, "leave")
        self._member_id, self._generation = None, -1
        self._subscription = ()
        self._manual = False
        self._rejoin_needed = False

    def assign(self, partitions: Iterable[TopicPartition | tuple[str, int]]) -> None:
        """Manual assignment: no group membership, no rebalances."""
        self._release_lean()
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
        self._release_lean()
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

    # -- positions --------------------------------------------------------------------------

    def seek(self, partition: TopicPartition | tuple[str, int], offset: int) -> None:
        """Fetch from ``offset`` next (dropping whatever was buffered)."""
        self._release_lean()
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
        self._release_lean()
        for tp in partitions:
            self._state(tp).paused = True

    def resume(self, *partitions: TopicPartition) -> None:
        self._release_lean()
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

    def _state(self, partition: TopicPartition | tuple[str, int]) -> PartitionState:
        tp = TopicPartition(*partition)
        st = self._assigned.get(tp)
        if st is None:
            raise IllegalStateError(f"No current assignment for partition {tp.topic}-"
                                    f"{tp.partition}")
        return st

    # -- commits ----------------------------------------------------------------------------

    def commit(self, offsets: Mapping[TopicPartition, Any] | None = None) -> simpy.Event:
        """Synchronous commit: an event that succeeds when the coordinator stored the offsets
        (the positions of all assigned partitions unless ``offsets`` are given, each the next
        offset to read) and fails with ``CommitFailedError`` when the group has moved on."""
        self._release_lean()
        self._check_open()
        offsets = self._positions() if offsets is None else self._offsets(offsets)
        return self.env.process(self._commit(offsets, raise_errors=True))

    def commit_async(self, offsets: Mapping[TopicPartition, Any] | None = None,
                     callback: Callable[[dict, KafkaError | None], None] | None = None
                     ) -> simpy.Event:
        """Asynchronous commit: the event gives None or the error; it never fails."""
        self._release_lean()
        self._check_open()
        offsets = self._positions() if offsets is None else self._offsets(offsets)
        return self.env.process(self._commit(offsets, raise_errors=False, callback=callback))

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> simpy.Event:
        """Commit (if auto-commit is on), leave the group, stop. An event to wait for."""
        self._release_lean()
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
            lost = self._lost(self._coordinator())
            yield self.env.timeout(self.cluster.link.delay())
            if not lost:  # a lost LeaveGroup: the session times out instead
                self._group.leave(member, "leave")
        self._closed = True
        self._wakeup()

    def crash(self) -> None:
        """The process dies now: no commit, no LeaveGroup; the session times out later."""
        self._release_lean()
        if self._closed:
            return
        self._closed = self._closing = True
        self.crashed = True
        self._assigned.clear()
        self._ready.clear()
        self.trace.event(float(self.env.now), "crash", self.name,
                         member=self._member_id)
        self._wakeup()

    def _release_lean(self) -> None:
        """The API is used from outside a loop's lean lane: hand the loop back to the fast
        path first (``models.kafka.leanloop``)."""
        if self._lean is not None:
            self._lean.release()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called (or the consumer crashed)."""
        return self._closing

    def _check_open(self) -> None:
        if self._closing:
            raise IllegalStateError("This consumer has already been closed.")
