"""What each group of receivers was owed, got, lost and still waited for — from the trace.

The *workload* says what was sent: :func:`sent_messages` draws it again from the run's seed
(the same named streams the model's feed used, so the very same messages). Every message is
owed once to every group subscribed to its target. The *trace* says what happened to each
copy: delivered (first delivery per group and message; further ones are duplicates), dropped
with a reason (``lost``), or neither by the end of the run (``undelivered``: still in flight, or
sent to a server that had not executed it yet). So, per group, by construction::

    owed = delivered + lost + undelivered

and :meth:`Tally.conservation_errors` checks the rest: nothing delivered or dropped that was
not owed, nothing both. Latency is delivery time minus send time, per delivered copy (as OMB
measures end to end), of messages sent after the warm-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from experiments.experiment import Metric
from experiments.workloads import GroupSpec, WorkloadFile
from sim.simulation import Simulation
from sim.trace import DROP_REASONS, Trace

PER_GROUP_LIMIT = 16
"""Per-group metric rows are written when a workload has at most this many groups."""
PER_RECEIVER_LIMIT = 32


@dataclass(frozen=True)
class Sent:
    """The workload's messages: send times and target indices (into ``workload.targets``)."""

    t: np.ndarray
    target: np.ndarray


def sent_messages(desc: WorkloadFile, seed: int) -> Sent:
    """Every message the workload sends with this seed, drawn as a model's feed draws them."""
    t, target = [], []
    for batch in desc.workload.feed(Simulation(seed=seed, trace=False)):
        t.append(batch.t)
        target.append(batch.target)
    if not t:
        return Sent(np.empty(0), np.empty(0, np.int32))
    return Sent(np.concatenate(t), np.concatenate(target))


