"""The producer's fast bulk path: produce requests planned a window at a time, without events.

``Producer.produce()`` hands the producer whole arrays of records, so it knows every send time in
advance. While nothing else is going on (see *When it applies*), the ``Planner`` works out a
window of the sender's future at once — which batches each request carries, when it leaves,
reaches the leader and is answered — in one tight loop per broker over precomputed per-record
tables, instead of several simpy events and numpy calls per batch. The leader gets the batches
as ``Inbound`` columns that it appends when their arrival time has come (``inbound.py``), and
the trace rows, ``BulkSend`` arrays and ``done`` event are settled in bulk.

Kafka behaviour reproduced — exactly what the event path (``Producer._run_sender`` and friends)
does for bulk feeds, rule for rule:

- A partition's next batch starts at its first unsent record and is *ready* when full (the
  record that would overflow ``batch.size`` has been sent, or the batch is exactly full) or
  ``linger.ms`` after its first record (``Feed.ready_at``; a lone record bigger than
  ``batch.size`` is a batch of its own).
- The sender drains a broker as soon as one of its partitions is ready: one request carries the
  head batch of *every* partition of that broker that has records sent by then, ready or not,
  up to ``batch.size`` each and ``max.request.size`` in total, starting one partition further on
  each time (``drainBatchesForOneNode``); it repeats at the same instant while a partition is
  still ready.
- At most ``max.in.flight.requests.per.connection`` unanswered requests per broker: when the
  limit binds, the next request leaves when the oldest answer arrives, with every record sent
  by then (the planner keeps each broker's answer times; ``acks=0`` has no limit).
- Times: a request sent at ``r`` reaches the leader at ``r + latency`` and is appended then;
  ``acks=1`` is answered at ``r + 2·latency``; ``acks=all`` waits for the high watermark too
  (``2·latency`` more with followers); ``acks=0`` completes at ``r`` with offset -1. Records
  become visible to consumers when the HW covers them (at the append with one replica, two
  latencies later with followers). Offsets are given at arrival, in arrival order, so other
  producers' appends interleave correctly. Idempotent batches get their sequence numbers as
  when sent and the leader's producer state is kept up to date.

When it applies: the planner runs while the producer has bulk feeds and nothing that needs the
event path — no ``send()`` batches queued, no retries or event-path requests in flight, no
``flush()`` or ``close()`` pending, no random link loss. It stops *before* the first request it
cannot vouch for — one the link would lose (a cut), one the leader would reject (too large,
keyless on a compacted topic, ``acks=all`` under ``min.insync.replicas``), or one carrying a
record past ``delivery.timeout.ms`` — and hands over to the event path from that instant,
turning its requests still in flight into ordinary ones. ``send()``, ``flush()``, ``close()``
and a new link cut hand over at once; another ``produce()`` re-plans from now. The event path
hands back as soon as it is quiet again.

Runs: most of the time each request carries exactly one batch, sent the instant it is ready
(a sticky producer fills one partition's batch at a time). Then a broker's requests are just
each partition's chain of batches (a batch drained when ready ends at ``nxt``) merged by ready
time, so ``_schedule`` builds that merge with numpy, marking the requests where it is not what
the sender does (two partitions ready together, another partition's records waiting, a stop),
and ``_run`` plans the unmarked stretch from where the sender is at once, checking the
in-flight limit as the loop does; the loop plans the rest a request at a time, and runs go on
when the partitions are back on the schedule (``tests/test_kafka_planner_runs.py`` compares
runs on and off, exactly).

Equivalence (``tests/test_kafka_planner.py``): on random workloads the fast path and the event
path give the same batches, requests, offsets and ack times, the same log, and the same trace
rows. Two differences, both invisible to the simulated system: the trace rows of one instant
may be in another order (rows are written in time order, a window at a time), and the trace and
``BulkSend`` arrays are brought up to date when the producer settles — every planning window
(``WINDOW`` simulated seconds after a start or ``produce()``, doubling each step up to
``MAX_WINDOW``: a re-plan wastes little, a long feed is planned in few steps), when a bulk
completes, on a hand-over, and at ``sim.sync()`` (``sim.run`` does it) — not at each answer.
Times equal the event path's up to the last bit of float rounding of simpy's relative timeouts;
a record sent within that rounding of a drain can fall in another batch.

Not modelled beyond the event path: same-instant ties between a request and another producer's
request or a ``produce()`` call (the event path orders them by simpy's event order; here
planned requests of the instant go first).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from typing import Any

import numpy as np

from models.kafka.batches import Feed, ProducerBatch
from models.kafka.inbound import Inbound

INF = float("inf")
WINDOW = 0.05  # simulated seconds of sends planned by the first step after a (re)start
MAX_WINDOW = 1.6  # each further step plans twice as far, up to this (fewer, longer steps
# cost less: each step makes cursors, lanes, inbound columns and rows for every partition)
RUN_MAX = 512  # requests a run looks at (the in-flight check costs as many; the next goes on)
RUN_MIN = 256  # a new schedule that gives a run of fewer requests than this...
RUN_WAIT = 64  # ... is not made again before this many requests are planned one at a time
# (meanwhile the partitions often get back onto the old schedule's chains, as a batch that
# linger.ms closes ends where the chain's does, and runs go on without a new one)


def feed_tables(feed: Feed, linger: float, batch_size: int) -> tuple:
    """Per-record tables of a feed (built once, cached on the feed): send times; ``fit[k]``,
    the end of a batch that starts at record ``k`` (``Feed.cut``); ``ready[k]``, when that
    batch is ready (``Feed.ready_at``); ``cum``, bytes before ``k``; ``nxt[k]``, the end of
    that batch when it is drained at ``ready[k]``. numpy arrays, read a scalar at a time with
    ``.item`` (only batch starts and ends are looked at)."""
    if feed.plan is None:
        t = feed.t
        cum = feed.cum
        n = len(t)
        k = np.arange(n)
        size = int(feed.size[0]) if n else 0
        if size > 0 and (feed.size == size).all():  # records of one size: k + whole records
            fit = np.minimum(k + max(1, batch_size // size), n)
        else:
            fit = np.searchsorted(cum, cum[:-1] + batch_size, side="right") - 1
            fit = np.maximum(fit, k + 1)
        exact = cum[fit] - cum[:-1] >= batch_size
        full_at = np.full(n, np.inf)
        full_at[exact] = t[fit[exact] - 1]
        closing = ~exact & (fit < n)
        full_at[closing] = t[fit[closing]]
        expiry = t + linger
        ready = np.minimum(expiry, full_at)
        # the end of a batch that starts at k if drained the moment it is ready: full (then
        # the records sent by then reach ``fit``), or the records sent by its linger expiry
        nxt = fit.copy()
        early = np.flatnonzero(expiry < full_at)
        nxt[early] = np.minimum(fit[early], np.searchsorted(t, expiry[early], side="right"))
        feed.plan = (t, fit, ready, cum, nxt)
    return feed.plan


class _Cursor:
    """The planner's position in one partition queue: its head feed's tables and next batch
    (``h``: send time of its first unsent record; ``rt``: when that batch is ready)."""

    __slots__ = ("cum", "cumi", "feed", "fi", "fiti", "h", "hwd", "lanes", "maxb", "n", "needkey",
                 "nxt", "nxti", "ok", "pos", "pq", "ready", "readyi", "rows", "rt", "t", "ti")

    def __init__(self, pq: Any, planner: Planner) -> None:
        self.pq = pq
        part = pq.part
        log = part.log
        self.maxb = min(log.max_message_bytes, log.segment_bytes)
        self.needkey = log.compact
        p = planner.producer
        self.ok = (p.acks != "all" or len(part.isr) >= part.min_insync_replicas) \
            and pq.broker == part.leader
        isr = len(part.isr)
        self.hwd = 2.0 * p.cluster.link.latency if isr > 1 else 0.0
        self.fi = -1
        self.n = 0
        self.rt = INF
        self.feed = None
        self.rows = _Rows()  # the batches planned from the current feed
        self.lanes: list[tuple] = []  # (feed, rows) of the feeds planned to their end
        self._load(planner)

    def advance(self, end: int, planner: Planner) -> None:
        """The head batch was sent with the records up to ``end``."""
        self.feed.pos = end
        self.pos = end
        if end < self.n:
            self.rt = self.readyi(end)
            self.h = self.ti(end)
        else:
            self._load(planner)

    def _load(self, planner: Planner) -> None:
        """Move to the next feed with unsent records (``rt`` = INF when there is none)."""
        feeds = self.pq.feeds
        p = planner.producer
        if self.rows.g:
            self.lanes.append((self.feed, self.rows))
            self.rows = _Rows()
        while True:
            self.fi += 1
            if self.fi >= len(feeds):
                self.feed = None
                self.n = 0
                self.pos = 0
                self.rt = self.h = INF
                return
            feed = feeds[self.fi]
            if feed.pos < len(feed.idx):
                break
        self.feed = feed
        t, fit, ready, cum, nxt = feed_tables(feed, p.linger, p.batch_size)
        self.t, self.ready, self.cum, self.nxt = t, ready, cum, nxt
        self.ti, self.fiti, self.readyi, self.cumi = t.item, fit.item, ready.item, cum.item
        self.nxti = nxt.item
        self.n = len(t)
        self.pos = pos = feed.pos
        self.rt = self.readyi(pos)
        self.h = self.ti(pos)


class _Rows:
    """The batches planned for one partition from one feed, in send order, a list per column:
    request number, send, arrival and answer times, first and end record, base sequence (-1
    without idempotence), HW time."""

    __slots__ = ("at", "e", "g", "hw", "r", "resp", "s", "seq")

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, [])


class _Requests:
    """The requests of one planning step in planning order, a list per column (a request's
    number is its index): send time, broker, drain start, answer time, batch count, the time
    the answer leaves the leader."""

    __slots__ = ("broker", "dstart", "hop", "nb", "r", "resp")

    __init__ = _Rows.__init__


class _Chain:
    """One partition's batches in a ``_Schedule`` (``Planner._chain``): first and end records
    (lists ``s``, ``e``), ready (= send) times (array ``ready``, list ``r``), first records'
    send times (``heads``), answer-leaves and answer times (arrays ``hop``, ``resp``), arrival,
    answer and HW times (lists ``at``, ``resp_l``, ``hw``), each batch's place in the schedule
    (``pm``, from batch ``o``: the chain is batches ``o`` on of these, shared with the chain
    it is the tail of) and ``q``, the first one not planned yet; ``after``, the record after
    the last batch, and that next batch's first send and ready times (``t``, ``rnext``; INF at
    the feed's end); ``stop``, the time before which the schedule ends."""

    __slots__ = ("after", "at", "e", "feed", "heads", "hop", "hw", "o", "pm", "q", "r",
                 "ready", "resp", "resp_l", "rnext", "s", "stop", "t")

    def find(self, pos: int) -> int:
        """Index of the batch that starts at ``pos`` (``len(s)`` for ``after``), or -1."""
        starts = self.s
        q = bisect_left(starts, pos, self.o)
        return q if pos == (starts[q] if q < len(starts) else self.after) else -1

    def tail(self, q: int) -> _Chain:
        """The chain from its batch ``q`` on."""
        ch = _Chain()
        ch.after, ch.feed, ch.rnext, ch.stop, ch.t = self.after, self.feed, self.rnext, \
            self.stop, self.t
        ch.at, ch.e, ch.heads, ch.hop, ch.hw = self.at, self.e, self.heads, self.hop, self.hw
        ch.r, ch.ready, ch.resp, ch.resp_l, ch.s = self.r, self.ready, self.resp, \
            self.resp_l, self.s
        ch.o = ch.q = q
        return ch


