"""Black-box checker for a push broker (Redis Pub/Sub): who was owed what, and what happened to it.

Ground truth, as in Redis (``shared/reference/redis-pubsub.md`` §0, ``checking.md`` §7.C): the
server executes commands in one total order and evaluates each PUBLISH against the subscription
table at that instant. So a connection is **entitled** to one copy of every PUBLISH that
*executed* (``redis_publish.t``) while it was connected and held a matching subscription — one
copy per matching subscription (a channel subscription plus each matching pattern, ``message``
then ``pmessage``). Each entitled copy must be delivered once or dropped with a reason
(**conservation**); nothing else may be delivered.

Several servers (a primary and its replicas, which run every PUBLISH again when it comes down
the replication stream): ``redis_publish`` then has one row per (message, server that ran it)
with a ``server`` column (ids of ``trace.servers``), and each ``connect`` event names its
server. A connection is owed what *its own* server executed while it was subscribed there —
entitlement is per (server, channel) — and PUBLISH's reply is checked per server. A message
a replica never ran (lost on the replication link, refused while no primary was up) is owed to
nobody there; the drops the model records for it show as ``missed-while-away`` with their
cause. Traces without the column or the names are one server, as before.

Reads ``published`` (send time, channel), ``redis_publish`` (execution time, PUBLISH's reply;
-1 = refused), ``delivered`` (``via`` -1 for a channel subscription, else the pattern's
``subscriptions`` id), ``dropped`` (reason) and the control events (:mod:`sim.checker.windows`).
Without a ``redis_publish`` table the send time stands for the execution time and replies are
not checked. Glob matching is the broker's: pass ``match(pattern: bytes, channel: bytes)``
(for Redis, ``models.redis_pubsub.glob.stringmatch``).

Anomalies (checking.md §7.C): P1 ``phantom`` (never published, refused, or delivered before it
executed), P2 ``misrouted``, P3 ``duplicate``, P4 ``unexplained-loss`` (conservation), P5
``lost`` (by cause, allowed: at-most-once), P6 ``history-leak``, P7 ``post-unsubscribe``, P8
``out-of-order`` (per connection, delivery order must be execution order: "subscribers receive
the messages in the order that the messages are published"), P9 ``receiver-count``. Not
checked: P10 (subscribe acks are frames, not in the trace) and P11 (the trace samples only the
total of all output buffers, not each client's).

Ties: a PUBLISH executed at exactly the instant a subscription starts or ends may or may not
have seen it (the order of equal times is not in the trace); such a copy is owed neither way —
delivered, dropped or absent are all accepted, and PUBLISH's reply may count it or not.

Everything is a handful of sorts and binary searches over the columns: a million deliveries take
about a second.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.checker.arrays import (
    composite_like,
    expand_ranges,
    first_per_group,
    grouped_searchsorted,
    isin_sorted,
    quantiles_by_group,
    rank_in_group,
    running_max_in_group,
    unique,
)
from sim.checker.findings import CheckReport, Finding, Latency, ReceiverSummary, finding
from sim.checker.windows import DISCONNECTED, Windows, as_bytes, subscription_windows
from sim.trace import DROP_REASONS, Trace

Match = Callable[[bytes, bytes], bool]
_QS = (0.5, 0.95, 0.99)
_I8 = np.int64


def check_pubsub(trace: Trace, match: Match | None = None, *, drained: bool = False,
                 examples: int = 3) -> CheckReport:
    """Check a push-broker trace; see the module docstring for what is checked.

    ``match(pattern, channel)`` is the broker's glob (needed when there are pattern
    subscriptions). ``drained=True`` says the run went on until nothing was left in flight, so
    an owed copy neither delivered nor dropped is a loss even on a connection still open;
    otherwise such copies are reported as ``in-flight-at-end`` (not an error).
    """
    return _PubSubCheck(trace, match, drained, examples).run()


class _PubSubCheck:
    """One check: columns in, findings and summaries out (a class only to share the columns)."""

    def __init__(self, trace: Trace, match: Match | None, drained: bool, examples: int) -> None:
        self.trace, self.match, self.drained, self.k = trace, match, drained, examples
        self.findings: list[Finding] = []

    # ------------------------------------------------------------------ inputs
    def _load(self) -> None:
        trace = self.trace
        pub = trace.published
        p_msg = pub["msg"]
        order = np.argsort(p_msg, kind="stable")
        self.msgs = p_msg[order]  # sorted message ids; a message's index is its place here
        n = len(self.msgs)
        self.m_sent = pub["t"][order]
        self.m_chan = pub["channel"][order].astype(_I8)
        self.m_source = pub["source"][order].astype(_I8)
        self.m_exec = np.full(n, np.nan)  # first successful execution, on any server
        exe = trace.tables.get("redis_publish")
        if exe is not None and len(exe):
            e_msg, e_t, e_reply = exe["msg"], exe["t"], exe["receivers"].astype(_I8)
            e_srv = (exe["server"].astype(_I8) if "server" in exe.dtypes
                     else np.full(len(e_msg), -1, dtype=_I8))
            idx, known = self._index(e_msg)
            x_msg, x_t, x_reply, x_srv = idx[known], e_t[known], e_reply[known], e_srv[known]
        else:
            x_msg, x_t = np.arange(n, dtype=_I8), self.m_sent.copy()
            x_reply, x_srv = np.full(n, -2, dtype=_I8), np.full(n, -1, dtype=_I8)
        # executions: one row per (message, server that ran it); a refusal (-1) is none
        ran = x_reply != -1
        x_msg, x_t, x_reply, x_srv = x_msg[ran], x_t[ran], x_reply[ran], x_srv[ran]
        order = np.lexsort((x_msg, x_t))
        self.x_msg, self.x_t, self.x_reply, self.x_srv = (
            x_msg[order], x_t[order], x_reply[order], x_srv[order])
        self.x_rank = np.arange(len(order), dtype=_I8)  # execution order (by time)
        if len(order):  # np.unique's first index is the earliest execution of each message
            _, at = np.unique(self.x_msg, return_index=True)
            self.m_exec[self.x_msg[at]] = self.x_t[at]

    def _index(self, msg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each message id among the published ones, and whether it is there."""
        if len(self.msgs) == 0:
            return np.zeros(len(msg), dtype=_I8), np.zeros(len(msg), dtype=bool)
        idx = np.minimum(np.searchsorted(self.msgs, msg), len(self.msgs) - 1)
        return idx, self.msgs[idx] == msg

    def _name(self, receiver: int) -> str:
        names = self.w.receivers
        return names[receiver] if 0 <= receiver < len(names) else f"receiver#{receiver}"

    def _matches(self, pattern: int, channel: int) -> bool:
        key = (pattern, channel)
        found = self._match_cache.get(key)
        if found is None:
            if self.match is None:
                raise ValueError("this trace has pattern subscriptions: pass match=, the "
                                 "broker's glob (models.redis_pubsub.glob.stringmatch)")
            found = bool(self.match(as_bytes(self.w.patterns[pattern]),
                                    as_bytes(self.w.channels[channel])))
            self._match_cache[key] = found
        return found

    # ------------------------------------------------------------------ entitlement
    def _copies(self) -> None:
        """Every owed copy (window, message): strict ones, and optional ones at exact ties."""
        w = self.w
        x_chan, x_t = self.m_chan[self.x_msg], self.x_t
        # executions grouped by (server, channel): a window is owed what its own server ran
        radix = 1 + max(int(x_chan.max()) if len(x_chan) else 0,
                        int(w.channel.max()) if len(w.channel) else 0)
        x_grp = (self.x_srv + 1) * radix + x_chan
        order = np.lexsort((x_t, x_grp))
        s_chan, s_t, s_x = x_grp[order], x_t[order], order
        w_srv = (w.server + 1) * radix
        seg_w: list[np.ndarray] = [np.flatnonzero(w.via < 0)]
        seg_c: list[np.ndarray] = [w_srv[seg_w[0]] + w.channel[seg_w[0]]]
        pattern_windows = np.flatnonzero(w.via >= 0)
        if len(pattern_windows):
            published_channels = unique(x_chan).tolist()
            for p in unique(w.via[pattern_windows]).tolist():
                hits = [c for c in published_channels if self._matches(p, c)]
                if not hits:
                    continue
                wins = pattern_windows[w.via[pattern_windows] == p]
                seg_w.append(np.repeat(wins, len(hits)))
                seg_c.append(np.repeat(w_srv[wins], len(hits))
                             + np.tile(np.array(hits, dtype=_I8), len(wins)))
        sw, sc = np.concatenate(seg_w), np.concatenate(seg_c)
        start, end = w.start[sw], w.end[sw]
        lo_in = grouped_searchsorted(s_chan, s_t, sc, start, "right")   # first t > start
        hi_in = grouped_searchsorted(s_chan, s_t, sc, end, "left")      # first t >= end
        lo_tie = grouped_searchsorted(s_chan, s_t, sc, start, "left")   # first t >= start
        hi_tie = grouped_searchsorted(s_chan, s_t, sc, end, "right")    # first t > end
        hi_in = np.maximum(hi_in, lo_in)
        parts = [expand_ranges(lo_in, hi_in), expand_ranges(lo_tie, lo_in),
                 expand_ranges(hi_in, np.maximum(hi_tie, hi_in))]
        seg = np.concatenate([p[0] for p in parts])
        pos = np.concatenate([p[1] for p in parts])
        opt = np.concatenate([np.zeros(len(parts[0][0]), bool), np.ones(len(parts[1][0]), bool),
                              np.ones(len(parts[2][0]), bool)])
        win = sw[seg]
        xidx = s_x[pos] if len(pos) else np.empty(0, dtype=_I8)
        # a window may own a tie copy twice (start and end tie on a zero-length window)
        key = composite_like([win, xidx])[0]
        _, first = np.unique(key, return_index=True)
        keep = np.sort(first)
        self.c_win, self.c_x, self.c_opt = win[keep], xidx[keep], opt[keep]
        self.c_msg = self.x_msg[self.c_x]
        self.c_recv = w.receiver[self.c_win]
        self.c_via = w.via[self.c_win]

    # ------------------------------------------------------------------ deliveries
    def _deliveries(self) -> None:
        d = self.trace.delivered
        self.d_msg, self.d_recv = d["msg"], d["receiver"].astype(_I8)
        self.d_via, self.d_t = d["via"].astype(_I8), d["t"]
        n = len(self.d_msg)
        self.d_idx, self.d_known = self._index(self.d_msg)
        sentinel = len(self.msgs)
        d_idx = np.where(self.d_known, self.d_idx, sentinel)
        key_c, key_d = composite_like(
            [self.c_recv, self.c_via + 1, self.c_msg],
            [np.maximum(self.d_recv, 0), np.maximum(self.d_via + 1, 0), d_idx])
        c_order = np.argsort(key_c, kind="stable")
        ck = key_c[c_order]
        pos = np.minimum(np.searchsorted(ck, key_d), max(len(ck) - 1, 0))
        hit = (ck[pos] == key_d) if len(ck) else np.zeros(n, bool)
        hit &= (self.d_recv >= 0) & (self.d_via >= -1)
        self.d_copy = np.where(hit, c_order[pos] if len(ck) else 0, -1)
        # first delivery of each copy (by time, then trace order); later ones are duplicates
        rows = np.arange(n)
        order = np.lexsort((rows, self.d_t, np.where(hit, key_d, -1)))
        first = np.zeros(n, dtype=bool)
        first[order] = first_per_group(np.where(hit, key_d, -1 - rows)[order])
        self.d_first = hit & first
        self.d_dup = hit & ~first
        self.c_delivered = np.zeros(len(self.c_win), dtype=bool)
        self.c_delivered[self.d_copy[self.d_first]] = True

    def _classify_strays(self) -> None:
        """Deliveries of copies nobody was owed: phantom, misrouted, history leak, late."""
        stray = np.flatnonzero(self.d_copy < 0)
        known = self.d_known[stray]
        midx = self.d_idx[stray]
        executed = known & ~np.isnan(self.m_exec[midx])
        self._emit("phantom", stray[~known], detail="never published")
        self._emit("phantom", stray[known & ~executed],
                   detail="the server refused or never executed the PUBLISH")
        stray = stray[executed]
        midx = self.d_idx[stray]
        te = self.m_exec[midx]
        via, recv, chan = self.d_via[stray], self.d_recv[stray], self.m_chan[midx]
        w = self.w
        bad_via = via >= len(w.patterns)
        nomatch = np.zeros(len(stray), dtype=bool)
        for i in np.flatnonzero((via >= 0) & ~bad_via).tolist():
            nomatch[i] = not self._matches(int(via[i]), int(chan[i]))
        self._emit("misrouted", stray[nomatch | bad_via],
                   detail="a pmessage whose pattern does not match the channel")
        rest = ~(nomatch | bad_via)
        stray, te, via, recv, chan = stray[rest], te[rest], via[rest], recv[rest], chan[rest]
        # windows of the same subscription (same receiver, same channel or pattern)
        w_key, q_key = composite_like(
            [w.receiver, w.via + 1, np.where(w.via < 0, w.channel + 1, 0)],
            [recv, via + 1, np.where(via < 0, chan + 1, 0)])
        order = np.lexsort((w.start, w_key))
        sk, ss = w_key[order], w.start[order]
        after = grouped_searchsorted(sk, ss, q_key, te, "right")
        prev_ok = (after > 0) & (sk[np.maximum(after - 1, 0)] == q_key) if len(sk) else \
            np.zeros(len(stray), bool)
        nxt = np.minimum(after, max(len(sk) - 1, 0))
        next_ok = (after < len(sk)) & (sk[nxt] == q_key) if len(sk) else prev_ok
        next_start = np.where(next_ok, ss[nxt] if len(ss) else 0.0, np.inf)
        late = prev_ok & (self.d_t[stray] < next_start)
        # with several servers: a window on a server that never ran this PUBLISH owes nothing
        near = np.where(prev_ok, order[np.maximum(after - 1, 0)] if len(order) else 0,
                        order[nxt] if len(order) else 0)
        if len(stray) and len(order) and (w.server >= 0).any():
            x_key, q = composite_like([self.x_msg, self.x_srv + 1],
                                      [self.d_idx[stray], w.server[near] + 1])
            ran = isin_sorted(np.sort(x_key), q)
            elsewhere = (prev_ok | next_ok) & ~ran
            self._emit("phantom", stray[elsewhere],
                       detail="its connection's server never executed the PUBLISH")
            late, next_ok = late & ~elsewhere, next_ok & ~elsewhere
            stray_ok = ~elsewhere
        else:
            stray_ok = np.ones(len(stray), dtype=bool)
        leak = ~late & next_ok
        self._emit("post-unsubscribe", stray[late],
                   detail="delivered after the subscription had ended")
        self._emit("history-leak", stray[leak])
        self._emit("misrouted", stray[~late & ~leak & stray_ok],
                   detail="it never held a matching subscription")

    def _emit(self, kind: str, rows: np.ndarray, *, detail: str = "") -> None:
        """Findings for delivery rows ``rows``, one per receiver."""
        if len(rows):
            self._aggregate(kind, self.d_recv[rows], self.d_t[rows], self.d_msg[rows],
                            detail=detail)

    def _aggregate(self, kind: str, recv: np.ndarray, t: np.ndarray, msg: np.ndarray, *,
                   cause: np.ndarray | None = None, detail: str = "",
                   names: Callable[[int], str] | None = None) -> None:
        """One finding per (receiver, cause): count, first time, first few message ids."""
        if len(recv) == 0:
            return
        name = names or self._name
        causes = np.zeros(len(recv), dtype=_I8) if cause is None else cause.astype(_I8)
        order = np.lexsort((msg, t, causes, recv))
        r, c, tt, m = recv[order], causes[order], t[order], msg[order]
        key = composite_like([np.maximum(r, 0), c])[0]
        _, starts, counts = np.unique(key, return_index=True, return_counts=True)
        for s, n in zip(starts.tolist(), counts.tolist(), strict=True):
            reason = DROP_REASONS[int(c[s])] if cause is not None and c[s] >= 0 else (
                "unexplained" if cause is not None else "")
            first = dict.fromkeys(m[s:s + n].tolist())  # distinct ids, earliest first
            self.findings.append(finding(kind, name(int(r[s])), n, float(tt[s]), cause=reason,
                                         detail=detail, examples=tuple(first)[:self.k]))

    # ------------------------------------------------------------------ causality, order
    def _order_and_causality(self) -> None:
        ok = np.flatnonzero(self.d_first)
        x = self.c_x[self.d_copy[ok]]  # the execution (on this connection's server) it is of
        early = self.d_t[ok] < self.x_t[x]
        self._emit("phantom", ok[early], detail="delivered before its PUBLISH executed")
        epoch = self.w.epoch[self.c_win[self.d_copy[ok]]]
        order = np.lexsort((ok, self.d_t[ok], epoch))
        rows, ep = ok[order], epoch[order]
        rank = self.x_rank[x[order]]
        late = rank < running_max_in_group(ep, rank)
        self.d_out_of_order = rows[late]
        self._emit("out-of-order", rows[late],
                   detail="per connection, delivery order must equal execution order")

    # ------------------------------------------------------------------ losses
    def _losses(self) -> None:
        """Match owed copies that were not delivered with the drops of the same (receiver,
        message): explained losses by cause; the drops left over are copies the receiver meant
        to get while it was not subscribed (``missed-while-away``)."""
        dr = self.trace.dropped
        dr_idx, dr_known = self._index(dr["msg"])
        dr_recv = dr["receiver"].astype(_I8)
        use = dr_known & (dr_recv >= 0)
        dr_rows = np.flatnonzero(use)
        missing = np.flatnonzero(~self.c_delivered)
        m_key, d_key = composite_like([self.c_recv[missing], self.c_msg[missing]],
                                      [dr_recv[dr_rows], dr_idx[dr_rows]])
        te = self.x_t[self.c_x[missing]]
        m_order = np.lexsort((te, self.c_opt[missing], m_key))
        missing, m_key = missing[m_order], m_key[m_order]
        d_order = np.lexsort((dr["t"][dr_rows], d_key))
        dr_rows, d_key = dr_rows[d_order], d_key[d_order]
        m_rank, d_rank = rank_in_group(m_key), rank_in_group(d_key)
        n_drops = np.searchsorted(d_key, m_key, "right") - np.searchsorted(d_key, m_key, "left")
        n_miss = np.searchsorted(m_key, d_key, "right") - np.searchsorted(m_key, d_key, "left")
        explained = m_rank < n_drops
        by = np.searchsorted(d_key, m_key, "left") + m_rank
        self.c_cause = np.full(len(self.c_win), -1, dtype=_I8)
        self.c_cause[missing[explained]] = dr["reason"][dr_rows[by[explained]]]
        self.c_drop_t = np.full(len(self.c_win), np.nan)
        self.c_drop_t[missing[explained]] = dr["t"][dr_rows[by[explained]]]
        away = dr_rows[d_rank >= n_miss]
        self.away_rows = away
        unexplained = missing[~explained & ~self.c_opt[missing]]
        conn_open = ~np.isfinite(self.w.conn_end[self.w.epoch[self.c_win[unexplained]]])
        pending = unexplained[:0] if self.drained else unexplained[conn_open]
        lost = np.setdiff1d(unexplained, pending, assume_unique=True)
        self.c_pending, self.c_lost = pending, lost
        gone = missing[explained]
        self._aggregate("lost", self.c_recv[gone], self.c_drop_t[gone],
                        self.msgs[self.c_msg[gone]], cause=self.c_cause[gone])
        detail = ("the run was drained" if self.drained else
                  "its connection had closed")
        closed_by = self.w.closed_by[self.c_win[lost]]
        if len(lost):
            self._aggregate("unexplained-loss", self.c_recv[lost], self.x_t[self.c_x[lost]],
                            self.msgs[self.c_msg[lost]],
                            detail=f"{detail}" + ("" if (closed_by == DISCONNECTED).all()
                                                  else "; copies executed while subscribed"))
        self._aggregate("in-flight-at-end", self.c_recv[pending],
                        self.x_t[self.c_x[pending]], self.msgs[self.c_msg[pending]])
        self._aggregate("missed-while-away", dr_recv[away], dr["t"][away], dr["msg"][away],
                        cause=dr["reason"][away])

    # ------------------------------------------------------------------ PUBLISH's reply
    def _receiver_counts(self) -> None:
        """PUBLISH's reply on each server that ran it (a replica runs the propagated PUBLISH
        too and counts its own receivers) against the copies owed there."""
        n = len(self.x_t)
        strict = np.bincount(self.c_x[~self.c_opt], minlength=n)
        loose = np.bincount(self.c_x, minlength=n)
        reply = self.x_reply
        bad = np.flatnonzero((reply >= 0) & ((reply < strict) | (reply > loose)))
        if len(bad):
            sources = self.trace.sources.names

            def source(i: int) -> str:
                return f"publisher {sources[i]}" if 0 <= i < len(sources) else "a publisher"
            m = self.x_msg[bad]
            self._aggregate("receiver-count", self.m_source[m], self.x_t[bad],
                            self.msgs[m], names=source,
                            detail=f"message {self.msgs[m[0]]}: reply {reply[bad[0]]}, "
                                   f"copies {strict[bad[0]]}")

    # ------------------------------------------------------------------ summaries
    def _summaries(self) -> tuple[ReceiverSummary, ...]:
        w = self.w
        size = len(w.receivers)
        for arr in (self.d_recv, self.trace.dropped["receiver"]):
            if len(arr):
                size = max(size, int(arr.max()) + 1)

        def count(ids: np.ndarray) -> np.ndarray:
            return np.bincount(ids[ids >= 0], minlength=size)[:size]

        settled = self.c_delivered | (self.c_cause >= 0) | ~self.c_opt
        entitled = count(self.c_recv[settled])
        delivered = count(self.c_recv[self.c_delivered])
        pending = count(self.c_recv[self.c_pending])
        dups = count(self.d_recv[self.d_dup])
        disorder = count(self.d_recv[self.d_out_of_order])
        dropped = self.trace.dropped
        gone = np.flatnonzero(self.c_cause >= 0)
        lost_by = _by_cause(self.c_recv[gone], self.c_cause[gone])
        away_by = _by_cause(dropped["receiver"][self.away_rows].astype(_I8),
                            dropped["reason"][self.away_rows].astype(_I8))
        if len(self.c_lost):
            lost_count = count(self.c_recv[self.c_lost])
            for r in np.flatnonzero(lost_count).tolist():
                lost_by.setdefault(r, {})["unexplained"] = int(lost_count[r])
        ok = self.d_first
        latency = self.d_t[ok] - self.m_sent[self.d_idx[ok]]
        groups, n_lat, qs, mx = quantiles_by_group(self.d_recv[ok], latency, _QS)
        lat = {int(g): Latency(int(n), *(float(x) for x in q), float(m))
               for g, n, q, m in zip(groups, n_lat, qs, mx, strict=True)}
        active = set(np.flatnonzero(entitled | delivered | dups).tolist())
        active |= set(lost_by) | set(away_by) | set(unique(w.receiver).tolist())
        return tuple(
            ReceiverSummary(
                receiver=self._name(r), entitled=int(entitled[r]), delivered=int(delivered[r]),
                lost=lost_by.get(r, {}), in_flight=int(pending[r]), away=away_by.get(r, {}),
                duplicated=int(dups[r]), out_of_order=int(disorder[r]),
                latency=lat.get(r, Latency()))
            for r in sorted(active))

    # ------------------------------------------------------------------ run
    def run(self) -> CheckReport:
        self._match_cache: dict[tuple[int, int], bool] = {}
        self.w: Windows = subscription_windows(self.trace)
        self._load()
        self._copies()
        self._deliveries()
        self._classify_strays()
        self._emit("duplicate", np.flatnonzero(self.d_dup))
        self._order_and_causality()
        self._losses()
        self._receiver_counts()
        summaries = self._summaries()
        order = {k: i for i, k in enumerate(
            ("phantom", "misrouted", "duplicate", "unexplained-loss", "history-leak",
             "post-unsubscribe", "out-of-order", "receiver-count", "lost", "missed-while-away",
             "in-flight-at-end"))}
        found = sorted(self.findings, key=lambda f: (not f.error, order.get(f.kind, 99),
                                                     f.receiver, f.cause))
        return CheckReport("pubsub", tuple(found), summaries)


def _by_cause(receiver: np.ndarray, reason: np.ndarray) -> dict[int, dict[str, int]]:
    """``{receiver: {reason name: count}}`` from parallel columns."""
    out: dict[int, dict[str, int]] = {}
    if len(receiver):
        key = composite_like([receiver, reason])[0]
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        for i, n in zip(first.tolist(), counts.tolist(), strict=True):
            out.setdefault(int(receiver[i]), {})[DROP_REASONS[int(reason[i])]] = n
    return out
