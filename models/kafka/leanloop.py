"""The consumer loops' lean path: steady poll–process–commit cycles as a few steps on offsets.

The callback fast path (``models.kafka.fastloop``) still builds numpy record views for every
fetch and poll, writes trace rows a poll at a time and takes about ten timeouts per cycle; a
consumer that keeps up with its producer makes a cycle per millisecond or two. While nothing
unusual is going on, a ``Lane`` runs the same cycle on plain integers: a fetch answer is a row
range of the partition's log columns, a poll moves positions, the deliveries and commits it owes
the trace are written in bulk (``LeanRunner.flush``), and its steps sit on its own small heap.

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
environment's own counter — and never run past simpy's next event, so everything else sees the
lanes exactly as far on as timeouts would have taken them (``LeanRunner``: one wake-up in
simpy's queue stands for all the lanes' steps). Between two simpy events the lanes run in
*windows* (``LeanRunner._run``). In a **free** window — every lane steady, every partition they
read fed by one producer's staged batches whose HW times are known — each lane runs on its own
up to the window's end: lanes touch only their own consumer, their own partitions' committed
offsets and the trace, and read a partition's high watermark at their own step time from the
batches' HW times (``LeanRunner.look``) instead of settling it, so their steps commute. There a
cycle whose fetch is answered on arrival runs whole (``Lane._turns``), and while every fetch
takes all its partitions' new records whole (no byte or record limit bites) a run of such
cycles is computed at once (``Lane._sweep``: when each fetch is answered depends only on the
partitions' HW moves, so the cycle times come from one recurrence on floats and their records
and commits from numpy); a fetch that must wait sleeps until the first HW move the batches
tell of, and looks again after every simpy event while it waits (``Lane.reconsider``: data
sent otherwise wakes it when it arrives). Otherwise a **strict** window runs the earliest lane
until another lane's step or simpy's next event comes first, in global time order, reading
partitions as they are. Free windows also end before any
loop's ``until``. Differences from the fast path, all within one instant: the zero-time hops
between a poll that returns records and its OffsetCommit are merged (a step of another party
due at that very instant may come after them rather than between them); the hop back to the
next poll runs at once when nothing else it must follow is due at that instant; a waiting fetch
woken by a second look, and steps handed back, take new event ids, so at an exact tie with
another event they may come after it. The trace rows are appended when the trace is read
(``len``, a column, ``sim.run``'s sync), a lane hands back or more than ``FLUSH_CHUNKS``
chunks are owed, sorted by time within each flush: each receiver's rows are in time order, and
rows of one instant may be in another order than the fast path's; across flushes, and among
the rows the fast path writes as it goes, the table is in the order rows were written, as
ever (``tests/test_kafka_leanloop.py`` compares sorted rows).

Cost: in a free window, a cycle answered on arrival is one function call on plain integers (the
fast path: about ten timeouts and a dozen small arrays), and a swept cycle a few float
operations and its share of some numpy calls; ``python -m experiments bench kafka-groups``
measures it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from heapq import heappop, heappush
from itertools import chain
from math import inf as INF
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np
import simpy
from simpy.events import NORMAL

from models.kafka.fastloop import FetchRequest
from models.kafka.log import _COLUMNS as LOG_COLUMNS
from models.kafka.records import RecordBatch

__all__ = ["Lane", "LeanRunner", "admit", "suits"]

FLUSH_CHUNKS = 1 << 16  # delivery chunks owed to the trace before they are written anyway
SWEEPING = True  # free windows compute runs of whole cycles at once (``Lane._sweep``) ...
SWEEP_CYCLES = 1 << 30  # ... of at most this many cycles


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


class _View(NamedTuple):
    """A partition's high watermark over time in a free window (``LeanRunner._predict``): the
    HW is ``leo`` plus the records of the inbound batches ``a..j-1`` whose HW times are past
    (``hw_l[a:k]``, non-decreasing; ``bl``: their row bounds; ``hw_a``, ``bl_a``: the same as
    arrays), and the log's columns to read records from (row ``head`` holds offset
    ``start``, the log start offset; ``cum``: bytes before each row)."""

    log: Any
    leo: int
    a: int
    k: int
    hw_l: Any
    bl: Any
    at_l: Any
    start: int
    head: int
    cols: tuple
    cum: np.ndarray
    hw_a: np.ndarray | None
    bl_a: np.ndarray | None


class LeanRunner:
    """The cluster's lanes: their steps, the windows they run in, and the trace rows they owe.

    Each lane keeps its own steps (a small heap keyed ``(time, event id)``). A run starts where
    the earliest lane step is due and runs *windows*:

    - a **free** window, when every lane is steady and every partition they read is
      predictable (``_predict``): each lane in turn runs all its steps before simpy's next
      event (and before any loop's ``until``). Lanes touch only their own consumer, their own
      partitions' offsets at the coordinator and the trace, and read partitions at their own
      step times from the inbound batches' known HW times (no settling), so their steps
      commute and the order among lanes does not matter;
    - else a **strict** window: the earliest lane runs until another lane's step or simpy's
      next event comes first — global time order, reading partitions as they are now.
    """

    def __init__(self, cluster: Any) -> None:
        self.env: simpy.Environment = cluster.env
        self.cluster = cluster
        self.lanes: list[Lane] = []
        self._queue: list = self.env._queue  # type: ignore[attr-defined]
        self._eid = self.env._eid  # type: ignore[attr-defined]
        self._armed: set[int] = set()
        self._running = False
        self.free = False  # the window running now is free
        self.horizon = INF  # the time the window running now ends at
        self._views: dict[Any, _View] = {}  # partition -> its HW over time (free windows)
        self._strict_until = -INF  # no free window before this time ...
        self._strict_head: Any = None  # ... while simpy's next event is this one
        self._strict_timed = False  # ... or whatever happens (a reason with an end time)
        self.parked: set[Lane] = set()  # lanes whose fetch waits for data
        trace = cluster.trace
        self.tracing = trace.enabled
        self._delivered = trace.delivered
        self._committed = trace.committed
        self.deliveries: list[tuple] = []  # (msg column, row from, row to, receiver, t)
        self.commits: list[tuple] = []  # (lane, its partitions' offsets, t)
        self.blocks: list[tuple] = []  # deliveries owed in bulk (``owe``), after those above
        self.block_chunks = 0
        self.commit_blocks: list[tuple] = []  # commits owed in bulk (``owe_commits``)
        self.sweeping = SWEEPING
        self.swept = 0  # cycles run by sweeps
        self.taken = 0  # lanes started
        self.released = 0  # lanes handed back to the fast path
        self.windows = [0, 0]  # free and strict windows run
        self.turns = 0  # whole cycles run at once (``Lane._turns``)
        self.reconsidered = 0  # waiting fetches woken earlier by a second look
        if self.tracing:
            self._delivered.add_feeder(self.flush)
            self._committed.add_feeder(self.flush)
        cluster.sim.on_sync(self.flush)

    # ---- lanes -----------------------------------------------------------------------------
    def add(self, lane: Lane) -> None:
        self.lanes.append(lane)
        self._strict_until = -INF

    def remove(self, lane: Lane) -> None:
        self.lanes.remove(lane)
        self.parked.discard(lane)
        self._strict_until = -INF

    def _arm(self, t: float, eid: int) -> None:
        if eid in self._armed:
            return
        self._armed.add(eid)
        heappush(self._queue, (t, NORMAL, eid, _Wake(eid, self)))

    # ---- running ---------------------------------------------------------------------------
    def _head(self) -> tuple[float, float]:
        """Simpy's next event as a lane-step key ``(time, event id)`` (this runner's wake-ups
        at the head are dropped: a run does their work)."""
        queue = self._queue
        armed = self._armed
        while queue:
            q = queue[0]
            event = q[3]
            if type(event) is _Wake and event.runner is self:
                heappop(queue)
                armed.discard(event._value)
                continue
            prio = q[1]
            return q[0], (q[2] if prio == NORMAL else -1 if prio < NORMAL else INF)
        return INF, INF

    def _run(self, wake: _Wake) -> None:
        """Run lane steps, window after window, while they come before simpy's next event."""
        self._armed.discard(wake._value)
        env = self.env
        self._running = True
        head_t = INF
        try:
            if self.parked:
                for lane in list(self.parked):
                    lane.reconsider()
            while True:
                head_t, head_e = self._head()
                first = None
                ft, fe = INF, INF
                st, se = INF, INF  # the second-earliest lane's head
                for lane in self.lanes:
                    steps = lane.steps
                    if steps:
                        e = steps[0]
                        t, eid = e[0], e[1]
                        if t < ft or (t == ft and eid < fe):
                            st, se = ft, fe
                            first, ft, fe = lane, t, eid
                        elif t < st or (t == st and eid < se):
                            st, se = t, eid
                if first is None or ft > head_t or (ft == head_t and fe > head_e):
                    break
                env._now = ft  # type: ignore[attr-defined]
                if self._free(ft):
                    until = self._until()
                    if ft < until:
                        if head_t > until:
                            head_t, head_e = until, -1
                        self.free = True
                        self.horizon = head_t
                        self.windows[0] += 1
                        for lane in list(self.lanes):
                            lane.advance(head_t, head_e)
                        self.free = False
                        continue
                self.windows[1] += 1
                if st < head_t or (st == head_t and se < head_e):
                    head_t, head_e = st, se
                self.horizon = head_t
                first.advance(head_t, head_e, True)
        finally:
            self._running = False
            self.free = False
            lanes = [lane for lane in self.lanes if lane.steps]
            if lanes:
                e = min(lane.steps[0] for lane in lanes)  # (event ids are unique)
                self._arm(e[0], e[1])
            if self.parked and head_t < INF:  # look again after simpy's next event
                self._arm(head_t, next(self._eid))

    def _until(self) -> float:
        """The earliest ``until`` of the lanes' loops: free windows stop short of it."""
        out = INF
        for lane in self.lanes:
            until = lane.loop.until
            if until is not None and until < out:
                out = until
        return out

    def _free(self, now: float) -> bool:
        """Whether a free window may start now (see the class docstring); settles the
        partitions the lanes read and takes their HW-over-time views."""
        queue = self._queue
        qhead = queue[0][3] if queue else None
        if now < self._strict_until and (self._strict_timed or qhead is self._strict_head):
            return False  # (a reason that lasts until a known time, or until an event)
        views = self._views
        views.clear()
        cluster = self.cluster
        again = INF  # when a strict reason may go away by itself
        free = _steady(cluster) and not cluster.replicating
        if free:
            for lane in self.lanes:
                if not lane.steady():
                    free = False
                    break
        if free:
            for lane in self.lanes:
                for st in lane.parts:
                    part = st.part
                    if part in views:
                        continue
                    log = part.log  # settled: every inbound batch due by now applied
                    view, when = self._predict(part, log)
                    if view is None:
                        free = False
                        if when < again:
                            again = when
                        break
                    views[part] = view
                if not free:
                    break
        if not free:
            self._strict_timed = again < INF
            self._strict_until = again if self._strict_timed else INF
            self._strict_head = qhead
        return free

    def _predict(self, part: Any, log: Any) -> tuple[_View | None, float]:
        """The partition's HW over time (``_View``) when the inbound batches say it exactly
        (``Partition.hw_ahead``); else ``(None, t)``: ``t`` is when that may change without an
        event (inf: only an event)."""
        known, b, when = part.hw_ahead()
        if not known:
            return None, when
        if b is None:
            return self._view(log, log.log_end_offset, 0, 0, (), (), ()), INF
        return self._view(log, log.log_end_offset, b.applied, b.k, b.hw_l, b.bl, b.at_l,
                          b.hw_at, b.bounds), INF

    @staticmethod
    def _view(log: Any, leo: int, a: int, k: int, hw_l: Any, bl: Any, at_l: Any,
              hw_a: np.ndarray | None = None, bl_a: np.ndarray | None = None) -> _View:
        head, cols, cum = log.row_columns()
        return _View(log, leo, a, k, hw_l, bl, at_l, log.log_start_offset, head, cols, cum,
                     hw_a, bl_a)

    def look(self, part: Any, now: float) -> tuple[Any, int, float]:
        """The partition's log, its high watermark now and the time the HW next moves (inf:
        not known)."""
        if self.free:
            view = self._views[part]
            return (view.log, *_hw_at(view, now))
        log = part.log
        return log, log.high_watermark, part.next_hw_move

    def end(self, part: Any, now: float) -> int:
        """The partition's log end offset now."""
        if self.free:  # the records arrived by now (the inbound batches' arrival times)
            view = self._views[part]
            leo, a, k, bl = view.leo, view.a, view.k, view.bl
            return leo if a == k else leo + bl[bisect_right(view.at_l, now, a, k)] - bl[a]
        return part.log.log_end_offset

    # ---- the trace -------------------------------------------------------------------------
    def flush(self) -> None:
        """Append the deliveries and commits owed to the trace, in time order (a stable sort:
        rows of one instant stay in the order they were owed)."""
        if self.deliveries:
            self._seal_deliveries()
        blocks = self.blocks
        if blocks:
            self.blocks = []
            self.block_chunks = 0
            arrays, which, lo, hi, receiver, t = _joined(blocks)
            order = np.argsort(t, kind="stable")
            msg, n = _gather(arrays, which[order], lo[order], hi[order])
            self._delivered.extend(msg=msg, receiver=np.repeat(receiver[order], n), via=-1,
                                   t=np.repeat(t[order], n))
        if self.commits:
            self._seal_commits()
        blocks = self.commit_blocks
        if blocks:  # one row per partition, in the request's order
            self.commit_blocks = []
            receiver, channel, partition, offset, t = (
                np.concatenate(column) for column in zip(*blocks, strict=True))
            order = np.argsort(t, kind="stable")
            self._committed.extend(receiver=receiver[order], channel=channel[order],
                                   partition=partition[order], offset=offset[order],
                                   t=t[order])

    def owe(self, arrays: list, which: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            receiver: int, t: np.ndarray) -> None:
        """Owe the trace the deliveries of rows ``lo[c]:hi[c]`` of ``arrays[which[c]]`` to
        ``receiver`` at ``t[c]`` — after every delivery owed before."""
        if self.deliveries:
            self._seal_deliveries()
        self.blocks.append((arrays, which, lo, hi, np.full(len(lo), receiver, dtype=np.int64),
                            t))
        self.block_chunks += len(lo)

    def owe_commits(self, lane: Lane, offsets: np.ndarray, t: np.ndarray) -> None:
        """Owe the trace ``lane``'s commits of ``offsets[n]`` (its partitions' offsets) stored
        at ``t[n]`` — after every commit owed before."""
        if self.commits:
            self._seal_commits()
        m, p = offsets.shape
        self.commit_blocks.append((
            np.full(m * p, lane.c.receiver, dtype=np.int64),
            np.tile(np.asarray(lane.topics, dtype=np.int64), m),
            np.tile(np.asarray(lane.partitions, dtype=np.int64), m),
            offsets.ravel(), np.repeat(t, p)))

    def _seal_deliveries(self) -> None:
        """The deliveries owed one chunk at a time, as a block (``owe``)."""
        rows = self.deliveries
        arrays, lo, hi, receiver, t = zip(*rows, strict=True)
        rows.clear()  # (in place: ``Lane._turns`` holds the list)
        n = len(lo)
        self.blocks.append((arrays, np.arange(n), np.asarray(lo, dtype=np.int64),
                            np.asarray(hi, dtype=np.int64),
                            np.asarray(receiver, dtype=np.int64),
                            np.asarray(t, dtype=np.float64)))
        self.block_chunks += n

    def _seal_commits(self) -> None:
        """The commits owed one at a time, as a block of rows."""
        commits = self.commits
        lanes, offsets, t = zip(*commits, strict=True)
        commits.clear()
        k = np.fromiter((len(o) for o in offsets), dtype=np.int64, count=len(offsets))
        rows = int(k.sum())

        def column(lists: Any) -> np.ndarray:
            return np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=rows)

        self.commit_blocks.append((
            np.repeat(np.array([lane.c.receiver for lane in lanes], dtype=np.int64), k),
            column(lane.topics for lane in lanes), column(lane.partitions for lane in lanes),
            column(offsets), np.repeat(np.array(t, dtype=np.float64), k)))


