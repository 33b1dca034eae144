"""The group coordinator: consumer groups, generations, rebalances and committed offsets.

Reproduces Kafka's *classic* group protocol (``group.protocol=classic``, the consumer default in
4.x) as seen by the coordinator broker (``GroupCoordinator`` / ``GroupMetadata`` in Kafka):

- States ``Empty``, ``PreparingRebalance``, ``Stable`` (``CompletingRebalance`` is folded into
  the join: the coordinator runs the assignor itself when the last member has joined, where
  Kafka sends the member list to the group leader and waits for its SyncGroup; the consumer
  adds that round trip to the time it learns its assignment).
- A rebalance starts when a member joins (a new one, or a known one asking to rejoin), leaves
  (LeaveGroup: ``close()`` or ``max.poll.interval.ms`` exceeded), or misses heartbeats for its
  ``session.timeout.ms``. Members learn of it from their next heartbeat response
  (REBALANCE_IN_PROGRESS) and rejoin at their next ``poll()``. The join phase ends when every
  member has rejoined, or after the rebalance timeout (the largest ``max.poll.interval.ms``),
  when the missing members are removed. A group that was empty waits
  ``group.initial.rebalance.delay.ms`` (3 s, extended by each new joiner up to the rebalance
  timeout) before its first assignment.
- The protocol (assignor) is chosen as Kafka does: among the assignors every member supports,
  each member votes for its first choice and the most votes win. The cooperative filter of
  ``cooperative-sticky`` applies only when every member uses the cooperative protocol.
- Committed offsets per partition, the *next* offset to read. A commit is accepted from a
  member of the current generation while the group is Stable or PreparingRebalance, and from
  a group-less client (generation -1) only while the group is Empty; otherwise it fails with
  UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION (``CommitFailedException`` on the client).
- White-box ownership: the consumers report when they start and stop consuming a partition;
  the group records a ``double-ownership`` trace event should two live members ever own the
  same partition at once (checking.md W9), which the protocol must never allow.

Trace: commits into ``trace.committed``; ``trace.event`` kinds ``join``, ``rebalance`` (start,
with its reason), ``generation`` (a completed rebalance, with the assignment),
``member-removed`` (reason ``session-timeout``, ``leave``, ``poll-timeout``,
``rebalance-timeout``), ``assigned`` / ``revoked`` (per member, from the consumers).

- ``session.timeout.ms`` must lie within the broker's ``group.min.session.timeout.ms`` (6 s)
  and ``group.max.session.timeout.ms`` (30 min) (``InvalidSessionTimeoutError``, checked when
  the consumer subscribes).

- The coordinator lives on a broker: the leader of the group's ``__consumer_offsets``
  partition (``abs(groupId.hashCode()) % offsets.topic.num.partitions``), taken here as broker
  ``partition % brokers``. When the controller fences that broker the coordinator moves to the
  next live broker (as the partition's leadership would) with the committed offsets (they are
  replicated) but without the members: they learn it from their next heartbeat
  (UNKNOWN_MEMBER_ID) and join again, which starts a new generation. While the coordinator's
  broker is down or unreachable, group requests get no answer (commits time out).

Not modelled: the group metadata a real coordinator reloads from ``__consumer_offsets``
(members are dropped instead), static membership (``group.instance.id``), KIP-848's
``consumer`` protocol, the member-id handshake of KIP-394 (MEMBER_ID_REQUIRED, one extra round
trip), ``offsets.retention.minutes``, rebalances caused by partitions added to a subscribed
topic (metadata changes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from models.kafka.assignors import (
    ASSIGNORS,
    COOPERATIVE,
    Subscription,
    TopicPartition,
    sticky_assign,
)
from models.kafka.errors import KafkaError

EMPTY = "Empty"
PREPARING = "PreparingRebalance"
STABLE = "Stable"

# Error names of the group APIs (org.apache.kafka.common.protocol.Errors).
REBALANCE_IN_PROGRESS = "REBALANCE_IN_PROGRESS"
UNKNOWN_MEMBER_ID = "UNKNOWN_MEMBER_ID"
ILLEGAL_GENERATION = "ILLEGAL_GENERATION"


class InvalidSessionTimeoutError(KafkaError):
    """``session.timeout.ms`` outside the broker's ``group.min/max.session.timeout.ms``."""

    java_name = "InvalidSessionTimeoutException"
    code = 26


