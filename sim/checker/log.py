"""Checker for a partitioned log (Kafka): Jepsen's anomalies, and per consumer group accounting.

Where each record went in the log is read from ``acked`` (what the producer was told: partition
and offset; topic from ``published.channel``) and, if the model writes it, ``appended`` (msg,
channel, partition, offset: every write, twice for a retried duplicate). Consumption is
``delivered`` (msg, receiver = consumer) with ``trace.receiver_groups`` naming each consumer's
group; ``dropped`` says which records a consumer lost and why (``retention``, ``offset-reset``,
``client-crash``; ``receiver = -1`` for a send that failed: ``delivery-timeout``, ``acks-0``...),
``send_failed`` and ``log_deleted`` (retention, compaction) add what the broker did, and
``truncated`` the records a leader change removed (an ``appended`` row that was later truncated
is not a position of the record: a retry may have written it again elsewhere).

History anomalies, after Jepsen's Kafka checker (``jepsen/src/jepsen/tests/kafka.clj``,
``analysis``; ``checking.md`` §7.A), per partition with offsets as the version order:

- L1 ``inconsistent-offsets`` — one offset holds two different records.
- L2 ``duplicate-write`` — one record at more than one offset (error with an idempotent
  producer, else reported).
- L3 ``lost-write`` — Jepsen's rule: some consumer read a record whose first offset is ``b``;
  every acknowledged record whose *last* offset is ≤ ``b`` must have been read by someone
  (excused: records the broker deleted by retention or compaction, and records a consumer
  received and then lost — a crash, an offset reset: those are causes, counted below). Jepsen's
  consumers all start at the beginning; here a group may start later (``latest``, a seek), so
  the rule covers, per group and partition, the versions from the first it read to ``b``.
- L4 ``unseen`` — acknowledged, never read by anyone (an error only for a drained run).
- L5 ``aborted-read`` (G1a) — read a record whose send definitely failed (never appended).
- L6 ``phantom-read`` — read a record nobody sent.
- L7 ``poll-skip`` / L8 ``nonmonotonic-poll`` — per consumer and partition, in the order of its
  deliveries, the next record is more than one version ahead / not ahead; a skip over versions
  the consumer lost with a recorded cause, or the broker deleted, is explained and not
  reported. Allowed under group subscription (rebalances move consumers, as Jepsen's
  ``allowed-error-types``); errors with ``assigned=True``.
- L10 ``nonmonotonic-send`` — a producer's later acknowledged send to a partition got a lower
  offset (error with an idempotent producer).
- L12 ``double-ownership`` — the model's white-box ``double-ownership`` events.

Per consumer group (its receivers' union): for each partition it consumed, it is **entitled**
to every record from the first offset it read or lost onwards; each is delivered, lost with a
cause (the group's drops, else the broker's deletion, else a loss on the producer's side that
nobody could read: ``acks-0``, ``acks-1``, ``unclean-election``), or still unread at the end
(``lag``; an unexplained loss when the run was drained or the record lies below what it already
read — conservation). A loss is dated when it happened: the broker's deletion, else the group's
drop (a crash), else the producer-side loss. Duplicates (``redelivered``: Jepsen's consume
counts), out-of-order deliveries and latency (first delivery − send) are counted.
"""

from __future__ import annotations

import numpy as np

from sim.checker.arrays import (
    composite_like,
    first_per_group,
    isin_sorted,
    quantiles_by_group,
    rank_in_group,
    unique,
)
from sim.checker.findings import CheckReport, Finding, Latency, ReceiverSummary, finding
from sim.trace import DROP_REASONS, REASON_CODE, Trace

_I8 = np.int64
_QS = (0.5, 0.95, 0.99)
_SEND_FAILURES = frozenset(REASON_CODE[r] for r in (
    "acks-0", "acks-1", "delivery-timeout", "not-enough-replicas", "unclean-election"))