def _joined(blocks: list[tuple]) -> tuple:
    """Delivery blocks (``LeanRunner.owe``) as one: the arrays one after another, ``which``
    shifted to match."""
    if len(blocks) == 1:
        return blocks[0]
    arrays: list = []
    which = []
    for block in blocks:
        which.append(block[1] + len(arrays))
        arrays.extend(block[0])
    lo, hi, receiver, t = (np.concatenate([block[c] for block in blocks]) for c in range(2, 6))
    return arrays, np.concatenate(which), lo, hi, receiver, t


def _rows(cum: np.ndarray, i: int, j: int, limit: int) -> tuple[int, int]:
    """Log rows ``i:j`` cut to at most ``limit`` bytes, though never to no record (KIP-74: a
    record larger than the limit still comes alone), and their bytes (``cum``: bytes before
    each row)."""
    nbytes = cum.item(j) - cum.item(i)
    if nbytes > limit:
        m = int(np.searchsorted(cum[i + 1:j + 1], cum.item(i) + limit, side="right"))
        j = i + (m if m > 1 else 1)
        nbytes = cum.item(j) - cum.item(i)
    return j, nbytes


def _hw_at(view: _View, now: float) -> tuple[int, float]:
    """A partition's high watermark at ``now`` from its view (``LeanRunner._predict``), and
    when it next moves (inf: not known)."""
    leo, a, k, hw_l, bl = view.leo, view.a, view.k, view.hw_l, view.bl
    if a == k:
        return leo, INF
    j = bisect_right(hw_l, now, a, k)
    return leo + bl[j] - bl[a], hw_l[j] if j < k else INF


