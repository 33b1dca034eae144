"""The consumer loops' fast path: the same loop, fetches and commits as callbacks on timeouts.

A ``ConsumerLoop`` (``models.kafka.loops``) runs its consumer as simpy processes: ``poll()`` is a
process or an event, each fetch a process (``Fetcher._fetch``) that long-polls on an ``any_of``
condition, each commit a process (``Membership._commit`` over ``Fetcher._call``). That costs
about eleven events and a dozen generator resumptions per poll–process–commit cycle, and a
consumer that keeps up with a producer makes one such cycle per small batch. ``LoopEngine`` and
``FetchRequest`` do the same steps as plain callbacks on the timeouts between them: one timeout
per hop of the network, the partition's own HW waiter while a fetch long-polls, and nothing for
zero-time steps (a poll that finds records, zero processing time, the process boundaries).

Kafka behaviour reproduced — step for step what the event path does (see
``models.kafka.consumer``), calling the same consumer methods for every decision: ``poll()``
does the group work (``_group_poll``: JoinGroup, rebalances, auto-commit), drains buffered
records (``_drain``) and sends a fetch (``_maybe_fetch``), or waits for a fetch response until
the poll timeout; a fetch crosses the link, answers once ``fetch.min.bytes`` are available on
the partitions served or after ``fetch.max.wait.ms`` (``_fetch_ready``, ``_fetch_answers``), and
its response is applied one latency later (``_fetch_apply``: buffers, offset resets, KIP-320
divergence); a commit sends the positions in an OffsetCommit round trip to the coordinator
(``Group.commit``), with the same lost-hop checks (``_lost``) and the same errors counted.
Loss, cuts, paused or crashed brokers and coordinators take the same branches as in the event
path (same checks at the same simulated times, same random draws).

Steady cycles of zero-time at-least-once loops go further, onto ``models.kafka.leanloop``'s
lanes (taken at the top of an iteration, ``LoopEngine.admit``; handed back here, in-flight steps
and all, as soon as anything changes).

When it applies: every ``ConsumerLoop`` in the modes ``process_then_commit`` and
``commit_before_process`` with a positive poll timeout, from its first poll (fetches: every
fetch of such a loop's consumer). It hands the loop back to the generator (``ConsumerLoop._work``)
at the top of a loop iteration when the loop is to stop (``stop()``, ``until``), or when
``poll()`` would raise (consumer closed from outside, a fatal group error, a partition without
a position under ``auto.offset.reset=none``); a crash interrupts the generator, which stops the
engine and accounts for the batch in hand as before.

Equivalence (``tests/test_kafka_fastloop.py``): on random workloads, with rebalances, crashes and
restarts, broker faults and link cuts, the fast path and the event path give the same trace
(deliveries, drops, commits, events), the same positions and committed offsets, and the same
loop and consumer statistics. Documented difference: the order of steps *within one instant*
can differ (a callback runs where a process would have resumed a few events later in the same
instant), so trace rows of one instant may come in another order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simpy

from models.kafka.fetcher import ConsumerRecords

__all__ = ["FetchRequest", "LoopEngine"]


def _after(env: simpy.Environment, delay: float, fn) -> None:
    env.timeout(delay).callbacks.append(fn)


class FetchRequest:
    """One Fetch request of ``consumer`` as callbacks (``Fetcher._fetch`` step for step)."""

    __slots__ = ("answered", "answers", "c", "deadline", "sent", "token", "wanted")

    def __init__(self, consumer: Any, wanted: list[tuple], *, send: bool = True) -> None:
        self.c = consumer
        self.wanted = wanted
        env = consumer.env
        self.sent = float(env.now)
        self.token = 0
        if not send:  # taken over in flight (models.kafka.leanloop): the caller schedules it
            return
        if consumer._lost():
            _after(env, consumer._request_timeout, self._gone)
            return
        _after(env, consumer.cluster.link.delay(), self._arrive)

    def _gone(self, _event: Any = None) -> None:
        """A hop was lost: the client notices after ``request.timeout.ms``."""
        c = self.c
        c._fetching = False
        c._wakeup()

    def _arrive(self, _event: Any) -> None:
        self.deadline = self.c.env.now + self.c._fetch_max_wait
        self._check()

    def _check(self) -> None:
        """The long poll at the broker: answer now, or wait for data or the deadline."""
        c = self.c
        env = c.env
        if env.now < self.deadline:
            cluster = c.cluster
            me = c.client_id
            wanted = self.wanted
            served = [w for w in wanted if cluster.serves(w[0].part, me)]
            if not c._fetch_ready(served, c._fetch_min_bytes):
                self.wait()
                return
        self.answered = float(env.now)
        self.answers = c._fetch_answers(self.wanted)
        self.respond()

    def respond(self) -> None:
        """The answers go back over the link (or are lost)."""
        c = self.c
        env = c.env
        if c._lost():
            _after(env, max(0.0, self.sent + c._request_timeout - env.now), self._gone)
            return
        _after(env, c.cluster.link.delay(), self._respond)

    def wait(self) -> None:
        """Long-poll: check again when a wanted partition's HW moves or at the deadline."""
        env = self.c.env
        self.token += 1
        token = self.token

        def woken(_event: Any, token: int = token) -> None:
            if token == self.token:
                self.token += 1
                _after(env, 0.0, self._recheck)  # the any_of condition's own event

        for st, _epoch, _off in self.wanted:
            st.part.wait_for_data().callbacks.append(woken)
        _after(env, self.deadline - env.now, woken)

    def _recheck(self, _event: Any) -> None:
        self._check()

    def _respond(self, _event: Any) -> None:
        self.c._fetch_apply(self.answers, self.answered)


