"""Partition assignors of the Kafka consumer group protocol, as pure functions.

Each assignor takes the group's members with their subscriptions and the partition count of
every topic, and returns ``{member_id: [TopicPartition, ...]}`` (every member present, lists
sorted). They reproduce the Java client's ``partition.assignment.strategy`` choices:

- ``range`` (``RangeAssignor``): per topic, partitions in numeric order split over the subscribed
  members in member-id order; the first ``P mod C`` members get one extra.
- ``roundrobin`` (``RoundRobinAssignor``): all topic-partitions sorted, dealt in turn to the
  members sorted by id, skipping a member not subscribed to the partition's topic.
- ``sticky`` (``StickyAssignor``): as balanced as the subscriptions allow while keeping as many
  previously owned partitions as possible (eager protocol: owners revoke everything first).
- ``cooperative-sticky`` (``CooperativeStickyAssignor``, KIP-429): the sticky target, but a
  partition that changes owner is only taken from its old owner in this round; it is given to
  its new owner in a follow-up rebalance, so no partition ever has two owners.

What "balanced" means here: no chain of single-partition moves between members subscribed to
the moved partitions' topics can lower the spread (the sum of squared counts) any further. With
identical subscriptions that is ``max - min <= 1``. The sticky algorithm is our own (keep valid
previous partitions, give the rest to the least-loaded eligible member, then shift partitions
along improving paths, moving partitions a member did not own before first); it reaches the
same kind of assignment as Java's ``AbstractStickyAssignor`` but not always the identical one.

Not modelled: static membership ordering (``group.instance.id``), rack-aware assignment
(``client.rack``), KIP-848's server-side ``uniform`` assignor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import cycle
from typing import NamedTuple


class TopicPartition(NamedTuple):
    """A partition of a topic, as kafka-python's ``TopicPartition``."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a member sends in JoinGroup: its topics, and for the sticky assignors what it owned.

    ``generation`` is the generation of ``owned`` (the sticky assignors trust the newest claim
    when two members say they own the same partition, as Java's ``StickyAssignor`` does).
    """

    topics: tuple[str, ...]
    owned: tuple[TopicPartition, ...] = ()
    generation: int = -1


Assignment = dict[str, list[TopicPartition]]
Assignor = Callable[[Mapping[str, "Subscription | Iterable[str]"], Mapping[str, int]], Assignment]


def _subscriptions(members: Mapping[str, Subscription | Iterable[str]]) -> dict[str, Subscription]:
    out = {}
    for member, sub in members.items():
        if not isinstance(sub, Subscription):
            sub = Subscription(topics=tuple(sub))
        out[member] = sub
    return out


def _finish(assigned: Mapping[str, Iterable[TopicPartition]]) -> Assignment:
    return {m: sorted(tps) for m, tps in assigned.items()}


def range_assign(
    members: Mapping[str, Subscription | Iterable[str]], partitions_per_topic: Mapping[str, int]
) -> Assignment:
    """``RangeAssignor``: per topic, contiguous ranges of partitions in member-id order."""
    subs = _subscriptions(members)
    assigned: dict[str, list[TopicPartition]] = {m: [] for m in subs}
    by_topic: dict[str, list[str]] = {}
    for member, sub in subs.items():
        for topic in set(sub.topics):
            by_topic.setdefault(topic, []).append(member)
    for topic, consumers in by_topic.items():
        count = partitions_per_topic.get(topic)
        if count is None:
            continue  # unknown topic: no metadata, nothing to assign (Java logs a warning)
        consumers.sort()
        per, extra = divmod(count, len(consumers))
        start = 0
        for i, member in enumerate(consumers):
            length = per + (1 if i < extra else 0)
            assigned[member].extend(TopicPartition(topic, p) for p in range(start, start + length))
            start += length
    return _finish(assigned)


def roundrobin_assign(
    members: Mapping[str, Subscription | Iterable[str]], partitions_per_topic: Mapping[str, int]
) -> Assignment:
    """``RoundRobinAssignor``: sorted topic-partitions dealt over sorted members in turn."""
    subs = _subscriptions(members)
    assigned: dict[str, list[TopicPartition]] = {m: [] for m in subs}
    topics = {t for sub in subs.values() for t in sub.topics if t in partitions_per_topic}
    all_tps = sorted(TopicPartition(t, p) for t in topics for p in range(partitions_per_topic[t]))
    subscribed = {m: set(sub.topics) for m, sub in subs.items()}
    turn = cycle(sorted(subs))
    for tp in all_tps:
        member = next(turn)
        while tp.topic not in subscribed[member]:
            member = next(turn)
        assigned[member].append(tp)
    return _finish(assigned)


def _initial_owners(
    subs: Mapping[str, Subscription], partitions_per_topic: Mapping[str, int]
) -> dict[TopicPartition, str]:
    """Valid previous owner of each partition: still exists, still subscribed, newest claim."""
    owner: dict[TopicPartition, str] = {}
    for member in sorted(subs):
        sub = subs[member]
        topics = set(sub.topics)
        for tp in sub.owned:
            tp = TopicPartition(*tp)
            if tp.topic not in topics or not 0 <= tp.partition < partitions_per_topic.get(
                tp.topic, 0
            ):
                continue
            current = owner.get(tp)
            if current is None or sub.generation > subs[current].generation:
                owner[tp] = member
    return owner


def sticky_assign(
    members: Mapping[str, Subscription | Iterable[str]], partitions_per_topic: Mapping[str, int]
) -> Assignment:
    """``StickyAssignor``: balanced, keeping as many previously owned partitions as possible."""
    subs = _subscriptions(members)
    names = sorted(subs)
    subscribers: dict[str, list[str]] = {}
    for member in names:
        for topic in sorted(set(subs[member].topics)):
            if topic in partitions_per_topic:
                subscribers.setdefault(topic, []).append(member)
    owner = _initial_owners(subs, partitions_per_topic)
    held: dict[str, dict[str, set[int]]] = {m: {} for m in names}  # member -> topic -> partitions
    count = dict.fromkeys(names, 0)
    for tp, member in owner.items():
        held[member].setdefault(tp.topic, set()).add(tp.partition)
        count[member] += 1
    previous = {m: {tp for tp, o in owner.items() if o == m} for m in names}

    # Unowned partitions, the most constrained first, each to the least-loaded eligible member.
    free = [
        TopicPartition(t, p)
        for t in subscribers
        for p in range(partitions_per_topic[t])
        if TopicPartition(t, p) not in owner
    ]
    free.sort(key=lambda tp: (len(subscribers[tp.topic]), tp))
    for tp in free:
        member = min(subscribers[tp.topic], key=lambda m: (count[m], m))
        held[member].setdefault(tp.topic, set()).add(tp.partition)
        count[member] += 1

    _balance(names, subscribers, held, count, previous)
    return {
        m: sorted(TopicPartition(t, p) for t, ps in held[m].items() for p in ps) for m in names
    }


def _balance(
    names: list[str],
    subscribers: Mapping[str, list[str]],
    held: dict[str, dict[str, set[int]]],
    count: dict[str, int],
    previous: Mapping[str, set[TopicPartition]],
) -> None:
    """Shift partitions along improving paths until no path from a member with ``k`` partitions
    reaches an eligible member with ``k - 2`` or fewer (convex cost: local optimum is global)."""
    while True:
        moved = False
        for source in sorted(names, key=lambda m: (-count[m], m)):
            path = _improving_path(source, subscribers, held, count)
            if path:
                for giver, topic, taker in path:
                    _move(giver, topic, taker, held, previous)
                count[source] -= 1
                count[path[-1][2]] += 1
                moved = True
                break
        if not moved:
            return


def _improving_path(
    source: str,
    subscribers: Mapping[str, list[str]],
    held: Mapping[str, Mapping[str, set[int]]],
    count: Mapping[str, int],
) -> list[tuple[str, str, str]] | None:
    """Shortest chain of moves (giver, topic, taker) from ``source`` to the least-loaded member
    it can reach with at least two partitions fewer, or None."""
    limit = count[source] - 2
    if limit < 0:
        return None
    parent: dict[str, tuple[str, str]] = {source: ("", "")}
    frontier = [source]
    best: str | None = None
    while frontier and best is None:
        following = []
        for giver in frontier:
            for topic in sorted(held[giver]):
                if not held[giver][topic]:
                    continue
                for taker in subscribers[topic]:
                    if taker in parent:
                        continue
                    parent[taker] = (giver, topic)
                    following.append(taker)
        reachable = [m for m in following if count[m] <= limit]
        if reachable:
            best = min(reachable, key=lambda m: (count[m], m))
        frontier = following
    if best is None:
        return None
    path = []
    node = best
    while node != source:
        giver, topic = parent[node]
        path.append((giver, topic, node))
        node = giver
    path.reverse()
    return path


def _move(
    giver: str,
    topic: str,
    taker: str,
    held: dict[str, dict[str, set[int]]],
    previous: Mapping[str, set[TopicPartition]],
) -> None:
    """Move one partition of ``topic``: one the giver did not own before if it has one (so the
    partitions it did own stay put), else its highest-numbered one."""
    parts = held[giver][topic]
    fresh = [p for p in parts if TopicPartition(topic, p) not in previous[giver]]
    partition = max(fresh) if fresh else max(parts)
    parts.discard(partition)
    held[taker].setdefault(topic, set()).add(partition)


def cooperative_sticky_assign(
    members: Mapping[str, Subscription | Iterable[str]], partitions_per_topic: Mapping[str, int]
) -> Assignment:
    """``CooperativeStickyAssignor`` round: the sticky target minus partitions changing owner.

    A partition whose target owner differs from its current owner is assigned to nobody in this
    round: the current owner sees it gone from its assignment, revokes it and rejoins, and the
    follow-up rebalance gives it to the new owner (KIP-429).
    """
    subs = _subscriptions(members)
    target = sticky_assign(subs, partitions_per_topic)
    owner = _initial_owners(subs, partitions_per_topic)
    return {
        m: [tp for tp in tps if owner.get(tp, m) == m] for m, tps in target.items()
    }


ASSIGNORS: Mapping[str, Assignor] = {
    "range": range_assign,
    "roundrobin": roundrobin_assign,
    "sticky": sticky_assign,
    "cooperative-sticky": cooperative_sticky_assign,
}
"""Assignors by their protocol name (``PartitionAssignor.name()`` in the Java client)."""

COOPERATIVE: frozenset[str] = frozenset({"cooperative-sticky"})
"""Assignors that use the incremental cooperative rebalance protocol; the others are eager."""

_CLASS_NAMES = {
    "org.apache.kafka.clients.consumer.RangeAssignor": "range",
    "org.apache.kafka.clients.consumer.RoundRobinAssignor": "roundrobin",
    "org.apache.kafka.clients.consumer.StickyAssignor": "sticky",
    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor": "cooperative-sticky",
}


def assignor_name(strategy: str) -> str:
    """Protocol name for a ``partition.assignment.strategy`` entry (Java class name or short)."""
    key = strategy.strip()
    name = _CLASS_NAMES.get(key) or _CLASS_NAMES.get(
        f"org.apache.kafka.clients.consumer.{key}", key
    )
    if name not in ASSIGNORS:
        known = ", ".join([*ASSIGNORS, *(c.rsplit(".", 1)[1] for c in _CLASS_NAMES)])
        raise ValueError(f"unknown partition.assignment.strategy {strategy!r}; known: {known}")
    return name