class _Schedule:
    """A broker's requests that each carry one batch sent when ready (``Planner._schedule``):
    send, answer and answer-leaves times in time order, the places a run must stop before
    (``flags``, sorted, ending with the schedule's length), and each cursor's ``_Chain`` (None
    for a cursor without records); ``ra``, ``respa``: send and answer times as arrays."""

    __slots__ = ("chains", "flags", "hop", "r", "ra", "resp", "respa")


class _Rowset:
    """Rows to write for some batches (``Planner._gather``): each part's first and end record
    (``los``, ``his``) and batch count (``nb``); the batches' record counts and times in row
    order (``counts``, ``bt``); ``ob``, the batches' order (None: as given) and ``order``,
    the records' (None: as given)."""

    __slots__ = ("bt", "counts", "his", "los", "nb", "ob", "order")


class _Lane:
    """The batches one window planned for one partition from one feed, in send order, with
    the settling cursors (published / appended / acknowledged rows written so far)."""

    __slots__ = ("at", "atl", "bulk", "cnt", "e", "el", "feed", "g", "handed", "hw_at",
                 "inbound", "k", "nack", "napp", "npub", "pq", "r", "resp", "rl", "rmax", "s",
                 "seq", "seq_l", "sl")

    def __init__(self, pq: Any, feed: Feed) -> None:
        self.pq = pq
        self.feed = feed
        self.bulk = feed.bulk
        self.npub = self.napp = self.nack = 0
        self.handed = False