class LoopEngine:
    """A ``ConsumerLoop``'s poll–process–commit cycle as callbacks (see the module docstring).

    ``back`` succeeds when the generator is to take the loop over again; ``records`` is the
    batch in hand (what a crash accounts for); ``dead`` stops every pending callback.
    """

    def __init__(self, loop: Any, consumer: Any) -> None:
        self.loop = loop
        self.c = consumer
        self.env: simpy.Environment = loop.env
        self.back = self.env.event()
        self.records: ConsumerRecords | None = None
        self.dead = False
        self._poll_token = 0
        self._poll_hop = False  # a wake-up is on its way (the condition's event)
        self._deadline = 0.0
        # models.kafka.leanloop.admit when the loop may run lean (set by ConsumerLoop)
        self.admit: Any = None

    # ---- the loop ------------------------------------------------------------------------
    def start(self) -> None:
        self._top()

    def _hand_back(self) -> None:
        self.dead = True
        self.back.succeed()

    def _top(self) -> None:
        """The top of ``ConsumerLoop._work``'s loop: stop, or poll."""
        if self.dead:
            return
        loop, c = self.loop, self.c
        now = float(self.env.now)
        if (loop._stopping or (loop.until is not None and now >= loop.until) or c._closing
                or c._fatal is not None
                or any(st.error is not None for st in c._assigned.values())):
            self._hand_back()  # the generator stops, or its poll() raises as it should
            return
        if self.admit is not None and not c._fetching:
            lane = self.admit(self)
            if lane is not None:  # the steady cycle on offsets, until it hands back
                lane.start()
                return
        # Consumer.poll(timeout_ms=loop.poll_timeout_ms)
        c._last_poll = now
        c.stats["polls"] += 1
        c._group_poll(now)
        records = c._drain(c._max_poll_records, now)
        c._maybe_fetch()
        if records:  # poll() gave a succeeded event: the generator resumes one event later
            _after(self.env, 0.0, lambda _e: self._got(records))
            return
        self.wait_poll(now + loop.poll_timeout_ms / 1000.0)

    def wait_poll(self, deadline: float) -> None:
        """``Consumer._wait_poll``: wait for a fetch response, a join, or ``deadline``."""
        self._deadline = deadline
        self._poll_token += 1
        token = self._poll_token

        def woken(_event: Any) -> None:
            self._poll_wake(token)

        self.c._wake_event().callbacks.append(woken)
        _after(self.env, deadline - self.env.now, woken)

    def _poll_wake(self, token: int) -> None:
        """``Consumer._wait_poll`` woken by a fetch response, a join, or its timer: it resumes
        when the ``wake | timer`` condition's own event comes, one event later."""
        if token != self._poll_token or self.dead or self._poll_hop:
            return
        self._poll_hop = True
        _after(self.env, 0.0, lambda _e: self._poll_resume(token))

    def _poll_resume(self, token: int) -> None:
        self._poll_hop = False
        if token != self._poll_token or self.dead:
            return
        c = self.c
        if c._closing:
            self._poll_token += 1
            # an empty batch (the poll process's end event first): the loop goes round
            _after(self.env, 0.0, lambda _e: self._got(ConsumerRecords()))
            return
        now = float(self.env.now)
        c._last_poll = now
        c._group_poll(now)
        records = c._drain(c._max_poll_records, now)
        c._maybe_fetch()
        if records or now >= self._deadline:
            self._poll_token += 1
            _after(self.env, 0.0, lambda _e: self._got(records))  # the poll process's end event
            return

        def woken(_event: Any) -> None:
            self._poll_wake(token)

        c._wake_event().callbacks.append(woken)

    def _got(self, records: ConsumerRecords) -> None:
        if self.dead:
            return
        if not records:
            self._top()
            return
        loop = self.loop
        loop.stats["batches"] += 1
        self.records = records
        if loop.mode == "commit_before_process":
            self._commit(self._process, failed=self._skip)
        else:
            self._process()

    def _skip(self) -> None:
        """``ConsumerLoop._skip`` after a failed commit before processing: the batch is left
        unprocessed and the loop goes round."""
        if self.dead:
            return
        records, self.records = self.records, None
        self.loop._skip(self.c, records)
        self._top()

    def _process(self) -> None:
        """``ConsumerLoop._process``: records finish at ``start + cumsum(service)``."""
        if self.dead:
            return
        loop = self.loop
        parts = [r.msg for r in self.records.values()]
        msg = parts[0] if len(parts) == 1 else np.concatenate(parts)
        n = len(msg)
        start = float(self.env.now)
        if loop.processing == 0.0 and not callable(loop.processing):
            loop._in_hand = (msg, np.full(n, start))
            _after(self.env, 0.0, lambda _e: self._processed(msg, start, n))  # timeout(0)
            return
        done = start + np.cumsum(loop._service(n))
        loop._in_hand = (msg, done)
        _after(self.env, float(done[-1]) - start, lambda _e: self._processed(msg, done, n))

    def _processed(self, msg: np.ndarray, done: Any, n: int) -> None:
        if self.dead:
            return
        loop = self.loop
        loop._in_hand = None
        loop._deliver(self.c, msg, done)
        loop.stats["processed"] += n
        self.records = None
        if loop.mode == "process_then_commit":
            self._commit(self._top)
        else:
            self._top()

    # ---- commits (Membership._commit over Fetcher._call, raise_errors=True) ---------------
    def _commit(self, then, failed=None) -> None:
        """Commit the positions, then call ``then`` — or ``failed``, if given, when the commit
        failed (``ConsumerLoop._commit`` returning False)."""
        c = self.c
        if c._closing:
            self._hand_back()  # commit() would raise IllegalStateError: the generator's way
            return
        offsets = c._positions()
        # commit() starts a process: its body runs one event later (simpy's Initialize)
        _after(self.env, 0.0, lambda _e: self._commit_body(offsets, then, failed))

    def _commit_body(self, offsets: dict, then, failed) -> None:
        """``Membership._commit``'s body; its end is an event before the loop resumes."""
        c = self.c
        env = self.env
        if not offsets:
            _after(env, 0.0, lambda _e: then())
            return
        member, generation = c._member_id, c._generation
        if not c._subscription:
            member, generation = None, -1
        elif generation < 0:  # not part of an active group: CommitFailedError at once
            c.stats["commit_failures"] += 1
            self.loop.stats["commit_failures"] += 1
            _after(env, 0.0, lambda _e: (failed or then)())
            return
        coordinator = c._coordinator()
        sent = float(env.now)
        if c._lost(coordinator):
            _after(env, c._request_timeout,
                   lambda _e: self._committed(False, None, then, failed))
            return
        _after(env, c.cluster.link.delay(), lambda _e: self.at_coordinator(
            member, generation, offsets, sent, coordinator, then, failed))

    def at_coordinator(self, member: str | None, generation: int, offsets: dict, sent: float,
                       coordinator: int | None, then, failed=None) -> None:
        """The OffsetCommit reaches the coordinator: ``Group.commit``, and the answer back."""
        c = self.c
        env = self.env
        code = None if c.crashed else c._group.commit(member, generation, offsets, c.receiver)
        if c._lost(coordinator):
            _after(env, max(0.0, sent + c._request_timeout - env.now),
                   lambda _e: self._committed(False, None, then, failed))
            return
        _after(env, c.cluster.link.delay(), lambda _e: self._committed(True, code, then, failed))

    def _committed(self, ok: bool, code: str | None, then, failed=None) -> None:
        c = self.c
        if c.crashed:
            return  # nobody is left to hear the answer
        c.stats["commits"] += 1
        if not ok or code is not None:  # KafkaTimeout, RebalanceInProgress or CommitFailed
            c.stats["commit_failures"] += 1
            self.loop.stats["commit_failures"] += 1  # the records come again
            then = failed or then
        if not self.dead:
            _after(self.env, 0.0, lambda _e: then())  # the commit process's end event
