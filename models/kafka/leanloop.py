"""The consumer loops' lean path: steady poll–process–commit cycles as a few steps on offsets.

The callback fast path (``models.kafka.fastloop``) still builds numpy record views for every
fetch and poll, writes trace rows a poll at a time and takes about ten timeouts per cycle; a
consumer that keeps up with its producer makes a cycle per millisecond or two. While nothing
unusual is going on, a ``Lane`` runs the same cycle on plain integers: a fetch answer is a row
range of the partition's log columns, a poll moves positions, the deliveries and commits it owes
the trace are written in bulk (``LeanRunner.flush``), and its steps sit on a private heap.

Kafka behaviour reproduced — exactly what the fast path does, step for step at the same
simulated times (``Consumer.poll``: drain buffered records, one partition after another, up to
``max.poll.records``, then send a fetch for the partitions without buffered data; a fetch
reaches the leader one latency later and is answered at once when a partition has data below
the high watermark, else when one does or ``fetch.max.wait.ms`` passes, each partition giving up
to ``max.partition.fetch.bytes`` and the response up to ``fetch.max.bytes``; the response is
applied one latency after the answer; an at-least-once loop delivers the batch, commits the
positions (``OffsetCommit`` stored by the coordinator one latency later, answered one latency
after that) and polls again).

When it applies — checked where each step begins, so a change made by anything else is seen at
the lane's next step: a ``process_then_commit`` loop with zero processing time on the fast path,
a member of a group in its current generation with no rejoin pending, positions for all its
partitions, none paused or in error, ``fetch.min.bytes`` at most 1, topics without compaction;
a cluster in its steady regime (every broker up, no replication faults, no link loss or cuts).
A lane is taken at the top of a loop iteration with no fetch in flight. Anything else hands it
back to the fast path (``Lane.release``) — at the top of an iteration, when a step finds a
condition broken (a commit the coordinator would refuse, a fetch position out of range, a fault),
and at once when the consumer's API is used from outside (``seek``, ``pause``, ``assign``,
``close``, ``crash``, …): the buffered records become ``RecordBatch`` views again, and the fetch
and commit in flight go on as fast-path callbacks at the times they were due.

Order: steps are keyed as simpy timeouts are — ``(time, NORMAL, event id)`` from the
environment's own counter — and run only while no simpy event comes first, so they interleave
with everything else as timeouts would (``LeanRunner``: one wake-up in simpy's queue stands for
the private heap). Differences from the fast path, all within one instant: the zero-time hops
between a poll that returns records and its OffsetCommit are merged (a step of another party
due at that very instant may come after them rather than between them); the hop back to the
next poll runs at once only when nothing else is due at that instant (exactly where a
timeout(0) would run); steps handed back take new event ids, so at an exact tie with another
event they come after it. The trace rows are appended when the trace is read (``len``, a
column, ``sim.run``'s sync) or a lane hands back, a lane's rows in its own order — rows of one
instant may be in another order (``tests/test_kafka_leanloop.py`` compares sorted rows).

Cost: about five heap entries and no numpy call per cycle (the fast path: about ten timeouts
and a dozen small arrays); ``python -m experiments bench kafka-groups`` measures it.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush
from typing import Any

import numpy as np
import simpy
from simpy.events import NORMAL

from models.kafka.fastloop import FetchRequest
from models.kafka.log import _COLUMNS as LOG_COLUMNS
from models.kafka.records import RecordBatch

__all__ = ["Lane", "LeanRunner", "admit", "suits"]

FLUSH_CHUNKS = 1 << 16  # delivery chunks owed to the trace before they are written anyway


def _at(env: simpy.Environment, t: float, fn) -> None:
    """Run ``fn()`` at absolute time ``t`` as a timeout scheduled now would (no float error
    from ``now + (t - now)``)."""
    event = simpy.Event(env)
    event._ok = True  # type: ignore[attr-defined]
    event._value = None  # type: ignore[attr-defined]
    event.callbacks.append(lambda _e: fn())  # type: ignore[union-attr]
    heappush(env._queue, (t, NORMAL, next(env._eid), event))  # type: ignore[attr-defined]


class _Wake:
    """What ``Environment.step`` needs of an event (callbacks, outcome): the runner's
    wake-up, lighter than a ``simpy.Event``. ``_value`` is the event id it was queued with."""

    __slots__ = ("_ok", "_value", "callbacks", "runner")

    def __init__(self, eid: int, runner: LeanRunner) -> None:
        self._ok = True
        self._value = eid
        self.runner = runner
        self.callbacks = [runner._run]


class LeanRunner:
    """The cluster's lanes: their steps on one private heap, and the trace rows they owe."""

    def __init__(self, cluster: Any) -> None:
        self.env: simpy.Environment = cluster.env
        self._heap: list[tuple] = []
        self._queue: list = self.env._queue  # type: ignore[attr-defined]
        self._eid = self.env._eid  # type: ignore[attr-defined]
        self._armed: set[int] = set()
        self._running = False
        trace = cluster.trace
        self.tracing = trace.enabled
        self._delivered = trace.delivered
        self._committed = trace.committed
        self.deliveries: list[tuple] = []  # (msg column, row from, row to, receiver, t)
        self.commits: list[tuple] = []  # (lane, its partitions' offsets, t)
        self.taken = 0  # lanes started
        self.released = 0  # lanes handed back to the fast path
        if self.tracing:
            self._delivered.add_feeder(self.flush)
            self._committed.add_feeder(self.flush)
        cluster.sim.on_sync(self.flush)

    # ---- scheduling ------------------------------------------------------------------------
    def at(self, t: float, fn, arg: Any) -> None:
        """Run ``fn(arg)`` at time ``t``, keyed as a timeout scheduled now."""
        entry = (t, next(self._eid), fn, arg)
        heap = self._heap
        heappush(heap, entry)
        if heap[0] is entry and not self._running:  # a run arms its next entry when it ends
            self._arm(entry)

    def hop(self, fn, arg: Any) -> None:
        """Run ``fn(arg)`` after a zero-time hop: at once when nothing else is due at this
        instant (the hop would be the very next thing to run), else as a timeout(0) would."""
        now = self.env._now  # type: ignore[attr-defined]
        heap = self._heap
        queue = self._queue
        if (not heap or heap[0][0] > now) and (not queue or queue[0][0] > now):
            fn(arg)
        else:
            self.at(now, fn, arg)

    def _arm(self, entry: tuple) -> None:
        eid = entry[1]
        if eid in self._armed:
            return
        self._armed.add(eid)
        heappush(self._queue, (entry[0], NORMAL, eid, _Wake(eid, self)))

    def _run(self, wake: _Wake) -> None:
        """Run every step whose key is below simpy's next event's. This runner's own
        wake-ups met on the way are dropped (the run does their work; it re-arms at its end)."""
        self._armed.discard(wake._value)
        heap = self._heap
        queue = self._queue
        env = self.env
        armed = self._armed
        self._running = True
        try:
            while heap:
                entry = heap[0]
                t = entry[0]
                blocked = False
                while queue:
                    q = queue[0]
                    qt = q[0]
                    if qt > t or (qt == t and (q[1] > NORMAL
                                               or (q[1] == NORMAL and q[2] > entry[1]))):
                        break  # the entry comes first
                    event = q[3]
                    if type(event) is _Wake and event.runner is self:
                        heappop(queue)
                        armed.discard(event._value)
                        continue
                    blocked = True
                    break
                if blocked:
                    break
                heappop(heap)
                env._now = t  # type: ignore[attr-defined]
                entry[2](entry[3])
        finally:
            self._running = False
            if heap:
                self._arm(heap[0])

    # ---- the trace -------------------------------------------------------------------------
    def flush(self) -> None:
        """Append the deliveries and commits owed to the trace."""
        rows = self.deliveries
        if rows:
            self.deliveries = []
            arrays, lo, hi, receiver, t = zip(*rows, strict=True)
            n = np.subtract(hi, lo)
            msg = np.concatenate([a[i:j] for a, i, j in zip(arrays, lo, hi, strict=True)])
            self._delivered.extend(msg=msg, receiver=np.repeat(np.asarray(receiver), n),
                                   via=-1, t=np.repeat(np.asarray(t, dtype=np.float64), n))
        commits = self.commits
        if commits:  # one row per partition, in the request's order
            self.commits = []
            receiver, topic, partition, offset, t = [], [], [], [], []
            for lane, offsets, now in commits:
                k = len(offsets)
                receiver += [lane.c.receiver] * k
                topic += lane.topics
                partition += lane.partitions
                offset += offsets
                t += [now] * k
            self._committed.extend(receiver=np.asarray(receiver), channel=np.asarray(topic),
                                   partition=np.asarray(partition), offset=np.asarray(offset),
                                   t=np.asarray(t, dtype=np.float64))


