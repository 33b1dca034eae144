"""Mutation completeness of the pub/sub checker (checking.md §8.1, properties 2 and 3).

A clean history from the Redis model is clean; the same history with one planted fault —
a delivery dropped, duplicated, moved after a later one, sent to a stranger, a message from
before the SUBSCRIBE delivered, a PUBLISH reply changed — must be reported as the matching
anomaly (and nothing unrelated).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from models.redis_pubsub.glob import stringmatch
from sim.checker import check_pubsub, replace_tables
from sim.checker.windows import subscription_windows
from sim.trace import Trace
from tests.strategies import RedisRun, clean_redis_runs


def columns(trace: Trace, table: str) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in trace.tables[table].to_dict().items()}


def drop_delivery(trace: Trace, data: st.DataObject) -> Trace:
    d = columns(trace, "delivered")
    i = data.draw(st.integers(0, len(d["msg"]) - 1), label="dropped delivery row")
    return replace_tables(trace, delivered={k: np.delete(v, i) for k, v in d.items()})


def duplicate_delivery(trace: Trace, data: st.DataObject) -> Trace:
    d = columns(trace, "delivered")
    i = data.draw(st.integers(0, len(d["msg"]) - 1), label="duplicated delivery row")
    return replace_tables(trace, delivered={k: np.insert(v, i + 1, v[i]) for k, v in d.items()})


def reorder_deliveries(trace: Trace, data: st.DataObject) -> Trace | None:
    """Move a delivery to just after a later one of the same connection (same time, later row):
    the later-executed message now comes first."""
    d = columns(trace, "delivered")
    executed = trace.tables["redis_publish"].to_dict()
    exec_t = dict(zip(executed["msg"].tolist(), executed["t"].tolist(), strict=True))
    te = np.array([exec_t[m] for m in d["msg"].tolist()])
    pairs = [(i, j) for i in range(len(te)) for j in range(len(te))
             if d["receiver"][i] == d["receiver"][j] and te[i] < te[j] and d["t"][i] <= d["t"][j]]
    if not pairs:
        return None
    i, j = data.draw(st.sampled_from(pairs), label="moved row, after row")
    d["t"][i] = d["t"][j]
    order = [k for k in range(len(te)) if k != i]
    order.insert(order.index(j) + 1, i)
    return replace_tables(trace, delivered={k: v[order] for k, v in d.items()})


def deliver_to_stranger(trace: Trace, data: st.DataObject) -> Trace:
    d = columns(trace, "delivered")
    i = data.draw(st.integers(0, len(d["msg"]) - 1), label="copied delivery row")
    out = replace_tables(trace, delivered={k: np.append(v, v[i]) for k, v in d.items()})
    stranger = out.receivers.id("stranger")
    out.delivered["receiver"][-1] = stranger
    out.delivered["via"][-1] = -1
    return out


def deliver_from_before_subscribe(trace: Trace, data: st.DataObject) -> Trace | None:
    """A message on a subscribed channel, executed just before the SUBSCRIBE, delivered."""
    subs = [e for e in trace.events if e.kind == "subscribe" and e.t > 0]
    if not subs:
        return None
    ev = data.draw(st.sampled_from(subs), label="subscribe event")
    name = ev.detail["channel"]
    channel = trace.channels.id(name.decode("utf-8", "surrogateescape"))
    msg = trace._next_msg
    te = ev.t / 2  # executed before the SUBSCRIBE took effect
    # whoever *was* subscribed at te gets its copy as it should, so the only fault is the leak
    w = subscription_windows(trace)
    live = (w.start < te) & (te < w.end)
    owed = live & (((w.via < 0) & (w.channel == channel)) | (w.via >= 0))
    owed &= [v < 0 or stringmatch(w.patterns[v].encode("utf-8", "surrogateescape"), name)
             for v in w.via.tolist()]
    rows = [(msg, int(r), int(v), ev.t + 1e-3) for r, v in zip(w.receiver[owed], w.via[owed],
                                                                strict=True)]
    rows.append((msg, trace.receivers.id(ev.who), -1, ev.t + 1e-3))
    pub, exe, d = (columns(trace, n) for n in ("published", "redis_publish", "delivered"))
    pub = {k: np.append(v, x) for (k, v), x in zip(
        pub.items(), (msg, te / 2, 0, channel, 10, -1, -1), strict=True)}
    row = {"msg": msg, "t": te, "receivers": len(rows) - 1, "server": 0}
    exe = {k: np.append(v, row[k]) for k, v in exe.items()}
    d = {k: np.append(v, [row[j] for row in rows]) for j, (k, v) in enumerate(d.items())}
    return replace_tables(trace, published=pub, redis_publish=exe, delivered=d)


def change_reply(trace: Trace, data: st.DataObject) -> Trace:
    exe = columns(trace, "redis_publish")
    i = data.draw(st.integers(0, len(exe["msg"]) - 1), label="publish row")
    # never to -1: that is the marker of a refused PUBLISH
    step = data.draw(st.sampled_from((-1, 1)), label="reply change")
    exe["receivers"][i] += step if exe["receivers"][i] + step >= 0 else 1
    return replace_tables(trace, redis_publish=exe)


MUTATIONS = {
    # name: (mutation, anomaly it must produce, anomalies it may imply as well)
    "drop a delivery": (drop_delivery, "unexplained-loss", set()),
    "duplicate a delivery": (duplicate_delivery, "duplicate", set()),
    "reorder two deliveries": (reorder_deliveries, "out-of-order", set()),
    "deliver to a non-subscriber": (deliver_to_stranger, "misrouted", set()),
    "deliver a message executed before SUBSCRIBE": (deliver_from_before_subscribe,
                                                    "history-leak", set()),
    "change a PUBLISH reply": (change_reply, "receiver-count", set()),
}


@given(clean_redis_runs())
def test_clean_redis_histories_are_clean(run: RedisRun):
    report = check_pubsub(run.trace, stringmatch, drained=True)
    note(report.explain())
    assert report.ok
    assert all(s.delivered == s.entitled and not s.lost for s in report.receivers)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
@given(run=clean_redis_runs(), data=st.data())
def test_each_mutation_is_reported_as_its_anomaly(name: str, run: RedisRun, data):
    mutate, expected, implied = MUTATIONS[name]
    mutated = mutate(run.trace, data)
    if mutated is None:  # this history has nothing to apply the mutation to
        event("not applicable")
        return
    report = check_pubsub(mutated, stringmatch, drained=True)
    note(report.explain())
    found = report.kinds(errors_only=True)
    assert expected in found
    assert found <= {expected} | implied