class InconsistentGroupProtocolError(KafkaError):
    """A member's assignors share none with the group's (``InconsistentGroupProtocolException``)."""

    java_name = "InconsistentGroupProtocolException"
    code = 23


@dataclass(frozen=True, slots=True)
class JoinResult:
    """What JoinGroup + SyncGroup give a member: its generation and partitions."""

    generation: int
    member_id: str
    protocol: str
    leader: str
    assignment: tuple[TopicPartition, ...]


@dataclass(slots=True)
class Member:
    """The coordinator's view of one member."""

    member_id: str
    client_id: str
    receiver: int
    topics: tuple[str, ...]
    strategies: tuple[str, ...]
    cooperative: bool
    session_timeout: float
    rebalance_timeout: float
    last_heartbeat: float
    owned: tuple[TopicPartition, ...] = ()
    owned_generation: int = -1
    assignment: tuple[TopicPartition, ...] = ()
    join_event: simpy.Event | None = None
    watcher: simpy.Process | None = None


@dataclass(slots=True)
class Group:
    """One consumer group on its coordinator."""

    coordinator: GroupCoordinator
    group_id: str
    state: str = EMPTY
    generation: int = 0
    protocol: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    committed_at: dict[TopicPartition, float] = field(default_factory=dict)
    broker: int = 0  # the coordinator's broker
    owners: dict[TopicPartition, str] = field(default_factory=dict)
    rebalances: int = 0
    _round: int = 0
    _not_before: float = 0.0
    _round_started: float = 0.0
    _next_member: int = 0

    # -- membership -----------------------------------------------------------------------

    def join(
        self,
        member_id: str | None,
        *,
        client_id: str,
        receiver: int,
        topics: Iterable[str],
        strategies: Sequence[str],
        cooperative: bool,
        session_timeout: float,
        rebalance_timeout: float,
        owned: Iterable[TopicPartition] = (),
        owned_generation: int = -1,
    ) -> tuple[str, simpy.Event]:
        """JoinGroup arriving now. Returns the member id and an event that succeeds with a
        ``JoinResult`` when this rebalance completes (or with None if the member was removed
        before it did)."""
        env = self.coordinator.env
        now = float(env.now)
        strategies = tuple(strategies)
        if self.members and not self._common_protocols(strategies):
            raise InconsistentGroupProtocolError(
                f"group {self.group_id!r} uses {sorted(self._common_protocols(()))}, member "
                f"offers {list(strategies)}"
            )
        member = self.members.get(member_id) if member_id else None
        if member is None:
            member_id = self._new_member_id(client_id)
            member = Member(member_id, client_id, receiver, tuple(topics), strategies,
                            cooperative, session_timeout, rebalance_timeout, now)
            self.members[member_id] = member
            member.watcher = env.process(self._watch_session(member))
            new = True
        else:
            new = False
            member.topics = tuple(topics)
            member.strategies = strategies
            member.cooperative = cooperative
            member.last_heartbeat = now
        member.owned = tuple(owned)
        member.owned_generation = owned_generation
        if member.join_event is not None and not member.join_event.triggered:
            member.join_event.succeed(None)  # a duplicate join replaces the pending one
        member.join_event = env.event()
        self.coordinator.trace.event(now, "join", self.group_id, member=member_id,
                                     generation=self.generation, new=new)
        if self.state != PREPARING:
            self._prepare_rebalance("member-joined" if new else "member-rejoined",
                                    initial=self.state == EMPTY)
        elif self._not_before > now and new:
            # InitialDelayedJoin: each new member pushes the first assignment back a little
            delay = self.coordinator.initial_delay
            cap = self._round_started + max(m.rebalance_timeout for m in self.members.values())
            self._not_before = min(now + delay, cap)
            env.process(self._complete_at(self._round, self._not_before))
        event = member.join_event
        self._maybe_complete()
        return member_id, event

    def leave(self, member_id: str, reason: str = "leave") -> None:
        """LeaveGroup (or removal by the coordinator): the member's partitions are free."""
        member = self.members.pop(member_id, None)
        if member is None:
            return
        now = float(self.coordinator.env.now)
        for tp in [tp for tp, owner in self.owners.items() if owner == member_id]:
            del self.owners[tp]
        if member.join_event is not None and not member.join_event.triggered:
            member.join_event.succeed(None)
        self.coordinator.trace.event(now, "member-removed", self.group_id, member=member_id,
                                     reason=reason, generation=self.generation)
        if self.state == PREPARING:
            self._maybe_complete()
        elif self.members:
            self._prepare_rebalance(f"member-removed:{reason}")
        else:
            self.state = EMPTY
            self.generation += 1
            self.protocol = self.leader = None

    def heartbeat(self, member_id: str | None, generation: int) -> str | None:
        """Heartbeat arriving now: None if all is well, else the error name."""
        member = self.members.get(member_id) if member_id else None
        if member is None:
            return UNKNOWN_MEMBER_ID
        member.last_heartbeat = float(self.coordinator.env.now)
        if self.state == PREPARING:
            return REBALANCE_IN_PROGRESS
        if generation != self.generation:
            return ILLEGAL_GENERATION
        return None

    # -- offsets --------------------------------------------------------------------------

    def commit(
        self, member_id: str | None, generation: int, offsets: Mapping[TopicPartition, int],
        receiver: int,
    ) -> str | None:
        """OffsetCommit arriving now: store and trace the offsets, or return the error name."""
        if generation < 0 and not member_id:
            if self.state != EMPTY:
                return UNKNOWN_MEMBER_ID
        else:
            member = self.members.get(member_id) if member_id else None
            if member is None:
                return UNKNOWN_MEMBER_ID
            if generation != self.generation:
                return ILLEGAL_GENERATION
            member.last_heartbeat = float(self.coordinator.env.now)
        trace = self.coordinator.trace
        now = float(self.coordinator.env.now)
        channels = trace.channels
        stored = self.offsets
        at = self.committed_at
        topics, parts, values = [], [], []
        for tp, offset in offsets.items():
            offset = int(offset)
            stored[tp] = offset
            at[tp] = now
            topics.append(channels.id(tp.topic))
            parts.append(tp.partition)
            values.append(offset)
        if values:  # one row per partition, in the request's order
            trace.committed.extend(receiver=receiver, channel=topics, partition=parts,
                                   offset=values, t=now)
        return None

    def committed(self, tp: TopicPartition) -> int | None:
        """The committed offset of ``tp`` (next offset to read), or None."""
        return self.offsets.get(tp)

    def committed_time(self, tp: TopicPartition) -> float:
        """When ``tp``'s offset was committed (-1 if never)."""
        return self.committed_at.get(tp, -1.0)

    def drop_members(self, reason: str) -> None:
        """Forget every member (a coordinator failover): they must join again."""
        now = float(self.coordinator.env.now)
        for member in self.members.values():
            if member.join_event is not None and not member.join_event.triggered:
                member.join_event.succeed(None)
            self.coordinator.trace.event(now, "member-removed", self.group_id,
                                         member=member.member_id, reason=reason,
                                         generation=self.generation)
        self.members.clear()
        self.owners.clear()
        self._round += 1
        if self.state != EMPTY:
            self.state = EMPTY
            self.generation += 1
            self.protocol = self.leader = None

    # -- white-box ownership ----------------------------------------------------------------

    def acquire(self, member_id: str, tps: Iterable[TopicPartition]) -> None:
        """A member starts consuming ``tps``; records ``double-ownership`` if another owns one."""
        now = float(self.coordinator.env.now)
        tps = sorted(tps)
        for tp in tps:
            owner = self.owners.get(tp)
            if owner is not None and owner != member_id and owner in self.members:
                self.coordinator.trace.event(now, "double-ownership", self.group_id,
                                             partition=tp, owners=(owner, member_id))
            self.owners[tp] = member_id
        if tps:
            self.coordinator.trace.event(now, "assigned", self.group_id, member=member_id,
                                         partitions=tuple(tps), generation=self.generation)

    def release(self, member_id: str, tps: Iterable[TopicPartition], reason: str) -> None:
        """A member stops consuming ``tps`` (revoked, lost, closed)."""
        now = float(self.coordinator.env.now)
        tps = sorted(tps)
        for tp in tps:
            if self.owners.get(tp) == member_id:
                del self.owners[tp]
        if tps:
            self.coordinator.trace.event(now, "revoked", self.group_id, member=member_id,
                                         partitions=tuple(tps), reason=reason)

    # -- rebalance ------------------------------------------------------------------------

    def _new_member_id(self, client_id: str) -> str:
        """``client.id`` + "-" + a UUID, as Kafka; the UUID drawn from the group's own stream."""
        rng = self.coordinator.sim.rng(f"kafka/group/{self.group_id}/member-id")
        self._next_member += 1
        return f"{client_id}-{rng.bytes(16).hex()}"

    def _common_protocols(self, extra: Sequence[str]) -> list[str]:
        lists = [m.strategies for m in self.members.values()]
        if extra:
            lists.append(tuple(extra))
        if not lists:
            return []
        first = lists[0]
        return [p for p in first if all(p in other for other in lists[1:])]

    def _prepare_rebalance(self, reason: str, initial: bool = False) -> None:
        env = self.coordinator.env
        now = float(env.now)
        self.state = PREPARING
        self._round += 1
        self._round_started = now
        self.rebalances += 1
        timeout = max((m.rebalance_timeout for m in self.members.values()), default=0.0)
        delay = min(self.coordinator.initial_delay, timeout) if initial else 0.0
        self._not_before = now + delay
        self.coordinator.trace.event(now, "rebalance", self.group_id, reason=reason,
                                     generation=self.generation, members=len(self.members))
        env.process(self._join_deadline(self._round, now + timeout))
        if delay > 0:
            env.process(self._complete_at(self._round, self._not_before))

    def _complete_at(self, round_: int, t: float):
        yield self.coordinator.env.timeout(max(0.0, t - self.coordinator.env.now))
        if self._round == round_ and self.state == PREPARING:
            self._maybe_complete()

    def _join_deadline(self, round_: int, t: float):
        yield self.coordinator.env.timeout(max(0.0, t - self.coordinator.env.now))
        if self._round != round_ or self.state != PREPARING:
            return
        for member in [m for m in self.members.values() if not self._pending(m)]:
            self.leave(member.member_id, "rebalance-timeout")
        self._maybe_complete(force=True)

    @staticmethod
    def _pending(member: Member) -> bool:
        return member.join_event is not None and not member.join_event.triggered

    def _maybe_complete(self, force: bool = False) -> None:
        if self.state != PREPARING:
            return
        now = float(self.coordinator.env.now)
        if not force and now < self._not_before:
            return
        if not all(self._pending(m) for m in self.members.values()):
            return
        if not self.members:
            self.state = EMPTY
            return
        self._complete()

    def _complete(self) -> None:
        now = float(self.coordinator.env.now)
        self.generation += 1
        self.state = STABLE
        self.protocol = self._select_protocol()
        self.leader = next(iter(self.members))
        counts = self.coordinator.partition_counts(
            {t for m in self.members.values() for t in m.topics}
        )
        subs = {
            m.member_id: Subscription(m.topics, m.owned, m.owned_generation)
            for m in self.members.values()
        }
        cooperative = self.protocol in COOPERATIVE and all(
            m.cooperative for m in self.members.values()
        )
        if self.protocol in COOPERATIVE and not cooperative:
            assignment = sticky_assign(subs, counts)
        else:
            assignment = ASSIGNORS[self.protocol](subs, counts)
        self.coordinator.trace.event(
            now, "generation", self.group_id, generation=self.generation,
            protocol=self.protocol, cooperative=cooperative, leader=self.leader,
            assignment={m: tuple(tps) for m, tps in assignment.items()},
        )
        for member in self.members.values():
            member.last_heartbeat = now  # Kafka restarts every session clock when a join completes
            member.assignment = tuple(assignment.get(member.member_id, ()))
            result = JoinResult(self.generation, member.member_id, self.protocol,
                                self.leader, member.assignment)
            member.join_event.succeed(result)

    def _select_protocol(self) -> str:
        candidates = self._common_protocols(())
        votes = dict.fromkeys(candidates, 0)
        for member in self.members.values():
            for strategy in member.strategies:
                if strategy in votes:
                    votes[strategy] += 1
                    break
        return max(candidates, key=lambda p: (votes[p], -candidates.index(p)))

    def _watch_session(self, member: Member):
        """Remove the member once it has been silent for its ``session.timeout.ms``."""
        env = self.coordinator.env
        while self.members.get(member.member_id) is member:
            due = member.last_heartbeat + member.session_timeout
            if self._pending(member):
                # a member waiting in JoinGroup is kept alive until the join completes
                due = max(due, float(env.now) + member.session_timeout)
            elif env.now >= due:
                self.leave(member.member_id, "session-timeout")
                return
            yield env.timeout(due - env.now)