def _gather(arrays: Any, which: np.ndarray, lo: np.ndarray,
            hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``concatenate([arrays[w][i:j] for w, i, j in zip(which, lo, hi)])`` and the chunks'
    lengths, with a few numpy calls per distinct array (``arrays`` may hold one array many
    times: the chunks are ranges of a few log columns)."""
    n = hi - lo
    total = int(n.sum())
    src = np.repeat(lo - (np.cumsum(n) - n), n)
    src += np.arange(total)  # row k of chunk c comes from row lo[c] + k of its array
    ids = np.fromiter(map(id, arrays), dtype=np.int64, count=len(arrays))
    _ids, at, inverse = np.unique(ids, return_index=True, return_inverse=True)
    if len(at) == 1:
        return arrays[at.item(0)][src], n
    g = inverse[which]  # each chunk's distinct array
    first = np.full(len(at), np.iinfo(np.int64).max, dtype=np.int64)
    last = np.zeros(len(at), dtype=np.int64)
    np.minimum.at(first, g, lo)
    np.maximum.at(last, g, hi)
    width = last - first
    base = np.cumsum(width) - width - first  # row r of distinct array d: base[d] + r
    src += np.repeat(base[g], n)
    return np.concatenate([arrays[i][f:e] for i, f, e in zip(
        at.tolist(), first.tolist(), last.tolist(), strict=True)])[src], n


class _Fetch:
    """A lane's fetch in flight: what it asks for, when it was sent, its deadline and answers."""

    __slots__ = ("answered", "answers", "deadline", "due", "sent", "token", "wanted")

    def __init__(self, wanted: list[tuple], sent: float) -> None:
        self.wanted = wanted
        self.sent = sent
        self.deadline = 0.0
        self.due = INF  # when the waiting fetch looks again
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
                 "group", "hints", "latency", "loop", "loop_step", "member", "moves",
                 "moves_window", "partitions", "parts", "poll_timeout", "poll_token", "polling",
                 "r", "ready", "resuming", "steps", "topics", "tps")

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
        self.steps: list[tuple] = []  # (time, event id, fn, arg), a heap
        self.hints: dict[Any, tuple] = {}  # partition -> (view, batch index) (``_serve``)
        self.moves: list[float] = []  # the partitions' HW moves in a free window (``_sweep``)
        self.moves_window = -1  # ... the one with this number
        c._lean = self
        runner.taken += 1
        runner.add(self)

    # ---- scheduling ------------------------------------------------------------------------
    def at(self, t: float, fn, arg: Any) -> None:
        """Run ``fn(arg)`` at time ``t``, keyed as a timeout scheduled now."""
        r = self.r
        eid = next(r._eid)
        heappush(self.steps, (t, eid, fn, arg))
        if not r._running:  # a step added outside a run: a wake-up must stand for it
            r._arm(t, eid)

    def hop(self, fn, arg: Any) -> None:
        """Run ``fn(arg)`` after a zero-time hop: at once when nothing else this lane's steps
        must follow is due at this instant (the hop would be the very next thing to run), else
        as a timeout(0) would."""
        r = self.r
        now = r.env._now  # type: ignore[attr-defined]
        steps = self.steps
        queue = r._queue
        if ((not steps or steps[0][0] > now) and r.horizon > now
                and (not queue or queue[0][0] > now)):
            fn(arg)
        else:
            self.at(now, fn, arg)

    def advance(self, t: float, eid: float, strict: bool = False) -> None:
        """Run this lane's steps keyed below ``(t, eid)`` — ``strict``: and below simpy's
        next event, which a step may have scheduled."""
        steps = self.steps
        r = self.r
        env = r.env
        while steps and not self.dead:
            e = steps[0]
            if e[0] > t or (e[0] == t and e[1] > eid):
                return
            if strict:
                qt, qe = r._head()
                if e[0] > qt or (e[0] == qt and e[1] > qe):
                    return
            heappop(steps)
            env._now = e[0]  # type: ignore[attr-defined]
            e[2](e[3])

    def steady(self) -> bool:
        """Nothing that would hand the lane back is pending (it takes an event to change)."""
        loop, c, group = self.loop, self.c, self.group
        return not (loop._stopping or c._closing or c._fatal is not None or c._rejoin_needed
                    or c._joining or c._wake is not None or c._generation != self.generation
                    or group.generation != self.generation or self.member not in group.members)

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
                or c._generation != self.generation
                or (not self.r.free and not _steady(c.cluster))):  # (free: steady throughout)
            self.release()
            self.engine._top()
            return
        if self.r.free:
            self._turns(now)
        else:
            self._poll(now, True)

    def _turns(self, t0: float) -> None:
        """Whole cycles at once in a free window, from the top of the loop at ``t0``: poll
        (drain, fetch), deliver and commit at ``t0``; the fetch answered and the OffsetCommit
        stored at ``t1 = t0 + latency``; the response applied and the commit answered at
        ``t2 = t1 + latency``, the next top. A fetch that finds no data waits until the first
        HW move of a wanted partition, ``t*``, and its response comes at ``tr = t* + latency``:
        by ``t2`` (the next top drains it), or later — the top at ``t2`` then waits in
        ``poll()`` and the response wakes it, and the next cycle starts from that poll at
        ``tr``. The same changes, in the same order, as the steps would make (other lanes'
        steps between them do not touch this lane), as long as the cycle ends before the window
        does and no step of this lane comes between; the first cycle that does not qualify goes
        on step by step."""
        r = self.r
        env = r.env
        c = self.c
        steps = self.steps
        parts = self.parts
        buf = self.buf
        ready = self.ready
        latency = self.latency
        horizon = r.horizon
        max_wait = c._fetch_max_wait
        poll_timeout = self.poll_timeout
        receiver = c.receiver
        tracing = r.tracing
        deliveries = r.deliveries
        drain = self._drain
        serve = self._serve
        stale = self._stale
        position_of = attrgetter("position")
        sweeping = r.sweeping
        # what no one else reads before the window ends is written once, at the end
        polls = fetches = commits = processed = 0
        offsets: list[int] | None = None
        committed_at = 0.0
        top = True  # the cycle starts at the top of the loop (else: in a woken poll())
        while True:
            t1 = t0 + latency
            t2 = t1 + latency
            while steps and steps[0][0] <= t2 and stale(steps[0]):
                heappop(steps)  # (a stale step later than the cycle is left where it is)
            if (t2 >= horizon or (steps and steps[0][0] <= t2) or c._fetching or not ready):
                break
            env._now = t0  # type: ignore[attr-defined]
            c._last_poll = t0
            if top:
                polls += 1
            chunks = drain()
            if not buf and sweeping:  # every partition's records taken: sweep from here
                swept = self._sweep(t0, chunks)
                if swept is not None:
                    n, more_polls, more, offsets, committed_at, t0, top = swept
                    polls += more_polls
                    fetches += n
                    commits += n
                    processed += more
                    deliveries = r.deliveries
                    continue
            wanted = [st for st in parts if st not in buf]
            answered = t1
            answers = serve(wanted, t1) if wanted else []
            if answers is None:  # the fetch would wait for data
                answered = INF
                for st in wanted:
                    moves = r.look(st.part, t1)[2]
                    if moves < answered:
                        answered = moves
                tr = answered + latency
                while steps and steps[0][0] <= tr and stale(steps[0]):
                    heappop(steps)
                if (answered < t1 + max_wait and tr < horizon
                        and (not steps or steps[0][0] > tr)
                        and (tr <= t2 or (not ready and tr < t2 + poll_timeout))):
                    answers = serve(wanted, answered)
                if answers is None:  # (or it would fail): step by step from here
                    self._count(polls, fetches, commits, processed, offsets, committed_at)
                    self._send_fetch(t0)
                    self.polling = False
                    self._consume(t0, chunks)
                    return
            if wanted:
                fetches += 1
            self.polling = False
            # deliver (zero processing time) and send the OffsetCommit
            for msg, i, j in chunks:
                processed += j - i
                if tracing:
                    deliveries.append((msg, i, j, receiver, t0))
            if len(deliveries) + r.block_chunks > FLUSH_CHUNKS:
                r.flush()
                deliveries = r.deliveries
            # t1: the OffsetCommit at the coordinator
            offsets = list(map(position_of, parts))
            committed_at = t1
            if tracing:
                r.commits.append((self, offsets, t1))
            # t2: the commit answered (and the top of the loop); the response at tr
            commits += 1
            tr = answered + latency
            if tr > t2:  # the top at t2 finds nothing buffered and waits in poll()
                c._last_poll = t2
                polls += 1
                self.deadline = t2 + poll_timeout
                self.poll_token += 1
            for st, cols, i, j, hw, start in answers:
                st.checked = answered
                st.hw = hw
                if j > i:
                    buf[st] = [cols, i, j, st.position, start]
                    ready.append(st)
            if tr > t2:
                t0, top = tr, False
            else:
                t0, top = t2, True
        self._count(polls, fetches, commits, processed, offsets, committed_at)
        env._now = t0  # type: ignore[attr-defined]
        if not top:
            self.polling = True  # the woken poll() goes on
        self._poll(t0, top)

    def _sweep(self, t0: float, chunks: list[tuple]) -> tuple | None:
        """``_turns``' cycles from the one at ``t0`` on, computed at once while every fetch
        takes all its partitions' new records whole: this cycle's poll drained ``chunks`` and
        left nothing buffered, so every fetch asks for every partition and, when none is cut
        short (``max.partition.fetch.bytes``, ``fetch.max.bytes``) and the next poll drains it
        whole (``max.poll.records``), leaves every partition fetched up to its HW at the answer.
        Then the only question a cycle asks is when the earliest HW move not yet fetched comes
        (``moves``: the partitions' moves merged): by ``t1`` the fetch is answered on arrival,
        else when it comes. That recurrence runs on floats; the records, commits and limits of
        all its cycles are then found with numpy, the cycles kept up to the first one that a
        limit would cut, and their deliveries and commits owed to the trace in bulk. Returns
        ``(cycles, polls after the first, records delivered after the first poll's, last
        commit's offsets, its time, next cycle's start, whether it is a top)``, or None when
        not even this cycle qualifies."""
        r = self.r
        c = self.c
        views = r._views
        parts = self.parts
        latency = self.latency
        steps = self.steps
        while steps and self._stale(steps[0]):
            heappop(steps)  # (stale steps stay stale: poll tokens and fetches only move on)
        end = r.horizon  # the cycles end before the window and this lane's next step
        if steps and steps[0][0] < end:
            end = steps[0][0]
        unfetched = INF  # the earliest HW move not yet fetched (-inf: records there now)
        for st in parts:
            view = views[st.part]
            leo, a, k, hw_l, bl = view.leo, view.a, view.k, view.hw_l, view.bl
            off = st.position
            if off < view.start:
                return None  # below the log start: an error answer
            if off < leo:
                unfetched = -INF
                continue
            if a == k:
                if off != leo:
                    return None
                continue
            d = off - leo + bl[a]  # the position as a row of the inbound batches
            j = bisect_left(bl, d, a, k + 1)
            if j > k or bl[j] != d:
                return None  # (within a batch: not what whole fetches leave)
            if j < k and hw_l[j] < unfetched:
                unfetched = hw_l[j]
        moves = self._moves()
        n_moves = len(moves)
        max_wait = c._fetch_max_wait
        poll_timeout = self.poll_timeout
        starts = [t0]  # each cycle's start, and the start after the last
        tops = [True]  # whether a start is a top of the loop (else a woken poll(); [0]: unused)
        answers = []  # each cycle's fetch answer
        waits = []  # (cycle, t2) of the cycles whose next poll() waits for the response
        jm = 0
        t = t0
        most = SWEEP_CYCLES
        while len(answers) < most:
            t1 = t + latency
            t2 = t1 + latency
            if t2 >= end:
                break
            if unfetched <= t1:
                answered = t1
            else:  # the fetch waits for the first move
                answered = unfetched
                tr = answered + latency
                if not (answered < t1 + max_wait and tr < end
                        and (tr <= t2 or tr < t2 + poll_timeout)):
                    break
            jm = bisect_right(moves, answered, jm)
            unfetched = moves[jm] if jm < n_moves else INF
            answers.append(answered)
            tr = answered + latency
            if tr > t2:
                waits.append((len(answers) - 1, t2))
                t = tr
                tops.append(False)
            else:
                t = t2
                tops.append(True)
            starts.append(t)
        m = len(answers)
        if not m:
            return None
        # every partition's offset after each cycle's fetch: its HW at the answer
        answered_at = np.array(answers)
        npart = len(parts)
        ends = np.empty((npart, m + 1), dtype=np.int64)  # [:, 0]: positions now
        before = np.empty((npart, m + 1), dtype=np.int64)  # bytes of the log before them
        origins = []  # per partition: the log row offset 0 would be in (head row - log start)
        arrays = []
        for p, st in enumerate(parts):
            view = views[st.part]
            leo, a, k = view.leo, view.a, view.k
            ends[p, 0] = st.position
            if a == k:
                ends[p, 1:] = leo
            else:
                bl_a = view.bl_a
                moved = np.searchsorted(view.hw_a[a:k], answered_at, side="right")
                ends[p, 1:] = bl_a[a + moved] + (leo - int(bl_a[a]))
            row0 = view.head - view.start
            origins.append(row0)
            before[p] = view.cum[ends[p] + row0]
            arrays.append(view.cols[1])
        got = np.diff(ends, axis=1)  # records each fetch takes, per partition
        size = np.diff(before, axis=1)
        budget = c._fetch_max_bytes - (np.cumsum(size, axis=0) - size)
        cut = ((budget <= 0) | (size > c._partition_max_bytes) | (size > budget)).any(axis=0)
        taken = got.sum(axis=0)
        cut |= taken == 0  # (a batch without records: a move with nothing to fetch)
        cut[1:] |= taken[:-1] > c._max_poll_records  # the next poll would not drain it all
        if cut.any():
            m = int(cut.argmax())
            if not m:
                return None
        # the cycles 0..m-1 stand; the records fetched by all but the last are delivered
        r.swept += m
        later = int(taken[:m - 1].sum())
        processed = later
        for _msg, i, j in chunks:
            processed += j - i
        c.stats["records"] += later
        if r.tracing:
            receiver = c.receiver
            deliveries = r.deliveries
            for msg, i, j in chunks:
                deliveries.append((msg, i, j, receiver, t0))
            if m > 1:  # chunks by delivery, partitions in buffer order within one
                row0 = np.asarray(origins, dtype=np.int64)[:, None]
                lo = (ends[:, :m - 1] + row0).T.ravel()
                hi = (ends[:, 1:m] + row0).T.ravel()
                keep = hi > lo
                which = np.tile(np.arange(npart), m - 1)[keep]
                at = np.repeat(np.array(starts[1:m]), npart)[keep]
                r.owe(arrays, which, lo[keep], hi[keep], receiver, at)
            # each cycle's OffsetCommit stored at the coordinator at t1 (the same float sums)
            r.owe_commits(self, ends[:, :m].T.copy(), np.array(starts[:m]) + latency)
            if len(deliveries) + r.block_chunks > FLUSH_CHUNKS:
                r.flush()
        # the state at the start of cycle m: the last fetch's records buffered
        last = answers[m - 1]
        buf = self.buf
        ready = self.ready
        for p, st in enumerate(parts):
            off, hw = int(ends[p, m - 1]), int(ends[p, m])
            st.position = off
            st.checked = last
            st.hw = hw
            if hw > off:
                row0 = origins[p]
                view = views[st.part]
                buf[st] = [view.cols, off + row0, hw + row0, off, view.start]
                ready.append(st)
        polls = tops[1:m].count(True)
        c._last_poll = starts[m - 1]
        for n, t2 in waits:
            if n >= m:
                break
            polls += 1  # the poll() at t2 that waits for the response
            self.deadline = t2 + poll_timeout
            self.poll_token += 1
            if n == m - 1:
                c._last_poll = t2
        self.polling = False
        offsets = ends[:, m - 1].tolist()
        return m, polls, processed, offsets, starts[m - 1] + latency, starts[m], tops[m]

    def _moves(self) -> list[float]:
        """The HW moves of this lane's partitions in the free window running now, in time
        order (``_sweep``)."""
        window = self.r.windows[0]
        if self.moves_window != window:
            views = self.r._views
            times = [view.hw_a[view.a:view.k]
                     for view in (views[st.part] for st in self.parts) if view.a < view.k]
            self.moves = np.sort(np.concatenate(times)).tolist() if times else []
            self.moves_window = window
        return self.moves

    def _serve(self, wanted: list[Any], now: float) -> list[tuple] | None:
        """``_answers`` for ``_turns``: the fetch of ``wanted`` (positions as they are) answered
        at ``now`` in a free window, as ``(state, columns, row from, row to, HW, log start)``
        for the partitions answered; None when no partition has data (or one would fail). The
        HW is found from where this lane last found it in the same view (lanes look forward)."""
        c = self.c
        r = self.r
        budget = c._fetch_max_bytes
        part_max = c._partition_max_bytes
        views = r._views
        hints = self.hints
        out = []
        data = False
        for st in wanted:
            off = st.position
            part = st.part
            view = views[part]
            _log, leo, a, k, hw_l, bl, _at_l, start, head, cols, cum, _hw_a, _bl_a = view
            if a == k:
                hw = leo
            else:
                hint = hints.get(part)
                j = hint[1] if hint is not None and hint[0] is view else a
                if j < k and hw_l[j] <= now:
                    j += 1
                    if j < k and hw_l[j] <= now:
                        j = bisect_right(hw_l, now, j, k)
                hints[part] = (view, j)
                hw = leo + bl[j] - bl[a]
            if off < start or (off > hw and off > r.end(part, now)):
                return None
            if budget <= 0:  # fetch.max.bytes used up: no answer for this partition
                continue
            if hw <= off:  # an empty answer (it still carries the HW)
                out.append((st, None, 0, 0, hw, start))
                continue
            i = head + (off - start)  # dense offsets: the log start offset at the head row
            j, nbytes = _rows(cum, i, i + (hw - off), part_max if part_max < budget else budget)
            out.append((st, cols, i, j, hw, start))
            budget -= nbytes
            data = True
        return out if data else None

    def _count(self, polls: int, fetches: int, commits: int, processed: int,
               offsets: list[int] | None, committed_at: float) -> None:
        """``_turns``' statistics, and its last OffsetCommit as the coordinator stored it."""
        stats = self.c.stats
        stats["polls"] += polls
        stats["fetches"] += fetches
        stats["commits"] += commits
        lstats = self.loop.stats
        lstats["batches"] += commits
        lstats["processed"] += processed
        self.r.turns += commits
        if offsets is not None:
            group = self.group
            group.members[self.member].last_heartbeat = committed_at
            stored = group.offsets
            stored_at = group.committed_at
            for tp, off in zip(self.tps, offsets, strict=True):
                stored[tp] = off
                stored_at[tp] = committed_at

    def _stale(self, entry: tuple) -> bool:
        """A step that would do nothing (a poll timer or fetch wake-up of the past)."""
        fn = entry[2]
        if fn == self._poll_timer:
            return entry[3] != self.poll_token or not self.polling
        if fn == self._woken:
            fetch, token = entry[3]
            return fetch is not self.fetch or token != fetch.token
        return False

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
            self.at(self.deadline, self._poll_timer, self.poll_token)
        elif now >= self.deadline:
            self.polling = False
            self.poll_token += 1
            self.loop_step = ("top", now)
            self.at(now, self._top, None)  # the empty batch: the loop goes round

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
        self.at(t, self._arrive, fetch)

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
        if len(r.deliveries) + r.block_chunks > FLUSH_CHUNKS:
            r.flush()  # bounded: the chunks keep the log's older column arrays alive
        loop.stats["processed"] += n
        offsets = [st.position for st in self.parts]
        t = now + self.latency
        self.loop_step = ("coord", t, offsets, now)
        self.at(t, self._coordinator, (offsets, now))

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
        if (member is None or self.generation != group.generation
                or (not self.r.free and not _steady(c.cluster))):
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
        self.at(t, self._committed, None)

    def _committed(self, _arg: Any) -> None:
        if self.dead:
            return
        self.c.stats["commits"] += 1
        now = self.r.env._now  # type: ignore[attr-defined]
        self.loop_step = ("top", now)
        self.hop(self._top, None)  # the commit process's end event

    def _poll_timer(self, token: int) -> None:
        if self.dead or token != self.poll_token or not self.polling or self.resuming:
            return
        self.resuming = True
        self.hop(self._resume, token)

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
        r = self.r
        now = r.env._now  # type: ignore[attr-defined]
        c = self.c
        if not r.free and not _steady(c.cluster):
            self._hand_fetch_back(fetch)._check()
            return
        if now < fetch.deadline:
            due = INF
            for st, _epoch, off in fetch.wanted:
                part = st.part
                log, hw, moves = r.look(part, now)
                if (off < log.log_start_offset or part.truncations
                        or (off > hw and off > r.end(part, now))):
                    self._hand_fetch_back(fetch)._check()  # an error answer: the fast path's
                    return
                if hw > off:
                    break
                if moves < due:
                    due = moves
            else:
                self._wait(fetch, due)
                return
        self._answer(fetch, now)

    def _wait(self, fetch: _Fetch, due: float) -> None:
        """Wait for data or the deadline: in a free window, until the first HW move of a
        wanted partition the inbound batches tell (looked at again after every simpy event
        while it waits: ``reconsider``); else on the partitions' own wake-ups."""
        fetch.token += 1
        token = fetch.token
        self.fetch_step = ("wait",)
        if self.r.free:
            if due > fetch.deadline:
                due = fetch.deadline
            fetch.due = due
            self.at(due, self._woken, (fetch, token))
            self.r.parked.add(self)
            return

        def woken(_event: Any) -> None:
            self._woken((fetch, token))

        for st, _epoch, _off in fetch.wanted:
            st.part.wait_for_data().callbacks.append(woken)
        self.at(fetch.deadline, self._woken, (fetch, token))

    def reconsider(self) -> None:
        """A parked fetch looks at its partitions again (simpy events may have added data or
        inbound batches): it wakes earlier if it now has data or knows of an earlier HW move."""
        fetch = self.fetch
        step = self.fetch_step
        if self.dead or fetch is None or step is None or step[0] != "wait":
            self.r.parked.discard(self)
            return
        r = self.r
        now = r.env._now  # type: ignore[attr-defined]
        due = fetch.due
        for st, _epoch, off in fetch.wanted:
            _log, hw, moves = r.look(st.part, now)  # (between windows: as the log is now)
            if hw > off:
                due = now
                break
            if moves < due:
                due = moves
        if due < fetch.due:
            self.r.reconsidered += 1
            fetch.token += 1
            fetch.due = due
            self.at(due, self._woken, (fetch, fetch.token))

    def _woken(self, arg: tuple) -> None:
        fetch, token = arg
        if self.dead or fetch is not self.fetch or token != fetch.token:
            return
        fetch.token += 1
        self.r.parked.discard(self)
        now = self.r.env._now  # type: ignore[attr-defined]
        self.fetch_step = ("recheck", now)
        self.at(now, self._recheck, fetch)  # the any_of condition's own event

    def _recheck(self, fetch: _Fetch) -> None:
        if self.dead or fetch is not self.fetch:
            return
        self.fetch_step = None
        self._check(fetch)

    def _answer(self, fetch: _Fetch, now: float) -> None:
        """``Fetcher._fetch_answers`` on row ranges, sent back one latency later."""
        answers = self._answers(fetch.wanted, now)
        if answers is None:  # an error answer: the fast path's
            self._hand_fetch_back(fetch)._check()
            return
        fetch.answers = answers
        fetch.answered = now
        t = now + self.latency
        self.fetch_step = ("respond", t)
        self.at(t, self._respond, fetch)

    def _answers(self, wanted: list[tuple], now: float) -> list[tuple] | None:
        """The answers to a fetch of ``wanted`` at ``now`` (``Log.read``'s byte limits); None
        for an error answer (the fast path gives it)."""
        c = self.c
        r = self.r
        budget = c._fetch_max_bytes
        part_max = c._partition_max_bytes
        answers: list[tuple] = []
        add = answers.append
        free = r.free
        views = r._views
        for st, epoch, off in wanted:
            part = st.part
            if free:  # the window's view (no leader change or truncation in a free window)
                view = views[part]
            else:
                if part.truncations or part.leader < 0:
                    return None
                log = part.log
                view = r._view(log, log.high_watermark, 0, 0, (), (), ())
            start, head, cols, cum = view.start, view.head, view.cols, view.cum
            hw = _hw_at(view, now)[0]
            if off < start or (off > hw and off > r.end(part, now)):
                return None
            if budget <= 0:  # fetch.max.bytes used up: no answer for this partition
                add((st, epoch, off, None, 0, 0, 0, 0, 0))
                continue
            if hw <= off:  # nothing new: an empty answer (it still carries the HW)
                add((st, epoch, off, (), 0, 0, hw, start, 0))
                continue
            # offsets are dense without compaction: the log start offset sits at the head row
            i = head + (off - start)
            j, nbytes = _rows(cum, i, i + (hw - off), part_max if part_max < budget else budget)
            add((st, epoch, off, cols, i, j, hw, start, nbytes))
            budget -= nbytes
        return answers

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
            self.hop(self._resume, self.poll_token)

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
        self.steps.clear()
        self.r.remove(self)
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