class _Fetch:
    """A lane's fetch in flight: what it asks for, when it was sent, its deadline and answers."""

    __slots__ = ("answered", "answers", "deadline", "sent", "token", "wanted")

    def __init__(self, wanted: list[tuple], sent: float) -> None:
        self.wanted = wanted
        self.sent = sent
        self.deadline = 0.0
        self.token = 0
        self.answers: list[tuple] = []
        self.answered = 0.0


def _steady(cluster: Any) -> bool:
    """The cluster's steady regime: no hop lost, no broker down, no replication faults."""
    link = cluster.link
    return not (cluster.replicating or not cluster.all_ready or link.loss or link.cuts
                or cluster.net.faulty)


def suits(loop: Any) -> bool:
    """Whether ``loop`` can ever run lean: its mode and processing time never change."""
    return (loop.mode == "process_then_commit" and not callable(loop.processing)
            and loop.processing == 0.0)


def admit(engine: Any) -> Lane | None:
    """A lane for ``engine``'s loop (one that ``suits``) if it qualifies now (see the module
    docstring)."""
    c = engine.c
    group = c._group
    if (group is None or not c._subscription or c._member_id is None
            or c._generation < 0 or c._generation != group.generation
            or c._member_id not in group.members or c._joining or c._rejoin_needed
            or c._fatal is not None or c._auto_commit or c._fetching or c._wake is not None
            or c._fetch_min_bytes > 1 or not c._assigned or engine._poll_hop
            or not _steady(c.cluster)):
        return None
    for st in c._assigned.values():
        part = st.part
        if (st.position is None or st.paused or st.error is not None or part.truncations
                or part._log.compact):
            return None
    for st in c._ready:
        batch = st.buf
        if batch is not None and (int(batch.offset[-1]) - int(batch.offset[st.buf_i])
                                  != len(batch.offset) - 1 - st.buf_i):
            return None  # offsets with gaps: not a row range
    runner = getattr(c.cluster, "_lean_runner", None)
    if runner is None:
        runner = c.cluster._lean_runner = LeanRunner(c.cluster)
    return Lane(runner, engine)