_BROKER_DELETES = frozenset(REASON_CODE[r] for r in ("retention", "compaction"))
_WRITE_LOSSES = frozenset(REASON_CODE[r] for r in ("acks-0", "acks-1", "unclean-election"))


def check_log(trace: Trace, *, drained: bool = False, idempotent: bool = True,
              assigned: bool = False, examples: int = 3) -> CheckReport:
    """Check a partitioned-log trace; see the module docstring for what is checked.

    ``drained=True``: the run ended with a final drain, so records never read are errors
    (Jepsen's ``unseen``). ``idempotent``: duplicates and reordered sends are errors.
    ``assigned``: consumers used ``assign`` (no rebalances), so skips are errors.
    """
    return _LogCheck(trace, drained, idempotent, assigned, examples).run()


class _LogCheck:
    def __init__(self, trace: Trace, drained: bool, idempotent: bool, assigned: bool,
                 examples: int) -> None:
        self.trace, self.drained, self.idempotent = trace, drained, idempotent
        self.assigned, self.k = assigned, examples
        self.findings: list[Finding] = []

    # ------------------------------------------------------------------ positions
    def _positions(self) -> None:
        """Distinct (record, partition, offset) observations from ``acked`` and ``appended``."""
        tr = self.trace
        pub = tr.published
        order = np.argsort(pub["msg"], kind="stable")
        self.msgs = pub["msg"][order]
        self.m_sent, self.m_topic = pub["t"][order], pub["channel"][order].astype(_I8)
        self.m_source = pub["source"][order].astype(_I8)
        ack = tr.acked
        a_idx, a_ok = self._index(ack["msg"])
        obs_msg = [ack["msg"][a_ok]]
        obs_topic = [self.m_topic[a_idx[a_ok]]]
        obs_part = [ack["partition"][a_ok].astype(_I8)]
        obs_off = [ack["offset"][a_ok].astype(_I8)]
        app = tr.tables.get("appended")
        self.has_appended = app is not None
        if app is not None and len(app):
            a_msg, a_topic = app["msg"], app["channel"].astype(_I8)
            a_part, a_off = app["partition"].astype(_I8), app["offset"].astype(_I8)
            gone = _truncated_rows(tr, a_msg, a_topic, a_part, a_off)
            obs_msg.append(a_msg[~gone])
            obs_topic.append(a_topic[~gone])
            obs_part.append(a_part[~gone])
            obs_off.append(a_off[~gone])
        msg, topic, part, off = (np.concatenate(x) for x in (obs_msg, obs_topic, obs_part,
                                                             obs_off))
        keep = (off >= 0) & (part >= 0)
        msg, topic, part, off = msg[keep], topic[keep], part[keep], off[keep]
        pid_key = composite_like([topic, part])[0] if len(topic) else topic
        self.pids, pid = np.unique(pid_key, return_inverse=True)
        self.pid_topic = np.zeros(len(self.pids), dtype=_I8)
        self.pid_part = np.zeros(len(self.pids), dtype=_I8)
        self.pid_topic[pid], self.pid_part[pid] = topic, part
        key = composite_like([pid, off, np.maximum(msg, 0)])[0]
        _, first = np.unique(key, return_index=True)
        self.o_pid, self.o_off, self.o_msg = pid[first], off[first], msg[first]
        # version order: the rank of each observed offset within its partition
        okey = composite_like([self.o_pid, self.o_off])[0]
        uniq_off, self.o_vo_slot = np.unique(okey, return_inverse=True)
        slot_pid = np.zeros(len(uniq_off), dtype=_I8)
        slot_pid[self.o_vo_slot] = self.o_pid
        self.o_vo = rank_in_group(slot_pid)[self.o_vo_slot] if len(uniq_off) else self.o_vo_slot
        # per record: partition, first and last version index, first offset
        idx, ok = self._index(self.o_msg)
        n = len(self.msgs)
        self.r_pid = np.full(n, -1, dtype=_I8)
        self.r_first = np.full(n, np.iinfo(_I8).max, dtype=_I8)
        self.r_last = np.full(n, -1, dtype=_I8)
        self.r_off = np.full(n, -1, dtype=_I8)
        np.minimum.at(self.r_first, idx[ok], self.o_vo[ok])
        np.maximum.at(self.r_last, idx[ok], self.o_vo[ok])
        self.r_pid[idx[ok]] = self.o_pid[ok]
        placed = self.r_last >= 0
        self.r_first[~placed] = -1
        first_off = np.full(n, np.iinfo(_I8).max, dtype=_I8)
        np.minimum.at(first_off, idx[ok], self.o_off[ok])
        self.r_off = np.where(placed, first_off, -1)
        self.placed = placed

    def _index(self, msg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.msgs) == 0:
            return np.zeros(len(msg), dtype=_I8), np.zeros(len(msg), dtype=bool)
        idx = np.minimum(np.searchsorted(self.msgs, msg), len(self.msgs) - 1)
        return idx, self.msgs[idx] == msg

    def _pname(self, pid: int) -> str:
        topics = self.trace.channels.names
        t = int(self.pid_topic[pid])
        name = topics[t] if 0 <= t < len(topics) else f"topic#{t}"
        return f"{name}-{int(self.pid_part[pid])}"

    def _rname(self, r: int) -> str:
        names = self.trace.receivers.names
        return names[r] if 0 <= r < len(names) else f"receiver#{r}"

    def _emit(self, kind: str, who: np.ndarray, t: np.ndarray, msg: np.ndarray, name,
              *, error: bool | None = None, cause: np.ndarray | None = None,
              detail: str = "") -> None:
        """One finding per (who, cause) with count, first time and first record ids."""
        if len(who) == 0:
            return
        c = np.zeros(len(who), dtype=_I8) if cause is None else cause.astype(_I8)
        order = np.lexsort((msg, t, c, who))
        w, c, t, m = who[order], c[order], t[order], msg[order]
        key = composite_like([w, c])[0]
        _, starts, counts = np.unique(key, return_index=True, return_counts=True)
        for s, n in zip(starts.tolist(), counts.tolist(), strict=True):
            reason = DROP_REASONS[int(c[s])] if cause is not None and c[s] >= 0 else ""
            first = tuple(dict.fromkeys(m[s:s + n].tolist()))[:self.k]
            self.findings.append(finding(kind, name(int(w[s])), n, float(t[s]), cause=reason,
                                         detail=detail, examples=first, error=error))

    # ------------------------------------------------------------------ history anomalies
    def _write_anomalies(self) -> None:
        # L1: an offset holding two records
        okey = composite_like([self.o_pid, self.o_off])[0]
        order = np.argsort(okey, kind="stable")
        sk = okey[order]
        first = first_per_group(sk)
        starts = np.flatnonzero(first)
        sizes = np.diff(np.append(starts, len(sk)))
        crowded = np.repeat(sizes > 1, sizes)
        rows = order[crowded & ~first]
        idx, _ = self._index(self.o_msg[rows])
        self._emit("inconsistent-offsets", self.o_pid[rows], self.m_sent[idx],
                   self.o_msg[rows], self._pname)
        # L2: a record at two offsets
        dup = self.placed & (self.r_first != self.r_last)
        rows = np.flatnonzero(dup)
        self._emit("duplicate-write", self.r_pid[rows], self.m_sent[rows], self.msgs[rows],
                   self._pname, error=self.idempotent)
        # L10: a producer's later send got a lower offset (sends in send order)
        ack = self.trace.acked
        idx, ok = self._index(ack["msg"])
        idx = unique(idx[ok & (ack["offset"] >= 0)])
        idx = idx[self.placed[idx]]
        order = np.lexsort((idx, self.m_sent[idx], self.r_pid[idx], self.m_source[idx]))
        rows = idx[order]
        grp = composite_like([self.m_source[rows], self.r_pid[rows]])[0]
        off = self.r_off[rows]
        back = np.zeros(len(rows), dtype=bool)
        if len(rows) > 1:
            back[1:] = (grp[1:] == grp[:-1]) & (off[1:] <= off[:-1])
        srcs = self.trace.sources.names

        def source(i: int) -> str:
            return srcs[i] if 0 <= i < len(srcs) else f"producer#{i}"
        self._emit("nonmonotonic-send", self.m_source[rows[back]], self.m_sent[rows[back]],
                   self.msgs[rows[back]], source, error=self.idempotent)

    def _read_anomalies(self) -> None:
        tr = self.trace
        d = tr.delivered
        self.d_recv = d["receiver"].astype(_I8)
        self.d_t = d["t"]
        self.d_idx, known = self._index(d["msg"])
        rows = np.flatnonzero(~known)
        self._emit("phantom-read", self.d_recv[rows], self.d_t[rows], d["msg"][rows],
                   self._rname)
        self.d_ok = known
        # L5: read although the send definitely failed (failed and never written)
        failed = np.zeros(len(self.msgs), dtype=bool)
        sf = tr.tables.get("send_failed")
        if sf is not None and len(sf):
            i, ok = self._index(sf["msg"])
            failed[i[ok]] = True
        dr = tr.dropped
        prod = (dr["receiver"] < 0) & np.isin(dr["reason"], list(_SEND_FAILURES))
        i, ok = self._index(dr["msg"][prod])
        failed[i[ok]] = True
        if self.has_appended:
            failed &= ~self.placed
        rows = np.flatnonzero(known & failed[self.d_idx])
        self._emit("aborted-read", self.d_recv[rows], self.d_t[rows], d["msg"][rows],
                   self._rname)
        self.read_by_anyone = np.zeros(len(self.msgs), dtype=bool)
        self.read_by_anyone[self.d_idx[known]] = True
        # broker deletions and producer-side losses excuse a record nobody read
        self.deleted = np.full(len(self.msgs), -1, dtype=_I8)
        self.deleted_t = np.full(len(self.msgs), np.inf)  # when the broker deleted it
        consumer = (dr["receiver"] >= 0) & np.isin(dr["reason"], list(_BROKER_DELETES))
        i, ok = self._index(dr["msg"][consumer])
        self.deleted[i[ok]] = dr["reason"][consumer][ok]
        np.minimum.at(self.deleted_t, i[ok], dr["t"][consumer][ok])
        ld = tr.tables.get("log_deleted")
        if ld is not None and len(ld):
            i, ok = self._index(ld["msg"])
            self.deleted[i[ok]] = ld["reason"][ok]
            self.deleted_t[i[ok]] = ld["t"][ok]
        # lost on the producer's side (acknowledged, then gone from the log): a cause for every
        # group, but not an excuse for the lost-write rule
        self.write_lost = np.full(len(self.msgs), -1, dtype=_I8)
        self.write_lost_t = np.full(len(self.msgs), np.inf)  # when the loss was traced
        sent = (dr["receiver"] < 0) & np.isin(dr["reason"], list(_WRITE_LOSSES))
        i, ok = self._index(dr["msg"][sent])
        self.write_lost[i[ok]] = dr["reason"][sent][ok]
        self.write_lost_t[i[ok]] = dr["t"][sent][ok]
        # a record a consumer got and then lost (crash, offset reset) was not lost by the log
        excused = self.deleted >= 0
        i, ok = self._index(dr["msg"][dr["receiver"] >= 0])
        excused[i[ok]] = True
        # L3 lost-write (Jepsen): below the highest first index some group read
        acked = np.zeros(len(self.msgs), dtype=bool)
        i, ok = self._index(tr.acked["msg"])
        acked[i[ok]] = True
        committed = (acked | self.read_by_anyone) & self.placed
        must = committed & self._read_ranges()
        lost = np.flatnonzero(must & ~self.read_by_anyone & ~excused)
        self._emit("lost-write", self.r_pid[lost], self.m_sent[lost], self.msgs[lost],
                   self._pname)
        # L4 unseen: acknowledged, never read by anyone, not deleted by the broker
        if len(d):
            unseen = np.flatnonzero(acked & ~self.read_by_anyone & ~excused & ~must
                                    & self.placed)
            self._emit("unseen", self.r_pid[unseen], self.m_sent[unseen], self.msgs[unseen],
                       self._pname, error=self.drained)

    def _read_ranges(self) -> np.ndarray:
        """Records lying within the versions some consumer group read in their partition: from
        the first version it read to the last (by first index). Jepsen's rule takes every
        version below the last one read, as its consumers all start at the beginning; a group
        starting later (``auto.offset.reset=latest``, a seek) owes nothing before its start."""
        known = self.d_ok.copy()
        known[known] = self.placed[self.d_idx[known]]
        m = self.d_idx[known]
        g, p, f = self.r2g[self.d_recv[known]], self.r_pid[m], self.r_first[m]
        inside = np.zeros(len(self.msgs), dtype=bool)
        if len(m) == 0:
            return inside
        key = composite_like([g, p])[0]
        order = np.lexsort((f, key))
        heads = first_per_group(key[order])
        tails = np.append(heads[1:], True)
        placed = np.flatnonzero(self.placed)
        by_part = placed[np.lexsort((self.r_first[placed], self.r_pid[placed]))]
        part_of, first_of = self.r_pid[by_part], self.r_first[by_part]
        for p_, lo_, hi_ in zip(p[order][heads].tolist(), f[order][heads].tolist(),
                                f[order][tails].tolist(), strict=True):
            a = np.searchsorted(part_of, p_, "left")
            b = np.searchsorted(part_of, p_, "right")
            sel = by_part[a + np.searchsorted(first_of[a:b], lo_, "left"):
                          a + np.searchsorted(first_of[a:b], hi_, "right")]
            inside[sel[self.r_last[sel] <= hi_]] = True
        return inside

    def _skips(self) -> None:
        """L7/L8 per consumer and partition, over its deliveries in time order.

        Deliveries are ordered by their time, losses are not interleaved with them: a model may
        trace a delivery when the application finishes processing a record (``models.kafka.
        loops``) and a loss when the consumer learns of it (an offset reset, answered while an
        earlier batch is still being processed), so the two clocks do not order each other.
        A skip is explained, and not reported, when every version it jumps over was lost by
        this consumer with a recorded cause or deleted by the broker.
        """
        di, dk = self.d_idx, self.d_ok
        keep = dk.copy()
        keep[dk] = self.placed[di[dk]]
        recv, midx, t = self.d_recv[keep], di[keep], self.d_t[keep]
        pid = self.r_pid[midx]
        order = np.lexsort((np.arange(len(t)), t, pid, recv))
        recv, midx, t, pid = (a[order] for a in (recv, midx, t, pid))
        first, last = self.r_first[midx], self.r_last[midx]
        same = np.zeros(len(t), dtype=bool)
        if len(t) > 1:
            same[1:] = (recv[1:] == recv[:-1]) & (pid[1:] == pid[:-1])
        prev_last = np.zeros(len(t), dtype=_I8)
        prev_last[1:] = last[:-1]
        skip = same & (first - prev_last > 1)
        back = same & (first - prev_last < 1)
        skip[skip] = ~self._explained(recv[skip], pid[skip], prev_last[skip], first[skip])
        self._emit("poll-skip", recv[skip], t[skip], self.msgs[midx[skip]], self._rname,
                   error=self.assigned)
        self._emit("nonmonotonic-poll", recv[back], t[back], self.msgs[midx[back]],
                   self._rname, error=self.assigned)
        self.back_recv = recv[back]
        self.back_pid = pid[back]

    def _explained(self, recv: np.ndarray, pid: np.ndarray, lo: np.ndarray,
                   hi: np.ndarray) -> np.ndarray:
        """For each jump of consumer ``recv`` in partition ``pid`` from version ``lo`` to ``hi``:
        whether every version strictly between was deleted by the broker or lost by this
        consumer with a recorded cause."""
        if len(recv) == 0:
            return np.zeros(0, dtype=bool)
        # versions the broker deleted (every consumer may jump over those)
        gone = np.flatnonzero(self.placed & (self.deleted >= 0))
        dr = self.trace.dropped
        xi, xk = self._index(dr["msg"])
        xk &= dr["receiver"] >= 0
        xk[xk] = self.placed[xi[xk]]
        x_recv = dr["receiver"][xk].astype(_I8)
        x_pid, x_vo = self.r_pid[xi[xk]], self.r_first[xi[xk]]
        b_keys, x_keys, b_lo, b_hi = composite_like(
            [self.r_pid[gone], self.r_first[gone]], [x_pid, x_vo], [pid, lo + 1], [pid, hi])
        b_keys = unique(b_keys)
        covered = np.searchsorted(b_keys, b_hi) - np.searchsorted(b_keys, b_lo)
        # versions this consumer lost with a cause, not counting those again
        own = ~isin_sorted(b_keys, x_keys)
        keys, q_lo, q_hi = composite_like([x_recv[own], x_pid[own], x_vo[own]],
                                          [recv, pid, lo + 1], [recv, pid, hi])
        keys = unique(keys)
        covered += np.searchsorted(keys, q_hi) - np.searchsorted(keys, q_lo)
        return covered >= hi - lo - 1

    # ------------------------------------------------------------------ groups
    def _group_map(self) -> None:
        """Each receiver's consumer group (``trace.receiver_groups``; else its own name)."""
        tr = self.trace
        names = tr.receivers.names
        group_names: list[str] = []
        gid_of: dict[str, int] = {}

        def gid(r: int) -> int:
            name = tr.receiver_groups.get(r) or (names[r] if 0 <= r < len(names)
                                                 else f"receiver#{r}")
            if name not in gid_of:
                gid_of[name] = len(group_names)
                group_names.append(name)
            return gid_of[name]

        d, dr = tr.delivered, tr.dropped
        n_recv = max([len(names)] + [int(a.max()) + 1 for a in (d["receiver"], dr["receiver"])
                                     if len(a)])
        self.r2g = np.array([gid(r) for r in range(n_recv)], dtype=_I8)
        self.group_names = group_names

    def _groups(self) -> tuple[ReceiverSummary, ...]:
        tr = self.trace
        dr = tr.dropped
        r2g, group_names = self.r2g, self.group_names
        # deliveries: first per (group, record) is the delivery, later ones are redeliveries
        dk = self.d_ok
        g = r2g[np.maximum(self.d_recv[dk], 0)]
        mi, t = self.d_idx[dk], self.d_t[dk]
        order = np.lexsort((t, mi, g))
        g, mi, t = g[order], mi[order], t[order]
        key = composite_like([g, mi])[0]
        firsts = first_per_group(key)
        redelivered = ~firsts
        self._emit("redelivered", g[redelivered], t[redelivered], self.msgs[mi[redelivered]],
                   lambda i: group_names[i])
        dg, dm, dt = g[firsts], mi[firsts], t[firsts]
        # drops per (group, record): the cause of the first
        xi, xk = self._index(dr["msg"])
        xk &= dr["receiver"] >= 0
        xg = r2g[dr["receiver"][xk].astype(_I8)]
        xm, xr, xt = xi[xk], dr["reason"][xk].astype(_I8), dr["t"][xk]
        order = np.lexsort((xt, xm, xg))
        xg, xm, xr, xt = xg[order], xm[order], xr[order], xt[order]
        f = first_per_group(composite_like([xg, xm])[0])
        xg, xm, xr, xt = xg[f], xm[f], xr[f], xt[f]
        # the partitions each group consumed, and where it started
        og = np.concatenate((dg, xg))
        om = np.concatenate((dm, xm))
        placed = self.placed[om]
        og, om = og[placed], om[placed]
        op = self.r_pid[om]
        gp = composite_like([og, op])[0]
        n_groups = len(group_names)
        entitled_g: list[np.ndarray] = []
        entitled_m: list[np.ndarray] = []
        reach: dict[tuple[int, int], int] = {}
        if len(gp):
            # per (group, partition): the first version it read or lost, and the last
            order = np.lexsort((self.r_first[om], gp))
            heads = first_per_group(gp[order])
            tails = np.append(heads[1:], True)
            sg, sp, sf = og[order], op[order], self.r_first[om][order]
            # records of each partition by version order, to slice entitlements from
            placed_idx = np.flatnonzero(self.placed)
            by_part = placed_idx[np.lexsort((self.r_first[placed_idx],
                                             self.r_pid[placed_idx]))]
            part_of, first_of = self.r_pid[by_part], self.r_first[by_part]
            for g_, p_, s_, e_ in zip(sg[heads].tolist(), sp[heads].tolist(),
                                      sf[heads].tolist(), sf[tails].tolist(), strict=True):
                lo = np.searchsorted(part_of, p_, "left")
                hi = np.searchsorted(part_of, p_, "right")
                lo += np.searchsorted(first_of[lo:hi], s_, "left")
                sel = by_part[lo:hi]
                entitled_g.append(np.full(len(sel), g_, dtype=_I8))
                entitled_m.append(sel)
                reach[(g_, p_)] = e_
        eg = np.concatenate(entitled_g) if entitled_g else np.empty(0, dtype=_I8)
        em = np.concatenate(entitled_m) if entitled_m else np.empty(0, dtype=_I8)
        # outcome of each entitled record
        ek, dkey, xkey = composite_like([eg, em], [dg, dm], [xg, xm])
        d_sorted = np.argsort(dkey, kind="stable")
        x_sorted = np.argsort(xkey, kind="stable")
        got = _lookup(dkey[d_sorted], ek)
        drop_at = _lookup(xkey[x_sorted], ek)
        delivered = got >= 0
        cause = np.full(len(ek), -1, dtype=_I8)
        has_drop = ~delivered & (drop_at >= 0)
        cause[has_drop] = xr[x_sorted[drop_at[has_drop]]]
        broker = ~delivered & ~has_drop & (self.deleted[em] >= 0)
        cause[broker] = self.deleted[em][broker]
        written = ~delivered & (cause < 0) & (self.write_lost[em] >= 0)
        cause[written] = self.write_lost[em][written]
        # when each loss happened: the group's drop, else the broker's deletion, else the
        # producer-side loss
        lost_t = np.full(len(ek), np.inf)
        lost_t[has_drop] = xt[x_sorted[drop_at[has_drop]]]
        lost_t[broker] = self.deleted_t[em][broker]
        lost_t[written] = self.write_lost_t[em][written]
        by_broker = has_drop & np.isin(cause, list(_BROKER_DELETES))
        lost_t[by_broker] = np.minimum(lost_t[by_broker], self.deleted_t[em][by_broker])
        missing = ~delivered & (cause < 0)
        reach_of = np.array([reach.get((a, b), -1) for a, b in zip(
            eg[missing].tolist(), self.r_pid[em[missing]].tolist(), strict=True)], dtype=_I8)
        below = np.zeros(len(ek), dtype=bool)
        below[missing] = self.r_last[em[missing]] < reach_of
        unexplained = missing & (below | self.drained)
        lag = missing & ~unexplained
        gname = group_names.__getitem__
        when = np.where(np.isnan(self.m_sent[em]), 0.0, self.m_sent[em])
        self._emit("lost", eg[cause >= 0], lost_t[cause >= 0], self.msgs[em[cause >= 0]],
                   gname, cause=cause[cause >= 0])
        self._emit("unexplained-loss", eg[unexplained], when[unexplained],
                   self.msgs[em[unexplained]], gname,
                   detail="below what the group had already read" if not self.drained
                   else "the run was drained")
        self._emit("lag", eg[lag], when[lag], self.msgs[em[lag]], gname)
        # summaries
        def count(mask: np.ndarray, groups: np.ndarray = eg) -> np.ndarray:
            return np.bincount(groups[mask], minlength=n_groups)[:n_groups]

        entitled = count(np.ones(len(eg), bool))
        got_n = count(delivered)
        lag_n = count(lag)
        dup_n = count(redelivered, g)
        back_g = r2g[self.back_recv] if len(self.back_recv) else self.back_recv
        back_n = np.bincount(back_g, minlength=n_groups)[:n_groups]
        lost_by: dict[int, dict[str, int]] = {}
        for gg, cc in zip(eg[cause >= 0].tolist(), cause[cause >= 0].tolist(), strict=True):
            slot = lost_by.setdefault(gg, {})
            slot[DROP_REASONS[cc]] = slot.get(DROP_REASONS[cc], 0) + 1
        for gg in eg[unexplained].tolist():
            slot = lost_by.setdefault(gg, {})
            slot["unexplained"] = slot.get("unexplained", 0) + 1
        latency = dt - self.m_sent[dm]
        groups, n_lat, qs, mx = quantiles_by_group(dg, latency, _QS)
        lat = {int(a): Latency(int(n), *(float(x) for x in q), float(m))
               for a, n, q, m in zip(groups, n_lat, qs, mx, strict=True)}
        active = sorted(set(unique(dg).tolist()) | set(unique(xg).tolist())
                        | set(unique(eg).tolist()))
        return tuple(ReceiverSummary(
            receiver=group_names[a], group=group_names[a], entitled=int(entitled[a]),
            delivered=int(got_n[a]), lost=lost_by.get(a, {}), in_flight=int(lag_n[a]),
            duplicated=int(dup_n[a]), out_of_order=int(back_n[a]),
            latency=lat.get(a, Latency())) for a in active)

    def _ownership(self) -> None:
        for ev in self.trace.events:
            if ev.kind == "double-ownership":
                part = ev.detail.get("partition")
                where = f"{getattr(part, 'topic', '?')}-{getattr(part, 'partition', '?')}"
                owners = ev.detail.get("owners", ())
                self.findings.append(finding("double-ownership", ev.who, 1, ev.t,
                                             detail=f"{where} owned by {owners}"))

    def run(self) -> CheckReport:
        self._positions()
        self._group_map()
        self._write_anomalies()
        self._read_anomalies()
        self._skips()
        self._ownership()
        summaries = self._groups()
        merged = _merge_ownership(self.findings)
        found = sorted(merged, key=lambda f: (not f.error, f.kind, f.receiver, f.cause))
        return CheckReport("log", tuple(found), summaries)