class GroupCoordinator:
    """The group coordinators of a cluster (one ``Group`` per ``group.id``).

    Kafka spreads groups over brokers by ``__consumer_offsets`` partition; brokersim keeps them
    in one object, each ``Group`` naming its coordinator's broker (see the module docstring).
    """

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.sim = cluster.sim
        self.env = cluster.env
        self.trace = cluster.trace
        self.groups: dict[str, Group] = {}
        config = getattr(cluster, "config", None) or {}
        self.initial_delay = float(config.get("group.initial.rebalance.delay.ms", 3000)) / 1000
        self.min_session = float(config.get("group.min.session.timeout.ms", 6000)) / 1000
        self.max_session = float(config.get("group.max.session.timeout.ms", 1800000)) / 1000
        self.offsets_partitions = int(config.get("offsets.topic.num.partitions", 50))

    def check_session_timeout(self, seconds: float) -> None:
        """JoinGroup's INVALID_SESSION_TIMEOUT check, made when the consumer subscribes."""
        if not self.min_session <= seconds <= self.max_session:
            raise InvalidSessionTimeoutError(
                f"session.timeout.ms {seconds * 1000:.0f} is outside the broker's "
                f"group.min.session.timeout.ms ({self.min_session * 1000:.0f}) and "
                f"group.max.session.timeout.ms ({self.max_session * 1000:.0f})")

    def group(self, group_id: str) -> Group:
        found = self.groups.get(group_id)
        if found is None:
            found = self.groups[group_id] = Group(self, group_id)
            found.broker = self._place(group_id)
        return found

    def _place(self, group_id: str, not_on: int = -1) -> int:
        """The coordinator broker of ``group_id``: its ``__consumer_offsets`` partition's
        leader, or the next live broker after it."""
        brokers = getattr(self.cluster, "brokers", None)
        if not brokers:
            return 0
        h = 0
        for ch in group_id:  # Java's String.hashCode
            h = (31 * h + ord(ch)) & 0xFFFFFFFF
        h = h - (1 << 32) if h >= 1 << 31 else h
        first = (abs(h) % self.offsets_partitions) % len(brokers)
        for i in range(len(brokers)):
            b = (first + i) % len(brokers)
            if b != not_on and self.cluster.broker_live(b):
                return b
        return -1

    def broker_fenced(self, broker: int) -> None:
        """The controller fenced ``broker``: the groups it coordinated move."""
        now = float(self.env.now)
        for group in self.groups.values():
            if group.broker == broker:
                group.broker = self._place(group.group_id, not_on=broker)
                self.trace.event(now, "coordinator-moved", group.group_id, old=broker,
                                 new=group.broker)
                group.drop_members("coordinator-failover")

    def broker_back(self, broker: int) -> None:
        """A broker is live again: groups left without a coordinator get one."""
        for group in self.groups.values():
            if group.broker < 0:
                group.broker = self._place(group.group_id)

    def partition_counts(self, topics: Iterable[str]) -> dict[str, int]:
        found = self.cluster.topics
        return {t: len(found[t].partitions) for t in topics if t in found}


def coordinator_of(cluster: Any) -> GroupCoordinator:
    """The cluster's group coordinator (created in ``cluster.coordinator`` on first use)."""
    found = getattr(cluster, "coordinator", None)
    if found is None:
        found = GroupCoordinator(cluster)
        cluster.coordinator = found
    return found