class Lane:
    """One loop's steady cycle on offsets (see the module docstring)."""

    __slots__ = ("buf", "c", "dead", "deadline", "engine", "fetch", "fetch_step", "generation",
                 "group", "latency", "loop", "loop_step", "member", "partitions", "parts",
                 "poll_timeout", "poll_token", "polling", "r", "ready", "resuming", "topics",
                 "tps")

    def __init__(self, runner: LeanRunner, engine: Any) -> None:
        self.r = runner
        self.engine = engine
        self.loop = engine.loop
        self.c = c = engine.c
        self.dead = False
        self.parts = list(c._assigned.values())
        channels = c.trace.channels
        self.tps = [st.tp for st in self.parts]
        self.topics = [channels.id(tp.topic) for tp in self.tps]
        self.partitions = [tp.partition for tp in self.tps]
        self.group = c._group
        self.member = c._member_id
        self.generation = c._generation
        self.latency = c.cluster.link.latency
        self.poll_timeout = self.loop.poll_timeout_ms / 1000.0
        self.buf: dict[Any, list] = {}  # PartitionState -> [columns, row, end row, offset, ...]
        self.ready: deque = deque()
        assigned = c._assigned
        for st in c._ready:  # the fast path's buffered batches become row ranges
            batch = st.buf
            if batch is None or st in self.buf or assigned.get(st.tp) is not st:
                continue  # what the fast path's drain would skip
            cols = (batch.offset, batch.msg, batch.timestamp, batch.size, batch.key, batch.null)
            self.buf[st] = [cols, st.buf_i, len(batch.offset), int(batch.offset[st.buf_i]),
                            batch.log_start_offset]
            self.ready.append(st)
            st.buf = None
        c._ready.clear()
        self.fetch: _Fetch | None = None
        self.fetch_step: tuple | None = None  # ("arrive"|"respond"|"recheck", t) or ("wait",)
        self.loop_step: tuple | None = None  # ("top"|"coord"|"committed", t, ...)
        self.polling = False
        self.resuming = False
        self.deadline = 0.0
        self.poll_token = 0
        c._lean = self
        runner.taken += 1

    # ---- the loop ------------------------------------------------------------------------
    def start(self) -> None:
        """Take the loop at the top of an iteration (the fast path's ``_top``)."""
        self._poll(self.r.env._now, True)  # type: ignore[attr-defined]

    def _top(self, _arg: Any) -> None:
        if self.dead:
            return
        self.loop_step = None
        loop, c = self.loop, self.c
        now = self.r.env._now  # type: ignore[attr-defined]
        if (loop._stopping or (loop.until is not None and now >= loop.until) or c._closing
                or c._fatal is not None or c._rejoin_needed or c._joining
                or c._generation != self.generation or not _steady(c.cluster)):
            self.release()
            self.engine._top()
            return
        self._poll(now, True)

    def _poll(self, now: float, top: bool) -> None:
        """``poll()``: drain, send a fetch, then consume or wait."""
        c = self.c
        c._last_poll = now
        if top:
            c.stats["polls"] += 1
        chunks = self._drain()
        if not c._fetching:
            self._send_fetch(now)
        if chunks:
            self.polling = False
            self._consume(now, chunks)
        elif top:
            self.polling = True
            self.deadline = now + self.poll_timeout
            self.poll_token += 1
            self.r.at(self.deadline, self._poll_timer, self.poll_token)
        elif now >= self.deadline:
            self.polling = False
            self.poll_token += 1
            self.loop_step = ("top", now)
            self.r.at(now, self._top, None)  # the empty batch: the loop goes round

    def _drain(self) -> list[tuple]:
        """``Fetcher._drain`` on row ranges: one partition's buffered records after another."""
        limit = self.c._max_poll_records
        ready = self.ready
        out = []
        taken = 0
        while limit > 0 and ready:
            st = ready[0]
            b = self.buf[st]
            cols, i, j, off = b[0], b[1], b[2], b[3]
            n = j - i
            if n <= limit:
                ready.popleft()
                del self.buf[st]
                take = n
            else:
                take = limit
                b[1] = i + take
                b[3] = off + take
            st.position = off + take
            out.append((cols[1], i, i + take))
            limit -= take
            taken += take
        if taken:
            self.c.stats["records"] += taken
        return out

    def _send_fetch(self, now: float) -> None:
        """``Fetcher._maybe_fetch``: a fetch for the partitions without buffered data."""
        c = self.c
        buf = self.buf
        wanted = [(st, st.epoch, st.position) for st in self.parts if st not in buf]
        if not wanted:
            return
        c._fetching = True
        c.stats["fetches"] += 1
        fetch = self.fetch = _Fetch(wanted, now)
        t = now + self.latency
        self.fetch_step = ("arrive", t)
        self.r.at(t, self._arrive, fetch)

    def _consume(self, now: float, chunks: list[tuple]) -> None:
        """Deliver the batch (zero processing time) and send the OffsetCommit."""
        loop = self.loop
        loop.stats["batches"] += 1
        n = 0
        r = self.r
        receiver = self.c.receiver
        for msg, i, j in chunks:
            n += j - i
            if r.tracing:
                r.deliveries.append((msg, i, j, receiver, now))
        if len(r.deliveries) > FLUSH_CHUNKS:
            r.flush()  # bounded: the chunks keep the log's older column arrays alive
        loop.stats["processed"] += n
        offsets = [st.position for st in self.parts]
        t = now + self.latency
        self.loop_step = ("coord", t, offsets, now)
        r.at(t, self._coordinator, (offsets, now))

    def _coordinator(self, arg: tuple) -> None:
        """The OffsetCommit at the coordinator (``Group.commit`` when it would succeed)."""
        if self.dead:
            return
        offsets, sent = arg
        self.loop_step = None
        c = self.c
        now = self.r.env._now  # type: ignore[attr-defined]
        group = self.group
        member = group.members.get(self.member)
        if member is None or self.generation != group.generation or not _steady(c.cluster):
            self.release()
            self.engine.at_coordinator(self.member, self.generation,
                                       dict(zip(self.tps, offsets, strict=True)), sent,
                                       c._coordinator(), self.engine._top)
            return
        member.last_heartbeat = now
        stored = group.offsets
        at = group.committed_at
        for tp, off in zip(self.tps, offsets, strict=True):
            stored[tp] = off
            at[tp] = now
        r = self.r
        if r.tracing:
            r.commits.append((self, offsets, now))
        t = now + self.latency
        self.loop_step = ("committed", t)
        r.at(t, self._committed, None)

    def _committed(self, _arg: Any) -> None:
        if self.dead:
            return
        self.c.stats["commits"] += 1
        now = self.r.env._now  # type: ignore[attr-defined]
        self.loop_step = ("top", now)
        self.r.hop(self._top, None)  # the commit process's end event

    def _poll_timer(self, token: int) -> None:
        if self.dead or token != self.poll_token or not self.polling or self.resuming:
            return
        self.resuming = True
        self.r.hop(self._resume, token)

    def _resume(self, token: int) -> None:
        """The waiting ``poll()`` wakes up (a fetch response, or its timer)."""
        if self.dead:
            return
        self.resuming = False
        if token != self.poll_token or not self.polling:
            return
        c = self.c
        if (c._closing or c._fatal is not None or c._rejoin_needed or c._joining
                or c._generation != self.generation):
            engine = self.engine
            self.release()
            engine._poll_hop = False
            engine._poll_resume(engine._poll_token)
            return
        self._poll(self.r.env._now, False)  # type: ignore[attr-defined]

    # ---- the fetch -----------------------------------------------------------------------
    def _arrive(self, fetch: _Fetch) -> None:
        if self.dead or fetch is not self.fetch:
            return
        self.fetch_step = None
        now = self.r.env._now  # type: ignore[attr-defined]
        fetch.deadline = now + self.c._fetch_max_wait
        self._check(fetch)

    def _check(self, fetch: _Fetch) -> None:
        """The long poll at the broker: answer now, or wait for data or the deadline."""
        now = self.r.env._now  # type: ignore[attr-defined]
        c = self.c
        if not _steady(c.cluster):
            self._hand_fetch_back(fetch)._check()
            return
        if now < fetch.deadline:
            ready = False
            for st, _epoch, off in fetch.wanted:
                log = st.part.log
                if off < log.log_start_offset or off > log.log_end_offset or st.part.truncations:
                    self._hand_fetch_back(fetch)._check()  # an error answer: the fast path's
                    return
                if log.high_watermark > off:
                    ready = True
                    break
            if not ready:
                self._wait(fetch)
                return
        self._answer(fetch, now)

    def _wait(self, fetch: _Fetch) -> None:
        fetch.token += 1
        token = fetch.token
        self.fetch_step = ("wait",)

        def woken(_event: Any) -> None:
            self._woken((fetch, token))

        for st, _epoch, _off in fetch.wanted:
            st.part.wait_for_data().callbacks.append(woken)
        self.r.at(fetch.deadline, self._woken, (fetch, token))

    def _woken(self, arg: tuple) -> None:
        fetch, token = arg
        if self.dead or fetch is not self.fetch or token != fetch.token:
            return
        fetch.token += 1
        now = self.r.env._now  # type: ignore[attr-defined]
        self.fetch_step = ("recheck", now)
        self.r.at(now, self._recheck, fetch)  # the any_of condition's own event

    def _recheck(self, fetch: _Fetch) -> None:
        if self.dead or fetch is not self.fetch:
            return
        self.fetch_step = None
        self._check(fetch)

    def _answer(self, fetch: _Fetch, now: float) -> None:
        """``Fetcher._fetch_answers`` on row ranges (``Log.read``'s byte limits)."""
        c = self.c
        budget = c._fetch_max_bytes
        part_max = c._partition_max_bytes
        answers = []
        for st, epoch, off in fetch.wanted:
            part = st.part
            log = part.log
            # the cluster is steady (checked by the caller): a leader serves its partition
            if (off < log.log_start_offset or off > log.log_end_offset or part.truncations
                    or part.leader < 0):
                self._hand_fetch_back(fetch)._check()
                return
            if budget <= 0:  # fetch.max.bytes used up: no answer for this partition
                answers.append((st, epoch, off, None, 0, 0, 0, 0, 0))
                continue
            hw = log.high_watermark
            if hw <= off:  # nothing new: an empty answer (it still carries the HW)
                answers.append((st, epoch, off, (), 0, 0, hw, log.log_start_offset, 0))
                continue
            # offsets are dense without compaction: the log start offset sits at the head row
            i = log._head + (off - log.log_start_offset)
            if int(log._off[i]) != off:
                i = log._row(off)  # (a log that broke the rule)
            j = i + (hw - off)
            cum = log._cum
            limit = part_max if part_max < budget else budget
            nbytes = int(cum[j] - cum[i])
            if nbytes > limit:
                k = int(np.searchsorted(cum[i + 1:j + 1], cum[i] + limit, side="right"))
                j = i + (k if k > 1 else 1)
                nbytes = int(cum[j] - cum[i])
            cols = (log._off, log._msg, log._ts, log._size, log._key, log._null)
            answers.append((st, epoch, off, cols, i, j, hw, log.log_start_offset, nbytes))
            budget -= nbytes
        fetch.answers = answers
        fetch.answered = now
        t = now + self.latency
        self.fetch_step = ("respond", t)
        self.r.at(t, self._respond, fetch)

    def _respond(self, fetch: _Fetch) -> None:
        """``Fetcher._fetch_apply``: buffer the ranges, wake the waiting ``poll()``."""
        if self.dead or fetch is not self.fetch:
            return
        self.fetch = None
        self.fetch_step = None
        c = self.c
        c._fetching = False
        assigned = c._assigned
        for st, epoch, off, cols, i, j, hw, start, _nbytes in fetch.answers:
            if cols is None:
                continue  # no answer for this partition
            if assigned.get(st.tp) is not st or st.epoch != epoch or st.position != off:
                continue
            st.checked = fetch.answered
            st.hw = hw
            if j > i:
                self.buf[st] = [cols, i, j, off, start]
                self.ready.append(st)
        if c._wake is not None:
            c._wakeup()
        if self.polling and not self.resuming:
            self.resuming = True
            self.r.hop(self._resume, self.poll_token)

    # ---- back to the fast path ---------------------------------------------------------------
    @staticmethod
    def _batch(cols: tuple, i: int, j: int, off: int, hw: int, start: int,
               nbytes: int) -> RecordBatch:
        s = slice(i, j)
        return RecordBatch(cols[0][s], cols[1][s], cols[2][s], cols[3][s], cols[4][s],
                           cols[5][s], off + (j - i), hw, start, nbytes)

    def _hand_fetch_back(self, fetch: _Fetch) -> FetchRequest:
        """Release the lane; the fetch goes on as a fast-path request (returned)."""
        self.fetch = None
        self.fetch_step = None
        self.release()
        return self._request(fetch)

    def _request(self, fetch: _Fetch) -> FetchRequest:
        """The fast path's request for a lane's fetch in flight (not sent again)."""
        request = FetchRequest(self.c, fetch.wanted, send=False)
        request.sent = fetch.sent
        request.deadline = fetch.deadline
        return request

    def release(self) -> None:
        """Hand the loop back to the fast path now (see the module docstring)."""
        if self.dead:
            return
        self.dead = True
        c = self.c
        c._lean = None
        self.r.released += 1
        self.r.flush()
        env = self.r.env
        engine = self.engine
        for st in self.ready:
            cols, i, j, off, start = self.buf[st]
            st.buf = self._batch(cols, i, j, off, st.hw, start, 0)
            st.buf_i = 0
            c._ready.append(st)
        fetch, step = self.fetch, self.fetch_step
        if fetch is not None and step is not None:
            request = self._request(fetch)
            kind = step[0]
            if kind == "arrive":
                _at(env, step[1], lambda: request._arrive(None))
            elif kind == "wait":
                request.wait()
            elif kind == "recheck":
                _at(env, step[1], lambda: request._recheck(None))
            else:  # respond
                request.answered = fetch.answered
                request.answers = [
                    (st, epoch, off,
                     None if cols is None else
                     self._batch(cols or _empty_columns(), i, j, off, hw, start, nbytes), None)
                    for st, epoch, off, cols, i, j, hw, start, nbytes in fetch.answers]
                _at(env, step[1], lambda: request._respond(None))
        if self.polling:
            engine.wait_poll(self.deadline)
            if self.resuming:
                engine._poll_hop = True
                token = engine._poll_token
                _at(env, env._now, lambda: engine._poll_resume(token))  # type: ignore[attr-defined]
            return
        step = self.loop_step
        if step is None:
            return
        kind = step[0]
        if kind == "top":
            _at(env, step[1], engine._top)
        elif kind == "coord":
            _t, t, offsets, sent = step
            member, generation = self.member, self.generation
            offsets = dict(zip(self.tps, offsets, strict=True))
            _at(env, t, lambda: engine.at_coordinator(member, generation, offsets, sent,
                                                      c._coordinator(), engine._top))
        else:  # committed
            _at(env, step[1], lambda: engine._committed(True, None, engine._top))


def _empty_columns() -> tuple[np.ndarray, ...]:
    """Record columns of no rows (an empty fetch answer handed back to the fast path)."""
    return tuple(np.empty(0, dtype) for _attr, dtype in LOG_COLUMNS)