def _expand(per_target: Sequence[np.ndarray], target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows with ``target``, one row per group owed it: (row index, group index)."""
    counts = np.array([len(g) for g in per_target], dtype=np.int64)
    n = counts[target]
    rows = np.repeat(np.arange(len(target)), n)
    if not len(rows):
        return rows, rows
    flat = np.concatenate([*per_target, np.empty(0, np.int64)]).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[target]
    offsets = np.arange(len(rows)) - np.repeat(np.cumsum(n) - n, n)
    return rows, flat[np.repeat(starts, n) + offsets]


def _first(key: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique keys, the earliest ``t`` of each, and the row of that earliest one."""
    if not len(key):
        return key, t, key
    order = np.lexsort((t, key))
    k = key[order]
    first = np.concatenate(([True], k[1:] != k[:-1]))
    return k[first], t[order][first], order[first]


@dataclass
class Tally:
    """One model's account of one run; see the module docstring."""

    model: str
    groups: tuple[str, ...]
    owed: np.ndarray
    delivered: np.ndarray
    duplicated: np.ndarray
    lost: dict[str, np.ndarray]
    owed_t: np.ndarray
    done_t: np.ndarray
    lost_t: np.ndarray
    delivered_t: np.ndarray
    latency: np.ndarray
    latency_sent: np.ndarray
    sent_t: np.ndarray
    receivers: dict[str, tuple[int, int]] = field(default_factory=dict)
    strays: int = 0

    @property
    def lost_total(self) -> np.ndarray:
        total = np.zeros(len(self.groups), dtype=np.int64)
        for counts in self.lost.values():
            total += counts
        return total

    @property
    def undelivered(self) -> np.ndarray:
        return self.owed - self.delivered - self.lost_total

    def backlog_at(self, t: float) -> int:
        """Copies owed by time ``t`` and neither delivered nor dropped by then."""
        return int(np.searchsorted(self.owed_t, t, side="right")
                   - np.searchsorted(self.done_t, t, side="right"))

    def conservation_errors(self) -> list[str]:
        """Violations of ``owed = delivered + lost + undelivered`` with all terms >= 0."""
        errors = []
        if self.strays:
            errors.append(f"{self.model}: {self.strays} copies delivered or dropped to a "
                          "group that was not owed them")
        for name, left in zip(self.groups, self.undelivered, strict=True):
            if left < 0:
                errors.append(f"{self.model}: group {name} got {-left} more copies than owed")
        return errors

    def metrics(self, window: tuple[float, float]) -> list[Metric]:
        """Tidy metric rows; rates and latency are over the measured ``window`` (seconds)."""
        m, t0, t1 = self.model, window[0], window[1]
        span = max(t1 - t0, 1e-12)
        sent = self.sent_t
        out = [
            Metric(m, "published", len(sent), "messages"),
            Metric(m, "owed", int(self.owed.sum()), "copies"),
            Metric(m, "delivered", int(self.delivered.sum()), "copies"),
            Metric(m, "duplicated", int(self.duplicated.sum()), "copies"),
            Metric(m, "lost", int(self.lost_total.sum()), "copies"),
            *(Metric(m, f"lost/{reason}", int(c.sum()), "copies")
              for reason, c in sorted(self.lost.items()) if c.sum()),
            Metric(m, "undelivered_at_end", int(self.undelivered.sum()), "copies"),
            Metric(m, "publish_rate", int(((sent >= t0) & (sent < t1)).sum()) / span, "msg/s"),
            Metric(m, "delivery_rate", int(((self.delivered_t >= t0) & (self.delivered_t < t1))
                                           .sum()) / span, "copies/s"),
        ]
        lat = self.latency * 1e3
        for label, q in (("mean", None), ("p50", 50), ("p99", 99), ("p99.9", 99.9),
                         ("max", 100)):
            value = (float("nan") if not len(lat) else
                     float(lat.mean()) if q is None else float(np.percentile(lat, q)))
            out.append(Metric(m, f"latency_{label}", value, "ms"))
        if len(self.groups) <= PER_GROUP_LIMIT:
            lost = self.lost_total
            for i, g in enumerate(self.groups):
                out += [Metric(m, f"group/{g}/delivered", int(self.delivered[i]), "copies"),
                        Metric(m, f"group/{g}/lost", int(lost[i]), "copies"),
                        Metric(m, f"group/{g}/duplicated", int(self.duplicated[i]), "copies")]
        if len(self.receivers) <= PER_RECEIVER_LIMIT:
            for r, (got, dup) in self.receivers.items():
                out += [Metric(m, f"receiver/{r}/delivered", got, "copies"),
                        Metric(m, f"receiver/{r}/duplicated", dup, "copies")]
        return out

    def series(self, end: float, bins: int = 200) -> dict[str, np.ndarray]:
        """Cumulative sent / delivered / lost copies over time, and latency quantiles."""
        edges = np.linspace(0.0, end, bins + 1)
        cum = {name: np.cumsum(np.histogram(t, bins=edges)[0])
               for name, t in (("owed", self.owed_t), ("delivered", self.delivered_t),
                               ("lost", self.lost_t))}
        q = np.linspace(0.0, 1.0, 501)
        lat = np.quantile(self.latency, q) if len(self.latency) else np.empty(0)
        return {"t": edges[1:], **cum, "latency_q": q if len(lat) else np.empty(0),
                "latency_s": lat}


def tally(model: str, trace: Trace, desc: WorkloadFile, sent: Sent,
          receivers: Mapping[str, str], measure_from: float, offset: float = 0.0) -> Tally:
    """Account for one run (see the module docstring). ``receivers`` maps each receiver name
    the model used in the trace to its group's name; trace times minus ``offset`` are workload
    times."""
    groups: tuple[GroupSpec, ...] = desc.groups
    names = tuple(g.name for g in groups)
    gindex = {g: i for i, g in enumerate(names)}
    targets = desc.workload.targets
    per_target = [np.array([i for i, g in enumerate(groups) if t in g.targets], dtype=np.int64)
                  for t in targets]
    n_groups = len(groups)

    rows, owed_group = _expand(per_target, sent.target)
    owed = np.bincount(owed_group, minlength=n_groups)
    owed_t = np.sort(sent.t[rows])

    pub = trace.published
    pub_msg, pub_time, pub_chan = pub["msg"], pub["t"] - offset, pub["channel"]
    size = int(max(pub_msg.max(initial=-1), trace.delivered["msg"].max(initial=-1),
                   trace.dropped["msg"].max(initial=-1))) + 1
    sent_at = np.full(size, np.nan)
    sent_at[pub_msg] = pub_time
    chan_target = np.full(len(trace.channels.names) + 1, -1, dtype=np.int64)
    for i, t in enumerate(targets):
        if t in trace.channels.ids:
            chan_target[trace.channels.ids[t]] = i
    target_of = np.full(size, -1, dtype=np.int64)
    target_of[pub_msg] = chan_target[pub_chan]

    recv_group = np.full(len(trace.receivers.names) + 1, -1, dtype=np.int64)
    for name, group in receivers.items():
        if name in trace.receivers.ids:
            recv_group[trace.receivers.ids[name]] = gindex[group]

    d = trace.delivered
    d_msg, d_t, d_recv = d["msg"], d["t"] - offset, d["receiver"]
    d_group = recv_group[d_recv]
    mine = d_group >= 0
    d_msg, d_t, d_group, d_recv = d_msg[mine], d_t[mine], d_group[mine], d_recv[mine]
    owed_pair = _owed(per_target, target_of, d_msg, d_group)
    strays = int((~owed_pair).sum())
    d_key = d_group * size + d_msg
    del_key, del_t, _ = _first(d_key, d_t)
    del_group = del_key // size
    delivered = np.bincount(del_group, minlength=n_groups)
    duplicated = np.bincount(d_group, minlength=n_groups) - delivered

    x = trace.dropped
    x_msg, x_t, x_recv, x_reason = x["msg"], x["t"] - offset, x["receiver"], x["reason"]
    producer_side = x_recv < 0
    p_rows, p_group = _expand(per_target, np.maximum(target_of[x_msg[producer_side]], 0))
    p_rows = np.flatnonzero(producer_side)[p_rows]
    c_group = np.where(producer_side, -1, recv_group[np.maximum(x_recv, 0)])
    c_rows = np.flatnonzero(c_group >= 0)
    rows_all = np.concatenate([c_rows, p_rows])
    grp_all = np.concatenate([c_group[c_rows], p_group])
    k_all = grp_all * size + x_msg[rows_all]
    lost_key, lost_t, first_row = _first(k_all, x_t[rows_all])
    keep = ~np.isin(lost_key, del_key)
    lost_key, lost_t = lost_key[keep], lost_t[keep]
    lost_reason = x_reason[rows_all[first_row[keep]]]
    lost_group = lost_key // size
    lost = {DROP_REASONS[r]: np.bincount(lost_group[lost_reason == r], minlength=n_groups)
            for r in np.unique(lost_reason)}
    strays += int((~_owed(per_target, target_of, lost_key % size, lost_group)).sum())

    latency_sent = sent_at[d_msg]
    measured = latency_sent >= measure_from
    per_receiver: dict[str, tuple[int, int]] = {}
    if len(receivers) <= PER_RECEIVER_LIMIT:
        for name in receivers:
            rid = trace.receivers.ids.get(name, -1)
            rows_r = d_msg[d_recv == rid]
            unique = len(np.unique(rows_r))
            per_receiver[name] = (unique, len(rows_r) - unique)
    return Tally(model, names, owed, delivered, duplicated, lost, owed_t,
                 np.sort(np.concatenate([del_t, lost_t])), np.sort(lost_t), np.sort(del_t),
                 (d_t - latency_sent)[measured], latency_sent[measured], sent.t,
                 per_receiver, strays)


def _owed(per_target: Sequence[np.ndarray], target_of: np.ndarray, msg: np.ndarray,
          group: np.ndarray) -> np.ndarray:
    """Whether each (message, group) pair is owed: the group receives the message's target."""
    owed_by = np.zeros((len(per_target) + 1, int(group.max(initial=0)) + 1), dtype=bool)
    for t, gs in enumerate(per_target):
        owed_by[t, gs[gs < owed_by.shape[1]]] = True
    return owed_by[target_of[msg], group]