def _truncated_rows(trace: Trace, msg: np.ndarray, topic: np.ndarray, part: np.ndarray,
                    off: np.ndarray) -> np.ndarray:
    """Which ``appended`` rows a leader change later truncated (``truncated`` table)."""
    tr = trace.tables.get("truncated")
    if tr is None or not len(tr) or not len(msg):
        return np.zeros(len(msg), dtype=bool)
    keys = composite_like([msg, topic, part, off],
                          [tr["msg"], tr["channel"].astype(_I8), tr["partition"].astype(_I8),
                           tr["offset"].astype(_I8)])
    return np.isin(keys[0], keys[1])


def _lookup(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Position of each query in a sorted key array, -1 when absent."""
    if len(sorted_keys) == 0:
        return np.full(len(queries), -1, dtype=_I8)
    pos = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return np.where(sorted_keys[pos] == queries, pos, -1)


def _merge_ownership(findings: list[Finding]) -> list[Finding]:
    """One double-ownership finding per group (count, first time), the rest unchanged."""
    rest = [f for f in findings if f.kind != "double-ownership"]
    by_group: dict[str, list[Finding]] = {}
    for f in findings:
        if f.kind == "double-ownership":
            by_group.setdefault(f.receiver, []).append(f)
    for group, fs in by_group.items():
        first = min(fs, key=lambda f: f.first_t)
        rest.append(finding("double-ownership", group, len(fs), first.first_t,
                            detail=first.detail))
    return rest
