"""The consumer's group side: commits, JoinGroup/SyncGroup, revocation and heartbeats.

Reproduces the Java client's ``ConsumerCoordinator`` for the classic protocol (see
``models.kafka.consumer`` for the behaviour list; the broker side is ``models.kafka.group``).
``Membership`` is a mixin of ``Consumer``: it works on the consumer's state (member id,
generation, assignment) and keeps no state of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.kafka.assignors import TopicPartition
from models.kafka.errors import (
    CommitFailedError,
    KafkaError,
    KafkaTimeoutError,
    RebalanceInProgressError,
)
from models.kafka.group import (
    ILLEGAL_GENERATION,
    REBALANCE_IN_PROGRESS,
    UNKNOWN_MEMBER_ID,
    JoinResult,
)


class Membership:
    """Commits and group membership (mixin of ``Consumer``)."""

    def _positions(self) -> dict[TopicPartition, int]:
        return {tp: st.position for tp, st in self._assigned.items() if st.position is not None}

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
                                                           self.receiver), self._coordinator())
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
            # membership was lost (evicted, left on poll timeout): partitions are lost, unsaved,
            # and the JoinGroup claims none of them (the Java client sends its assignment after
            # onPartitionsLost: empty), else cooperative-sticky keeps them for this member
            self._revoke(list(self._assigned), "lost", lost=True)
            owned, owned_generation = (), -1
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
        while self._lost(self._coordinator()):  # JoinGroup lost: retried after request.timeout.ms
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
            coordinator = self._coordinator()
            if self._lost(coordinator) or self._lost(coordinator) or self._lost(coordinator):
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
            if self._lost(self._coordinator()):
                continue  # the coordinator never hears it
            code = self._group.heartbeat(self._member_id, self._generation)
            if self._lost(self._coordinator()):
                continue  # the answer never comes back
            if code == REBALANCE_IN_PROGRESS:
                self._rejoin_needed = True
            elif code in (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION):
                self._reset_generation()

