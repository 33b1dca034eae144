"""Golden histories for the push-broker checker: one per anomaly of checking.md §7.C.

The base history: connection ``a`` subscribes to ``news``, ``b`` to the pattern ``n*``; five
PUBLISHes on ``news`` execute at t = 2..6 (two copies each), one on ``sport`` at t = 7 (none).
Each test changes one thing and asserts exactly which anomaly the checker reports.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.redis_pubsub.glob import stringmatch
from sim.checker import assert_conserved, check_pubsub, trace_from_columns
from sim.trace import REASON_CODE

NEWS, SPORT = 0, 1


def history(*, events=None, delivered=None, dropped=None, replies=None, extra_events=()):
    msgs = np.arange(6)
    chan = np.array([NEWS] * 5 + [SPORT])
    executed = np.arange(2.0, 8.0)
    if events is None:
        events = [
            (0.0, "connect", "a", {"epoch": 0}), (0.0, "connect", "b", {"epoch": 0}),
            (1.0, "subscribe", "a", {"channel": b"news"}),
            (1.0, "psubscribe", "b", {"pattern": b"n*"}),
        ]
    events = [*events, *extra_events]
    if delivered is None:
        delivered = {
            "msg": np.concatenate([msgs[:5], msgs[:5]]),
            "receiver": np.array([0] * 5 + [1] * 5),
            "via": np.array([-1] * 5 + [0] * 5),
            "t": np.concatenate([executed[:5] + 0.1, executed[:5] + 0.2]),
        }
    if dropped is None:
        dropped = {"msg": [], "receiver": [], "t": [], "reason": []}
    return trace_from_columns(
        {
            "published": {"msg": msgs, "t": executed - 0.5, "source": np.zeros(6, int),
                          "channel": chan, "size": np.full(6, 10), "partition": np.full(6, -1),
                          "offset": np.full(6, -1)},
            "redis_publish": {"msg": msgs, "t": executed,
                              "receivers": np.array([2] * 5 + [0]) if replies is None
                              else np.asarray(replies)},
            "delivered": {k: np.asarray(v) for k, v in delivered.items()},
            "dropped": {k: np.asarray(v) for k, v in dropped.items()},
        },
        events=events, receivers=["a", "b"], channels=["news", "sport"], sources=["pub"],
        subscriptions=["n*"],
        schemas={"redis_publish": {"msg": "i8", "t": "f8", "receivers": "i4"}},
    )


def deliveries(trace, **change):
    cols = {k: v.copy() for k, v in trace.delivered.to_dict().items()}
    cols.update(change)
    return cols


def check(trace, **kw):
    return check_pubsub(trace, stringmatch, **kw)


def test_clean_history_is_clean_and_accounted():
    report = check(history(), drained=True)
    assert report.ok, report.explain()
    assert report.findings == ()
    a, b = report.receiver("a"), report.receiver("b")
    assert (a.entitled, a.delivered, b.entitled, b.delivered) == (5, 5, 5, 5)
    assert a.latency.n == 5 and a.latency.p50 == pytest.approx(0.6)
    assert b.latency.max == pytest.approx(0.7)
    assert "a received 5 of 5 messages" in report.explain()


def test_p1_phantom_never_published():
    base = history()
    d = deliveries(base)
    d = {k: np.append(v, x) for (k, v), x in zip(d.items(), (99, 0, -1, 9.0), strict=True)}
    report = check(history(delivered=d))
    assert report.kinds(errors_only=True) == {"phantom"}
    assert report.of("phantom")[0].examples == (99,)


def test_p1_phantom_delivered_before_it_executed():
    base = history()
    t = base.delivered["t"].copy()
    t[0] = 1.5
    report = check(history(delivered=deliveries(base, t=t)))
    # delivered at 1.5 although it executed at 2: causality broken (and hence out of order)
    assert "phantom" in report.kinds(errors_only=True)
    assert "before its PUBLISH executed" in report.of("phantom")[0].detail


def test_p2_misrouted_to_a_connection_never_subscribed():
    d = deliveries(history())
    d = {k: np.append(v, x) for (k, v), x in zip(d.items(), (5, 0, -1, 7.1), strict=True)}
    report = check(history(delivered=d), drained=True)
    assert report.kinds(errors_only=True) == {"misrouted"}
    assert report.of("misrouted")[0].receiver == "a"


def test_p2_misrouted_pmessage_whose_pattern_does_not_match():
    d = deliveries(history())
    d = {k: np.append(v, x) for (k, v), x in zip(d.items(), (5, 1, 0, 7.1), strict=True)}
    report = check(history(delivered=d), drained=True)
    assert report.kinds(errors_only=True) == {"misrouted"}
    assert "does not match" in report.of("misrouted")[0].detail


def test_p3_duplicate():
    base = history()
    d = deliveries(base)
    d = {k: np.insert(v, 3, v[2]) for k, v in d.items()}
    report = check(history(delivered=d), drained=True)
    assert report.kinds(errors_only=True) == {"duplicate"}
    assert report.receiver("a").duplicated == 1


def test_channel_and_pattern_copies_are_not_duplicates():
    """A connection subscribed to news and n* is owed two copies: message then pmessage."""
    events = [(0.0, "connect", "a", {"epoch": 0}),
              (1.0, "subscribe", "a", {"channel": b"news"}),
              (1.0, "psubscribe", "a", {"pattern": b"n*"})]
    base = history()
    d = deliveries(base, receiver=np.zeros(10, int))
    report = check(history(events=events, delivered=d), drained=True)
    assert report.ok, report.explain()
    assert report.receiver("a").entitled == 10


def test_p4_unexplained_loss_on_a_drained_run():
    base = history()
    d = {k: np.delete(v, 3) for k, v in deliveries(base).items()}
    loose = check(history(delivered=d))
    assert loose.ok and loose.kinds() == {"in-flight-at-end"}
    report = check(history(delivered=d), drained=True)
    assert report.kinds(errors_only=True) == {"unexplained-loss"}
    assert report.of("unexplained-loss")[0].examples == (3,)
    with pytest.raises(AssertionError, match="conservation violated"):
        assert_conserved(history(delivered=d), stringmatch, drained=True)


def test_p4_loss_after_disconnect_without_a_drop_is_unexplained_even_undrained():
    base = history()
    keep = base.delivered["t"] < 4.0  # a and b got msgs 0, 1
    d = {k: v[keep] for k, v in deliveries(base).items()}
    report = check(history(delivered=d, extra_events=[
        (4.5, "disconnect", "a", {"reason": "disconnected", "epoch": 0})]))
    lost = report.of("unexplained-loss")
    assert [f.receiver for f in lost] == ["a"] and lost[0].count == 1  # msg 2 (t=4)
    assert report.receiver("b").in_flight == 3


def test_p5_explained_loss_counted_by_cause():
    base = history()
    keep = ~((base.delivered["receiver"] == 0) & (base.delivered["msg"] >= 2))
    d = {k: v[keep] for k, v in deliveries(base).items()}
    drop = {"msg": [2], "receiver": [0], "t": [4.5],
            "reason": [REASON_CODE["output-buffer-limit"]]}
    report = check(history(delivered=d, dropped=drop, replies=[2, 2, 2, 1, 1, 0], extra_events=[
        (4.5, "disconnect", "a", {"reason": "output-buffer-limit", "epoch": 0})]), drained=True)
    assert report.ok, report.explain()
    lost = report.of("lost")
    assert len(lost) == 1 and lost[0].cause == "output-buffer-limit" and lost[0].count == 1
    a = report.receiver("a")
    assert (a.entitled, a.delivered, a.lost) == (3, 2, {"output-buffer-limit": 1})
    assert "a lost 1 message: output-buffer-limit at t=4.5 s" in report.explain()


def test_drops_while_away_are_not_owed_but_reported():
    base = history()
    keep = ~((base.delivered["receiver"] == 0) & (base.delivered["msg"] >= 2))
    d = {k: v[keep] for k, v in deliveries(base).items()}
    code = REASON_CODE["disconnected"]
    drop = {"msg": [2, 3, 4], "receiver": [0] * 3, "t": [4.5, 5, 6], "reason": [code] * 3}
    report = check(history(delivered=d, dropped=drop, replies=[2, 2, 2, 1, 1, 0], extra_events=[
        (4.5, "disconnect", "a", {"reason": "disconnected", "epoch": 0})]), drained=True)
    assert report.ok
    a = report.receiver("a")
    assert a.lost == {"disconnected": 1} and a.away == {"disconnected": 2}
    assert "a received 2 of 5 messages it was subscribed for" in a.sentence()


def test_p6_history_leak():
    events = [(0.0, "connect", "a", {"epoch": 0}), (0.0, "connect", "b", {"epoch": 0}),
              (3.5, "subscribe", "a", {"channel": b"news"}),
              (1.0, "psubscribe", "b", {"pattern": b"n*"})]
    report = check(history(events=events, replies=[1, 1, 2, 2, 2, 0]), drained=True)
    assert report.kinds(errors_only=True) == {"history-leak"}
    leak = report.of("history-leak")[0]
    assert (leak.receiver, leak.count, leak.examples) == ("a", 2, (0, 1))


def test_p7_post_unsubscribe_delivery():
    report = check(history(replies=[2, 2, 2, 1, 1, 0],
                           extra_events=[(4.5, "unsubscribe", "a", {"channel": b"news"})]),
                   drained=True)
    assert report.kinds(errors_only=True) == {"post-unsubscribe"}
    assert report.of("post-unsubscribe")[0].count == 2


def test_p7_pattern_unsubscribe_and_resubscribe_later():
    """After PUNSUBSCRIBE n* at 3.5 and PSUBSCRIBE again at 5.5, msgs 2 and 3 (t = 4, 5) are
    not owed: delivering them before 5.5 is late, msg 4 (t = 6) is owed again."""
    report = check(history(replies=[2, 2, 1, 1, 2, 0], extra_events=[
        (3.5, "punsubscribe", "b", {"pattern": b"n*"}),
        (5.5, "psubscribe", "b", {"pattern": b"n*"})]), drained=True)
    assert report.kinds(errors_only=True) == {"post-unsubscribe"}
    assert report.of("post-unsubscribe")[0].examples == (2, 3)
    assert report.receiver("b").entitled == 3


def test_p8_out_of_order():
    base = history()
    t = base.delivered["t"].copy()
    t[1], t[2] = 4.15, 4.1  # msg 1 (executed at 3) read after msg 2 (executed at 4)
    report = check(history(delivered=deliveries(base, t=t)), drained=True)
    assert report.kinds(errors_only=True) == {"out-of-order"}
    assert report.receiver("a").out_of_order == 1


def test_p9_receiver_count_mismatch():
    report = check(history(replies=[2, 3, 2, 2, 2, 0]), drained=True)
    assert report.kinds(errors_only=True) == {"receiver-count"}
    assert report.of("receiver-count")[0].receiver == "publisher pub"


def test_refused_publish_is_not_owed_and_delivering_it_is_phantom():
    report = check(history(replies=[2, 2, -1, 2, 2, 0]), drained=True)
    assert report.kinds(errors_only=True) == {"phantom"}
    assert report.count("phantom") == 2


def test_publish_at_the_instant_of_a_subscribe_is_owed_neither_way():
    events = [(0.0, "connect", "a", {"epoch": 0}), (0.0, "connect", "b", {"epoch": 0}),
              (2.0, "subscribe", "a", {"channel": b"news"}),
              (1.0, "psubscribe", "b", {"pattern": b"n*"})]
    assert check(history(events=events), drained=True).ok  # got msg 0 (t = 2): fine
    base = history()
    d = {k: np.delete(v, 0) for k, v in deliveries(base).items()}
    report = check(history(events=events, delivered=d, replies=[1, 2, 2, 2, 2, 0]),
                   drained=True)
    assert report.ok, report.explain()  # did not get it, reply did not count it: fine too


def test_pattern_subscriptions_need_the_broker_glob():
    with pytest.raises(ValueError, match="match="):
        check_pubsub(history())


def test_report_rows_are_tidy():
    report = check(history(replies=[2, 3, 2, 2, 2, 0]), drained=True)
    rows = report.to_rows()
    assert rows[0]["code"] == "P9" and rows[0]["error"] is True
    assert set(rows[0]) >= {"receiver", "kind", "count", "first_t", "cause", "detail"}
    assert {r["receiver"] for r in report.summary()} == {"a", "b"}


# ---- two servers: a primary and a replica (each connection is owed what its server ran) ------

def two_servers(*, replica_runs=(0, 1, 2), delivered_b=(0, 1, 2), dropped=None):
    """``a`` on the primary, ``b`` on the replica, both on ``news``. Three PUBLISHes run on the
    primary at t = 2, 3, 4 and, propagated, on the replica 0.01 s later (``replica_runs``)."""
    msgs = np.arange(3)
    on_primary = np.arange(2.0, 5.0)
    runs = np.array(replica_runs, dtype=int)
    delivered_b = np.array(delivered_b, dtype=int)
    events = [(0.0, "connect", "a", {"epoch": 0, "server": "primary"}),
              (0.0, "connect", "b", {"epoch": 0, "server": "replica"}),
              (1.0, "subscribe", "a", {"channel": b"news"}),
              (1.0, "subscribe", "b", {"channel": b"news"})]
    dropped = dropped or {"msg": [], "receiver": [], "t": [], "reason": []}
    return trace_from_columns(
        {
            "published": {"msg": msgs, "t": on_primary - 0.5, "source": np.zeros(3, int),
                          "channel": np.zeros(3, int), "size": np.full(3, 10),
                          "partition": np.full(3, -1), "offset": np.full(3, -1)},
            "redis_publish": {"msg": np.concatenate([msgs, runs]),
                              "t": np.concatenate([on_primary, on_primary[runs] + 0.01]),
                              "receivers": np.ones(3 + len(runs), int),
                              "server": np.array([0] * 3 + [1] * len(runs))},
            "delivered": {"msg": np.concatenate([msgs, delivered_b]),
                          "receiver": np.array([0] * 3 + [1] * len(delivered_b)),
                          "via": np.full(3 + len(delivered_b), -1),
                          "t": np.concatenate([on_primary + 0.1,
                                               on_primary[delivered_b] + 0.11])},
            "dropped": {k: np.asarray(v) for k, v in dropped.items()},
        },
        events=events, receivers=["a", "b"], channels=["news"], sources=["pub"],
        servers=["primary", "replica"],
    )


def test_two_servers_each_connection_is_owed_what_its_own_server_ran():
    report = check(two_servers(), drained=True)
    assert report.ok and report.findings == ()
    assert [(s.receiver, s.entitled, s.delivered) for s in report.receivers] == [
        ("a", 3, 3), ("b", 3, 3)]


def test_two_servers_a_propagated_publish_that_never_ran_on_the_replica_is_not_owed():
    # message 2 died on the replication link: the replica never ran it, b was not owed it;
    # the drop the model records for it is a copy b missed, not a loss of an owed copy
    dropped = {"msg": [2], "receiver": [1], "t": [4.0], "reason": [REASON_CODE["replication-link"]]}
    report = check(two_servers(replica_runs=(0, 1), delivered_b=(0, 1), dropped=dropped),
                   drained=True)
    assert report.ok
    b = report.receiver("b")
    assert (b.entitled, b.delivered, b.away) == (2, 2, {"replication-link": 1})


def test_two_servers_a_copy_missing_on_the_replica_breaks_conservation():
    report = check(two_servers(delivered_b=(0, 2)), drained=True)
    assert report.kinds(errors_only=True) == {"unexplained-loss"}
    assert report.of("unexplained-loss")[0].receiver == "b"
    assert report.of("unexplained-loss")[0].examples == (1,)


def test_two_servers_delivery_of_what_only_the_primary_ran_is_a_phantom():
    # b is on the replica, which never ran message 2: getting it is an error
    report = check(two_servers(replica_runs=(0, 1), delivered_b=(0, 1, 2)), drained=True)
    assert report.kinds(errors_only=True) == {"phantom"}
    assert "server never executed" in report.of("phantom")[0].detail
    assert report.receiver("b").entitled == 2