class _Window:
    """The requests of one planning step (send times, brokers, drain starts, hops, answers,
    batch counts) and their lanes."""

    __slots__ = ("brokers", "dstart", "hop", "lanes", "nb", "r", "rank", "resp")


class Planner:
    """The fast path of one ``Producer`` (see the module docstring)."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.env = producer.env
        self.active = False
        self.enabled = True  # tests switch it off to compare with the event path
        self.runs = True  # plan runs of one-batch requests at once (tests compare both ways)
        self.run_requests = 0  # requests planned in runs (tests check that runs happen)
        self.windows: deque[_Window] = deque()
        self.infl: dict[int, deque[float]] = {}
        self.epoch = 0
        self.window = WINDOW  # the next step's length
        self._planned: dict[int, list] = {}  # id(bulk) -> [bulk, records planned, last answer]

    # ---- mode changes --------------------------------------------------------------------
    def quiet(self) -> bool:
        """Whether the event path has nothing of its own going on (the planner may take over)."""
        p = self.producer
        if (p._closed or p._flush_waiters or p._blocked or any(p._inflight.values())
                or p._acks0_travelling or p.cluster.link.loss or p.cluster.replicating):
            return False  # replicating: faults have begun, the event path handles them
        has_feed = False
        for pq in p._pqs.values():
            if pq.queue or pq.open is not None or pq.inflight:
                return False
            if not has_feed:
                has_feed = any(f.pos < len(f.idx) for f in pq.feeds)
        return has_feed

    def maybe_start(self) -> None:
        if self.active or not self.enabled or not self.quiet():
            return
        now = self.env.now
        self.active = True
        self.epoch += 1
        self.window = WINDOW
        self.infl = {b: deque() for b in self.producer._by_broker}
        if not self._plan(now, first=True):
            self.active = False

    def replan(self) -> None:
        """Records were added (another ``produce()``, after ``revoke(now)``): plan from now."""
        self.epoch += 1
        self.window = WINDOW
        self._plan(self.env.now)

    def leave(self) -> None:
        """Hand over to the event path now (``send``, ``flush``, ``close``, a link change)."""
        if self.active:
            self._to_event_mode(self.env.now)

    def leave_for_faults(self) -> None:
        """Faults begin (``cluster.regime_listeners``, before anything breaks): hand over as
        ``leave`` does, except that requests still on their way to the leader arrive through
        the event path (which checks the broker and its leadership then), answers not yet sent
        wait for the HW the event path's way, and the batches appended but not yet covered by
        the HW are remembered, so that a leader change that truncates them is traced."""
        if self.active:
            self._to_event_mode(self.env.now, faults=True)

    def sync(self) -> None:
        self.settle(self.env.now)

    # ---- planning ------------------------------------------------------------------------
    def _plan(self, now: float, first: bool = False) -> bool:
        """Plan the requests of ``(now, now + window]``; schedule the next step. False when
        not even the first request could be planned (the event path keeps the producer)."""
        p = self.producer
        horizon = now + self.window
        stop = INF
        reqs = _Requests()
        nxt = INF  # the earliest ready time of a batch not planned yet
        cursors: list[_Cursor] = []
        for broker, pqs in p._by_broker.items():
            if broker < 0 or not pqs:
                continue  # no leader known, or its partitions moved to other leaders
            curs = [_Cursor(pq, self) for pq in pqs]
            cursors += curs
            x = self._plan_broker(broker, curs, now, horizon, reqs)
            stop = min(stop, x)
            nxt = min(nxt, min(c.rt for c in curs))
        if first and not reqs.r and stop <= now:
            return False
        if reqs.r:
            self._record(reqs, cursors)
        epoch = self.epoch
        if stop < INF:
            p.sim.call_at(stop, self._handover, epoch)
        elif nxt < INF:
            # the next step: at the horizon, or (sparse feeds) half a window before the next
            # batch is ready, rather than one idle step per window until then
            p.sim.call_at(max(horizon, nxt - 0.5 * self.window), self._tick, epoch)
        return True

    def _plan_broker(self, broker: int, curs: list[_Cursor], now: float, horizon: float,
                     out: _Requests) -> float:
        """The sender's requests to ``broker`` up to ``horizon``; returns the time the
        planner must stop at (INF when it need not). Runs of requests that each carry one
        batch sent the moment it is ready are planned by ``_run`` (when ``runs`` is on), the
        rest a request at a time."""
        p = self.producer
        n = len(curs)
        acks0 = p.acks == "0"
        limit = p.max_in_flight
        max_req = p.max_request_size
        lat = p.cluster.link.latency
        link = p.cluster.link
        cuts = link.cuts
        expiry = p.delivery_timeout
        all_acks = p.acks == "all"
        infl = self.infl.setdefault(broker, deque())
        drain = p._drain_index
        d = drain.get(broker, 0)  # the drain index (written back when requests were planned)
        idem = p.idempotent
        last = now  # the sender's clock: a batch that became ready while it waited goes now
        # kept up to date: each cursor's ready time (the next request is at min(rts)) and the
        # send time of its first unsent record (it joins a request sent from then on)
        rts = [c.rt for c in curs]
        hs = [c.h for c in curs]
        order = [i % n for i in range(2 * n)]  # a drain visits curs[order[start:start + n]]
        runs = self.runs and not cuts
        sched = None  # the broker's schedule of one-batch requests (``_schedule``)
        wait = 0  # requests planned one at a time before the next new schedule
        nreq = nbat = 0
        try:
            while True:
                if runs:
                    run = None if sched is None else self._run(sched, broker, curs, rts, hs,
                                                               last, d, infl, out)
                    if run is None and not wait:  # the positions are not the schedule's
                        sched = self._schedule(curs, horizon, sched)
                        run = None if sched is None else self._run(sched, broker, curs, rts,
                                                                   hs, last, d, infl, out)
                        wait = 0 if run is not None and run[0] >= RUN_MIN else RUN_WAIT
                    elif wait:
                        wait -= 1
                    if run is not None:
                        k, d, last = run
                        nreq += k
                        nbat += k
                        self.run_requests += k
                r = min(rts)
                if r == INF:
                    return INF
                if r < last:
                    r = last
                if r > horizon:
                    return INF
                if not acks0:
                    while infl and infl[0] <= r:
                        infl.popleft()
                    if len(infl) >= limit:
                        s = infl[0]
                        if s > horizon:
                            return INF
                        infl.popleft()
                        while infl and infl[0] <= s:
                            infl.popleft()
                        r = s
                start = d % n
                got = []
                size = 0
                delay = 0.0
                for ci in [ci for ci in order[start:start + n] if hs[ci] <= r]:
                    c = curs[ci]
                    pos = c.pos
                    f = c.fiti(pos)
                    end = f if c.ti(f - 1) <= r else bisect_right(c.t, r, pos, f)
                    nb = c.cumi(end) - c.cumi(pos)
                    if got and size + nb > max_req:
                        break  # max.request.size: it waits for the next request
                    if (not c.ok or nb > c.maxb or r >= c.h + expiry
                            or (c.needkey and bool((c.feed.key[pos:end] < 0).any()))):
                        return min(r, c.h + expiry)
                    got.append((c, pos, end, ci))
                    size += nb
                    if all_acks and c.hwd > delay:
                        delay = c.hwd
                at = r + lat
                hop = at + delay if delay > 0 else at
                resp = r if acks0 else hop + lat
                if cuts and (_cut(cuts, r) or (not acks0 and _cut(cuts, hop))):
                    return r
                d = start + 1
                g = len(out.r)  # the request's number (its index before _record sorts them)
                for c, pos, end, ci in got:
                    seq = -1
                    if idem:
                        pq = c.pq
                        seq = pq.next_seq
                        pq.next_seq = seq + end - pos
                    rows = c.rows
                    rows.g.append(g)
                    rows.r.append(r)
                    rows.at.append(at)
                    rows.resp.append(resp)
                    rows.s.append(pos)
                    rows.e.append(end)
                    rows.seq.append(seq)
                    rows.hw.append(at + c.hwd)
                    c.advance(end, self)
                    rts[ci] = c.rt
                    hs[ci] = c.h
                out.r.append(r)
                out.broker.append(broker)
                out.dstart.append(start)
                out.resp.append(resp)
                out.nb.append(len(got))
                out.hop.append(hop)
                last = r
                nreq += 1
                nbat += len(got)
                if not acks0:
                    infl.append(resp)
        finally:
            if nreq:
                drain[broker] = d
            p.requests_sent += nreq
            p.batches_sent += nbat

    def _chain(self, c: _Cursor, horizon: float, old: _Chain | None) -> _Chain | None:
        """Cursor ``c``'s batches ready by ``horizon`` if each is drained the moment it is
        ready (see ``_schedule``): the rest of ``old`` when ``c`` is still on it, else walked
        (``nxt`` gives each batch's end)."""
        feed = c.feed
        if feed is None:
            return None
        pos = c.pos
        if old is not None and old.feed is feed:
            q = old.find(pos)
            if q >= 0:
                return old.tail(q)
        nn = c.n
        readyi, nxti = c.readyi, c.nxti
        starts = []
        while pos < nn and readyi(pos) <= horizon:
            starts.append(pos)
            pos = nxti(pos)
        p = self.producer
        ch = _Chain()
        ch.feed = feed
        ch.s = starts
        ends = [*starts[1:], pos] if starts else []
        ch.e = ends
        ch.after = pos
        ch.stop = INF
        ch.t, ch.rnext = (c.ti(pos), c.readyi(pos)) if pos < nn else (INF, INF)
        sa = np.array(starts, dtype=np.int64)
        ready = ch.ready = c.ready[sa]
        heads = ch.heads = c.t[sa]
        at = ready + p.cluster.link.latency
        hop = ch.hop = at + c.hwd if p.acks == "all" else at
        ch.resp = ready if p.acks == "0" else hop + p.cluster.link.latency
        ch.r, ch.at, ch.resp_l = ready.tolist(), at.tolist(), ch.resp.tolist()
        ch.hw = (at + c.hwd).tolist()
        ch.o = ch.q = 0
        if not starts:
            return ch
        # the schedule ends before a request the loop stops at (it stops there), or with the
        # feed's last batch when another feed follows (its records may join later)
        stops = ready >= heads + p.delivery_timeout
        if c.maxb < max(p.batch_size, p.max_request_size):  # (bigger batches are possible)
            ea = np.array(ends, dtype=np.int64)
            stops |= c.cum[ea] - c.cum[sa] > c.maxb
        if c.needkey:
            nulls = np.concatenate(([0], np.cumsum(feed.key < 0)))
            stops |= nulls[np.array(ends, dtype=np.int64)] > nulls[sa]
        if not c.ok:
            ch.stop = float(np.nextafter(ready[0], -INF))
        elif stops.any():
            ch.stop = float(np.nextafter(ready[np.argmax(stops)], -INF))
        feeds = c.pq.feeds
        if pos >= nn and any(feeds[i].pos < len(feeds[i].idx)
                             for i in range(c.fi + 1, len(feeds))):
            ch.stop = min(ch.stop, float(ready[-1]))
        return ch

    def _schedule(self, curs: list[_Cursor], horizon: float,
                  old: _Schedule | None = None) -> _Schedule | None:
        """The broker's requests up to ``horizon`` if each carried exactly one batch, sent at
        the instant it is ready: each partition's chain of batches from its first unsent record
        (``_chain``; the chains of ``old`` the partitions are still on are kept), merged by
        ready time. Marks the requests for which that is not what the sender does whatever
        came before, given the partitions' positions then: two partitions ready at the same
        instant, a request sent while another partition has records waiting (its batch would
        join); and ends the schedule at the first request the loop would stop at (leader,
        size, key or delivery timeout) or past the end of a feed that another feed follows.
        None when it is empty."""
        chains = [self._chain(c, horizon, None if old is None else old.chains[ci])
                  for ci, c in enumerate(curs)]
        live = [ch for ch in chains if ch is not None and len(ch.s) > ch.o]
        if not live:
            return None
        cap = min(horizon, min(ch.stop for ch in live))
        # the batch after each chain's: its records must not be waiting either
        nh, nr, np_ = [], [], []
        offs = []
        m = 0
        for ch in chains:
            if ch is None:
                continue
            k = len(ch.s) - ch.o
            if k:
                offs.append(m)
                m += k
            if ch.t < INF:
                nh.append(ch.t)
                nr.append(ch.rnext)
                np_.append(m - 1 if k else -1)
        if len(live) > 1:
            rc = np.concatenate([ch.ready[ch.o:] for ch in live])
            hc = np.concatenate([ch.heads[ch.o:] for ch in live])
        else:
            rc, hc = live[0].ready[live[0].o:], live[0].heads[live[0].o:]
        srt = np.argsort(rc, kind="stable")
        rs = rc[srt]
        end = int(np.searchsorted(rs, cap, side="right"))
        flags = np.zeros(m + 1, dtype=bool)  # requests a run must not plan
        tie = rs[1:] == rs[:-1]
        flags[:-2] |= tie
        flags[1:-1] |= tie
        inv = np.empty(m, dtype=np.int64)
        inv[srt] = np.arange(m)
        prev = np.arange(-1, m - 1)  # each batch's own previous request
        prev[offs] = -1
        ip = np.concatenate((prev, np.array(np_, dtype=np.int64)))
        prev = np.where(ip >= 0, inv[ip], -1)  # ... its place in time order
        # every request sent while another partition has records waiting (from its head's
        # send time until it is ready, its own previous request aside)
        j = np.searchsorted(rs, np.concatenate((hc, nh)), side="left")
        j += j == prev
        jend = np.searchsorted(rs, np.concatenate((rc, nr)), side="left")
        inside = j < jend
        cover = np.bincount(j[inside], minlength=m + 1) \
            - np.bincount(jend[inside], minlength=m + 1)
        flags |= np.cumsum(cover) > 0
        flags[end:] = True
        s = _Schedule()
        s.flags = np.flatnonzero(flags).tolist()
        s.r = rs.tolist()
        s.ra = rs
        if len(live) > 1:
            s.hop = np.concatenate([ch.hop[ch.o:] for ch in live])[srt].tolist()
            s.respa = np.concatenate([ch.resp[ch.o:] for ch in live])[srt]
        else:
            s.hop, s.respa = live[0].hop[live[0].o:].tolist(), live[0].resp[live[0].o:]
        s.resp = s.respa.tolist()
        pm = inv.tolist()
        for ch, off in zip(live, offs, strict=True):
            ch.pm = pm[off:off + len(ch.s) - ch.o]
        s.chains = chains
        return s

    def _run(self, s: _Schedule, broker: int, curs: list[_Cursor], rts: list[float],
             hs: list[float], last: float, d: int, infl: deque, out: _Requests) -> tuple:
        """Plan the requests of schedule ``s`` (``_schedule``) from where the sender is, up to
        the first the schedule marks, or one held back by
        ``max.in.flight.requests.per.connection``. None when the partitions' positions are not
        the schedule's (a request the schedule does not know moved them: make a new one),
        else (requests planned, drain index, sender's clock)."""
        i0 = len(s.r)
        before = -1
        for ch in s.chains:
            if ch is None:
                continue
            starts = ch.s
            pos = ch.feed.pos
            q = ch.q
            if pos != (starts[q] if q < len(starts) else ch.after):
                q = ch.find(pos)
                if q < 0:
                    return None
                ch.q = q
            if q < len(starts):
                i0 = min(i0, ch.pm[q - ch.o])
            if q > ch.o:
                before = max(before, ch.pm[q - 1 - ch.o])
        if before >= i0:
            return None
        flags = s.flags
        i1 = min(flags[bisect_left(flags, i0)], i0 + RUN_MAX)
        r_l = s.r
        if i1 <= i0 or r_l[i0] < last:
            return 0, d, last
        p = self.producer
        if p.acks != "0":
            # the answers awaited, oldest first, then the run's; the loop pops those that
            # came by a request, so with answers in order a request waits for one exactly
            # when the answer ``max.in.flight`` before it has not come
            m0 = len(infl)
            limit = p.max_in_flight
            rr = s.ra[i0:i1]
            a = np.concatenate((np.array(infl, dtype=np.float64), s.respa[i0:i1]))
            if (a[1:] >= a[:-1]).all():
                j0 = max(0, limit - m0)  # (the requests before have fewer awaited)
                held = np.flatnonzero(a[m0 - limit + j0:m0 - limit + i1 - i0] > rr[j0:]) \
                    if j0 < i1 - i0 else ()
                if len(held):
                    i1 = i0 + j0 + int(held[0])
                    if i1 == i0:
                        return 0, d, last
                k = i1 - i0
                front = int(np.searchsorted(a[:m0 + k - 1], rr[k - 1], side="right"))
                infl.clear()
                infl.extend(a[front:m0 + k].tolist())
            else:  # (answers out of order: as the loop does, one by one)
                resp_l = s.resp
                i = i0
                while i < i1:
                    r = r_l[i]
                    while infl and infl[0] <= r:
                        infl.popleft()
                    if len(infl) >= limit:
                        break
                    infl.append(resp_l[i])
                    i += 1
                i1 = i
                if i1 == i0:
                    return 0, d, last
        k = i1 - i0
        n = len(curs)
        g = len(out.r) - i0  # request number - place in the schedule
        out.r += r_l[i0:i1]
        out.broker += [broker] * k
        out.dstart += [x % n for x in range(d, d + k)]
        out.resp += s.resp[i0:i1]
        out.nb += [1] * k
        out.hop += s.hop[i0:i1]
        idem = p.idempotent
        for ci, ch in enumerate(s.chains):
            if ch is None or len(ch.s) == ch.o:
                continue
            q = ch.q
            pm = ch.pm
            o = ch.o
            q1 = bisect_left(pm, i1, q - o) + o
            if q1 == q:
                continue
            c = curs[ci]
            rows = c.rows
            rows.g += [x + g for x in pm[q - o:q1 - o]]
            rows.r += ch.r[q:q1]
            rows.at += ch.at[q:q1]
            rows.resp += ch.resp_l[q:q1]
            starts = ch.s[q:q1]
            rows.s += starts
            rows.e += ch.e[q:q1]
            if idem:
                pq = c.pq
                seq0 = pq.next_seq - starts[0]
                rows.seq += [seq0 + x for x in starts]
                pq.next_seq = seq0 + ch.e[q1 - 1]
            else:
                rows.seq += [-1] * (q1 - q)
            rows.hw += ch.hw[q:q1]
            ch.q = q1
            c.advance(ch.e[q1 - 1], self)
            rts[ci] = c.rt
            hs[ci] = c.h
        return k, (d + k - 1) % n + 1, r_l[i1 - 1]

    def _record(self, reqs: _Requests, cursors: list[_Cursor]) -> None:
        """Turn the planned requests into a window of lanes (the cursors' rows: one lane per
        partition and feed) and hand the leaders their inbound batches."""
        w = _Window()
        r = np.array(reqs.r)
        srt = np.argsort(r, kind="stable")  # brokers in the sender's order at each instant
        nr = len(r)
        w.r = r[srt]
        w.brokers = np.array(reqs.broker, dtype=np.int64)[srt]
        w.dstart = np.array(reqs.dstart, dtype=np.int64)[srt]
        w.resp = np.array(reqs.resp)[srt]
        w.hop = np.array(reqs.hop)[srt]
        w.nb = np.array(reqs.nb, dtype=np.int64)[srt]
        w.rank = np.empty(nr, dtype=np.int64)  # request number -> index in the window
        w.rank[srt] = np.arange(nr)
        w.lanes = []
        pid = self.producer.producer_id
        lat = self.producer.cluster.link.latency
        for c in cursors:
            if c.rows.g:
                c.lanes.append((c.feed, c.rows))
            pq = c.pq
            for feed, rows in c.lanes:
                lane = _Lane(pq, feed)
                lane.g = rows.g
                lane.k = k = len(rows.g)
                lane.r = np.fromiter(rows.r, np.float64, k)  # (fromiter: faster than array)
                lane.at = lane.r + lat  # (as each row's was computed)
                lane.hw_at = lane.at + c.hwd
                lane.resp = resp = np.fromiter(rows.resp, np.float64, k)
                lane.s = s = np.fromiter(rows.s, np.int64, k)
                lane.e = e = np.empty(k, dtype=np.int64)
                e[:-1] = s[1:]  # a lane's batches follow one another in its feed
                e[-1] = rows.e[-1]
                lane.seq = np.fromiter(rows.seq, np.int64, k)
                lane.cnt = e - s
                lane.rl = rows.r
                lane.atl = rows.at
                lane.sl = rows.s
                lane.el = rows.e
                lane.seq_l = rows.seq
                # the answers by now: in order, unless one came before an earlier one's
                lane.rmax = rows.resp if bool((resp[1:] >= resp[:-1]).all()) \
                    else np.maximum.accumulate(resp).tolist()
                lo, hi = rows.s[0], rows.e[-1]
                bounds = np.empty(lane.k + 1, dtype=np.int64)
                np.subtract(s, lo, out=bounds[:-1])
                bounds[-1] = hi - lo
                lane.inbound = Inbound(lane.at, lane.hw_at, bounds,
                                       feed.msg[lo:hi], feed.t[lo:hi], feed.size[lo:hi],
                                       feed.key[lo:hi], pid, lane.seq,
                                       (rows.at, rows.hw, bounds.tolist(), rows.seq),
                                       feed.cum[lo:hi + 1], True)  # feeds are in time order
                pq.part.add_inbound(lane.inbound, len(feed.idx) - lo)
                w.lanes.append(lane)
                entry = self._planned.setdefault(id(lane.bulk), [lane.bulk, 0, False])
                entry[1] += hi - lo
        self.windows.append(w)
        for entry in self._planned.values():
            bulk, planned, scheduled = entry
            if planned >= len(bulk) and not scheduled:
                # settle when its last answer comes: ``done`` fires then
                last = max(float(lane.resp[:lane.k].max()) for win in self.windows
                           for lane in win.lanes if lane.bulk is bulk and lane.k)
                self.producer.sim.call_at(last, self.settle_now)
                entry[2] = True  # a revocation resets it

    # ---- steps and hand-over -------------------------------------------------------------
    def _tick(self, epoch: int) -> None:
        if epoch != self.epoch or not self.active:
            return
        now = self.env.now
        self.settle(now)
        self.window = min(2.0 * self.window, MAX_WINDOW)
        self._plan(now)

    def _handover(self, epoch: int) -> None:
        if epoch == self.epoch and self.active:
            self._to_event_mode(self.env.now)

    def settle_now(self) -> None:
        self.settle(self.env.now)

    def _to_event_mode(self, x: float, faults: bool = False) -> None:
        """Give the producer back to the event path at ``x``: revoke later requests, settle,
        turn the requests still in flight into ordinary ones (see ``leave_for_faults`` for
        ``faults``)."""
        p = self.producer
        self.epoch += 1
        self.revoke(x)
        self.settle(x)
        self.active = False
        link = p.cluster.link
        last = -INF
        for w in self.windows:
            pending: dict[int, list] = {}
            travelling: dict[int, list] = {}
            for lane in w.lanes:
                last = max(last, float(lane.at[:lane.k].max(initial=-INF)))
                if lane.handed:
                    continue
                lane.handed = True
                acked = lane.nack
                for j in range(lane.nack, lane.k):
                    pending.setdefault(int(w.rank[lane.g[j]]), []).append((lane, j))
                lane.nack = lane.k
                if faults:
                    self._for_faults(lane, x, acked, travelling, w.rank)
            for qi in sorted(pending):
                self._materialise(w, qi, pending[qi], link, faults)
            for qi in sorted(travelling):
                self._acks0_on_the_way(w, qi, travelling[qi])
        if last > x:
            p.sim.call_at(last, self.settle_now)
        for pq in p._pqs.values():
            p._refresh(pq)
        p._wake()

    def _for_faults(self, lane: _Lane, x: float, acked: int, travelling: dict,
                    rank: np.ndarray) -> None:
        """``leave_for_faults`` for one lane: batches not yet arrived leave the inbound (the
        event path brings them); appended ones above the HW that were already acknowledged
        (``acks`` 0 or 1) are remembered for loss tracing."""
        from models.kafka.producer import _Acked

        p = self.producer
        part = lane.pq.part
        arrived = int(np.searchsorted(lane.at[:lane.k], x, side="right"))
        if p.acks != "all":
            hw = part.log.high_watermark
            for j in range(min(arrived, acked)):
                base = int(lane.inbound.bases()[j])
                end = base + int(lane.e[j] - lane.s[j])
                if end > hw:
                    part._track_unreplicated(base, end, p, _Acked(
                        lane.feed.msg[int(lane.s[j]):int(lane.e[j])]))
            part._unreplicated = deque(sorted(part._unreplicated, key=lambda e: e[0]))
        if arrived < lane.k:
            if p.acks == "0":  # acknowledged when sent, and still on their way
                for j in range(arrived, min(acked, lane.k)):
                    travelling.setdefault(int(rank[lane.g[j]]), []).append((lane, j))
            lane.inbound.truncate(arrived)
            part.inbound_changed()
            lane.k = arrived

    def _batch(self, lane: _Lane, j: int) -> ProducerBatch:
        """Batch ``j`` of ``lane`` as an event-path ``ProducerBatch``."""
        p = self.producer
        feed = lane.feed
        s, e = int(lane.s[j]), int(lane.e[j])
        t0 = float(feed.t[s])
        b = ProducerBatch(p._next_batch_id, lane.pq.part, t0, t0 + p.linger)
        p._next_batch_id += 1
        b.bulk = feed.bulk
        b.bulk_idx = feed.idx[s:e]
        b.msg, b.ts, b.size, b.key = feed.msg[s:e], feed.t[s:e], feed.size[s:e], feed.key[s:e]
        b.null = None
        b.nbytes = int(feed.cum[e] - feed.cum[s])
        b.count = e - s
        b.full = True
        b.attempts = 1
        b.base_seq = int(lane.seq[j])
        b.pid = p.producer_id if b.base_seq >= 0 else -1
        return b

    def _acks0_on_the_way(self, w: _Window, qi: int, refs: list) -> None:
        """``acks=0`` batches sent (and so acknowledged) but not yet at the leader: the event
        path delivers them, or traces their loss if the leader is gone."""
        p = self.producer
        batches = []
        for lane, j in refs:
            b = self._batch(lane, j)
            b.done = b.acked = True
            batches.append(b)
        lane0, j0 = refs[0]
        p._acks0_travelling += 1
        p.sim.call_at(float(lane0.at[j0]), p._arrive_acks0, batches, int(w.brokers[qi]))

    def _materialise(self, w: _Window, qi: int, refs: list, link: Any,
                     faults: bool = False) -> None:
        """A planned request in flight becomes an event-path request (``_Request``)."""
        from models.kafka.cluster import AppendResult
        from models.kafka.producer import _Request

        if faults:
            p = self.producer
            batches = [self._batch(lane, j) for lane, j in refs]
            for b in batches:
                p._unfinished[b.id] = b
                p._buffered += b.nbytes
                p._pqs[b.partition].inflight += 1
            lane0, j0 = refs[0]
            broker = int(w.brokers[qi])
            request = _Request(broker, batches, float(lane0.r[j0]))
            p._inflight[broker] += 1
            p._open[request] = None
            now = float(self.env.now)
            at = float(lane0.at[j0])
            if at > now:  # still on its way: it arrives through the event path
                p.sim.call_at(at, p._arrive, request)
                return
            results = [AppendResult(int(lane.inbound.bases()[j]), float(lane.at[j]))
                       for lane, j in refs]
            if p.acks != "all":
                for b, r in zip(batches, results, strict=True):
                    b.partition._track_unreplicated(r.base_offset, r.base_offset + b.count,
                                                    p, b)
            if float(w.hop[qi]) > now:  # the answer has not left: acks=all waits for the HW
                if not p._await_hw(request, results):
                    p.sim.call_at(float(w.hop[qi]), p._respond, request, results)
            else:  # the answer is on its way
                request.answered = True
                p.sim.call_at(float(w.resp[qi]), p._on_response, request, results)
            return

        p = self.producer
        broker = int(w.brokers[qi])
        batches = []
        for lane, j in refs:
            b = self._batch(lane, j)
            if b.base_seq >= 0:  # numbered under this producer id; in the event path's window
                p._numbered.setdefault(lane.pq.part, deque()).append(b)
            p._unfinished[b.id] = b
            p._buffered += b.nbytes
            lane.pq.inflight += 1
            batches.append(b)
        lane0, j0 = refs[0]
        request = _Request(broker, batches, float(lane0.r[j0]))
        p._inflight[broker] += 1
        hop = float(w.hop[qi])
        if hop > self.env.now:
            p.sim.call_at(hop, self._respond, request, refs)  # the answer is yet to leave
        else:
            p.sim.call_at(float(w.resp[qi]), self._answer, request, refs)

    def _respond(self, request: Any, refs: list) -> None:
        p = self.producer
        link = p.cluster.link
        if link.delivers():
            self.env.timeout(link.delay()).callbacks.append(
                lambda _e: self._answer(request, refs))
        else:
            p._time_out_later(request)

    def _answer(self, request: Any, refs: list) -> None:
        from models.kafka.cluster import AppendResult

        self.settle(self.env.now)
        for lane, _j in refs:
            lane.pq.part.log  # noqa: B018 - offsets are given at arrival
        results = [AppendResult(int(lane.inbound.bases()[j]), float(lane.at[j]))
                   for lane, j in refs]
        self.producer._on_response(request, results)

    # ---- revocation ----------------------------------------------------------------------
    def revoke(self, x: float) -> None:
        """Forget the planned requests sent after ``x`` (they have not happened yet)."""
        p = self.producer
        touched = set()
        for w in reversed(self.windows):
            if not len(w.r) or w.r[-1] <= x:
                break
            keep = int(np.searchsorted(w.r, x, side="right"))
            for qi in range(len(w.r) - 1, keep - 1, -1):
                p._drain_index[int(w.brokers[qi])] = int(w.dstart[qi])
            p.requests_sent -= len(w.r) - keep
            p.batches_sent -= int(w.nb[keep:].sum())
            for lane in w.lanes:
                k = int(np.searchsorted(lane.r[:lane.k], x, side="right"))
                if k < lane.k:
                    s = int(lane.s[k])
                    lane.feed.pos = s
                    if p.idempotent:
                        lane.pq.next_seq = int(lane.seq[k])
                    entry = self._planned.get(id(lane.bulk))
                    if entry is not None:
                        entry[1] -= int(lane.e[lane.k - 1]) - s
                        entry[2] = False
                    lane.inbound.truncate(k)
                    lane.k = k
                    touched.add(lane.pq.part)
            w.r, w.brokers, w.dstart = w.r[:keep], w.brokers[:keep], w.dstart[:keep]
            w.resp, w.nb, w.hop = w.resp[:keep], w.nb[:keep], w.hop[:keep]
            w.lanes = [lane for lane in w.lanes if lane.k]
        for part in touched:
            part.inbound_changed()
        while self.windows and not len(self.windows[-1].r):
            self.windows.pop()
        # the answers still awaited, per broker
        self.infl = {b: deque() for b in p._by_broker}
        if p.acks != "0":
            waiting = []
            for w in self.windows:
                live = w.resp > x
                waiting += zip(w.resp[live].tolist(), w.brokers[live].tolist(), strict=True)
            for resp, b in sorted(waiting):
                self.infl[b].append(resp)

    # ---- settling ------------------------------------------------------------------------
    def settle(self, now: float) -> None:
        """Write the facts of every planned request up to ``now``: ``published`` rows once it
        is sent, ``appended`` once it arrived, ``acked`` rows, offsets and the ``BulkSend``
        arrays once it is answered."""
        if not self.windows:
            return
        p = self.producer
        tracing = p._tracing
        pub: list[tuple] = []  # (lane, first batch, end batch) whose rows are due
        app: list[tuple] = []
        ack: list[tuple] = []
        done: list[Any] = []
        for w in self.windows:
            for lane in w.lanes:
                k = lane.k
                j = bisect_right(lane.rl, now, lane.npub, k)
                if j > lane.npub:
                    pub.append((lane, lane.npub, j))
                    lane.npub = j
                j = bisect_right(lane.atl, now, lane.napp, k)
                if j > lane.napp:
                    lane.pq.part.log  # noqa: B018 - the leader appends what has arrived
                    app.append((lane, lane.napp, j))
                    lane.napp = j
                if not lane.handed and lane.nack < k:
                    # acknowledged in order: up to the first batch whose answer, or an
                    # earlier one's, is still to come (every batch before nack was answered)
                    j = bisect_right(lane.rmax, now, lane.nack, k)
                    if j > lane.nack:
                        lane.pq.part.log  # noqa: B018 - offsets are given at arrival
                        ack.append((lane, lane.nack, j))
                        lane.nack = j
        if tracing and pub:
            self._published(pub)
        if tracing and app:
            self._appended(app)
        if ack:
            self._acknowledged(ack, tracing, done)
        for bulk in done:
            self._planned.pop(id(bulk), None)
            bulk.done.succeed(bulk)
        while self.windows and self._finished(self.windows[0], now):
            self.windows.popleft()

    @staticmethod
    def _finished(w: _Window, now: float) -> bool:
        if len(w.resp) and float(w.resp.max()) > now:
            return False
        return all(lane.npub == lane.k and lane.napp == lane.k and lane.nack == lane.k
                   for lane in w.lanes)

    # ---- rows, a settle at a time -------------------------------------------------------
    # ``parts`` are (lane, a, b): batches a..b-1 of a lane. Their records are written in the
    # time order of the batches' sends / arrivals / answers (ties: in the order given).

    @staticmethod
    def _gather(parts: list[tuple], times: str) -> _Rowset:
        """The batches of ``parts`` in the time order of their ``times`` (see ``_Rowset``)."""
        g = _Rowset()
        g.los = [lane.sl[a] for lane, a, _b in parts]
        g.his = [lane.el[b - 1] for lane, _a, b in parts]
        g.nb = [b - a for _lane, a, b in parts]
        if len(parts) == 1:
            lane, a, b = parts[0]
            g.counts = lane.cnt[a:b]
            g.bt = getattr(lane, times)[a:b]
            g.ob = g.order = None
            return g
        counts = np.concatenate([lane.cnt[a:b] for lane, a, b in parts])
        bt = np.concatenate([getattr(lane, times)[a:b] for lane, a, b in parts])
        if (bt[1:] >= bt[:-1]).all():
            g.counts, g.bt = counts, bt
            g.ob = g.order = None
            return g
        ob = np.argsort(bt, kind="stable")  # batches by time; rows follow their batch
        sc = counts[ob]
        start = np.cumsum(counts) - counts
        g.counts, g.bt, g.ob = sc, bt[ob], ob
        g.order = np.repeat(start[ob] - (np.cumsum(sc) - sc), sc) + np.arange(int(sc.sum()))
        return g

    @staticmethod
    def _cat(parts: list[tuple], column: str, g: _Rowset) -> np.ndarray:
        """One feed column over the records of ``parts``, in row order."""
        if len(parts) == 1:
            return getattr(parts[0][0].feed, column)[g.los[0]:g.his[0]]
        col = np.concatenate([getattr(lane.feed, column)[lo:hi]
                              for (lane, _a, _b), lo, hi in zip(parts, g.los, g.his,
                                                                 strict=True)])
        return col if g.order is None else col[g.order]

    @staticmethod
    def _per_part(values: list[int], g: _Rowset) -> np.ndarray:
        """A value per part, repeated for each of its records in row order (int32)."""
        if g.ob is None:
            return np.repeat(np.array(values, dtype=np.int32), np.subtract(g.his, g.los))
        return np.repeat(np.repeat(np.array(values, dtype=np.int32), g.nb)[g.ob], g.counts)

    @staticmethod
    def _offsets(parts: list[tuple], g: _Rowset) -> np.ndarray:
        """The offsets the leader gave the records of ``parts`` in row order (their batches
        arrived): each batch's base offset, plus one per record after the first."""
        if len(parts) == 1:
            lane, a, b = parts[0]
            base = lane.inbound.bases()[a:b]
        else:
            base = np.concatenate([lane.inbound.bases()[a:b] for lane, a, b in parts])
            if g.ob is not None:
                base = base[g.ob]
        counts = g.counts
        return np.repeat(base - (np.cumsum(counts) - counts), counts) \
            + np.arange(int(counts.sum()))

    def _published(self, parts: list[tuple]) -> None:
        p = self.producer
        g = self._gather(parts, "r")
        p._trace.published.extend(
            source=p.source, offset=-1, msg=self._cat(parts, "msg", g),
            t=self._cat(parts, "t", g), size=self._cat(parts, "size", g),
            channel=self._per_part([ln.pq.part.topic_id for ln, _a, _b in parts], g),
            partition=self._per_part([ln.pq.part.index for ln, _a, _b in parts], g))

    def _appended(self, parts: list[tuple]) -> None:
        g = self._gather(parts, "at")
        self.producer.cluster.appended.extend(
            msg=self._cat(parts, "msg", g),
            channel=self._per_part([ln.pq.part.topic_id for ln, _a, _b in parts], g),
            partition=self._per_part([ln.pq.part.index for ln, _a, _b in parts], g),
            offset=self._offsets(parts, g), t=np.repeat(g.bt, g.counts))

    def _acknowledged(self, parts: list[tuple], tracing: bool, done: list) -> None:
        """The answers of ``parts`` came: offsets and times into the ``BulkSend`` arrays, the
        idempotent producer's last acknowledged sequence, ``acked`` rows."""
        p = self.producer
        g = self._gather(parts, "resp")
        t = np.repeat(g.bt, g.counts)
        offs = np.full(len(t), -1, dtype=np.int64) if p.acks == "0" else self._offsets(parts, g)
        idx = self._cat(parts, "idx", g)  # each row's record in its BulkSend
        bulks = {id(lane.bulk): lane.bulk for lane, _a, _b in parts}
        for bulk in bulks.values():
            if len(bulks) == 1:
                bulk.offset[idx] = offs
                bulk.acked_at[idx] = t
            else:
                mine = self._per_part([lane.bulk is bulk for lane, _a, _b in parts], g) > 0
                bulk.offset[idx[mine]] = offs[mine]
                bulk.acked_at[idx[mine]] = t[mine]
        for (lane, _a, b), lo, hi in zip(parts, g.los, g.his, strict=True):
            if p.idempotent and p.acks != "0":
                lane.pq.acked_seq = lane.seq_l[b - 1] + lane.el[b - 1] - lane.sl[b - 1] - 1
            bulk = lane.bulk
            bulk.pending -= hi - lo
            if bulk.pending == 0:
                done.append(bulk)
        if tracing:
            p._trace.acked.extend(
                msg=self._cat(parts, "msg", g), t=t, offset=offs,
                partition=self._per_part([ln.pq.part.index for ln, _a, _b in parts], g))


def _cut(cuts: list[tuple[float, float]], t: float) -> bool:
    return any(start <= t < end for start, end in cuts)
