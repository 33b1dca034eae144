"""Golden histories for the log checker, one per anomaly, after Jepsen's ``kafka_test.clj``.

The base history: producer ``p`` sends records 0..4 to topic ``t`` partition 0, acknowledged
(and appended) at offsets 0..4; consumer ``g/c1`` of group ``g`` reads them in order. Each test
changes one thing, as the Jepsen test of the same name does, and asserts the anomaly reported.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.checker import check_log, trace_from_columns
from sim.checker.conservation import assert_conserved
from sim.trace import REASON_CODE

APPENDED = {"msg": "i8", "channel": "i4", "partition": "i4", "offset": "i8", "t": "f8"}
LOG_DELETED = {**APPENDED, "reason": "i1"}
SEND_FAILED = {"msg": "i8", "t": "f8", "channel": "i4", "partition": "i4", "error": "i2"}


def history(*, n=5, offsets=None, appended=True, reads=None, readers=None, read_t=None,
            extra_published=(), dropped=(), deleted=(), failed=(), events=(), sent=None,
            groups=None, extra_acked=()):
    """Columns of a small log history (lists keep the tests readable)."""
    msgs = list(range(n)) + [m for m in extra_published]
    offsets = list(range(n)) if offsets is None else offsets
    sent = [0.1 * (i + 1) for i in range(len(msgs))] if sent is None else sent
    reads = list(range(n)) if reads is None else reads
    readers = [0] * len(reads) if readers is None else readers
    read_t = [1.0 + 0.1 * i for i in range(len(reads))] if read_t is None else read_t
    acked = {"msg": list(range(n)) + [a[0] for a in extra_acked],
             "t": [s + 0.01 for s in sent[:n]] + [1.0] * len(extra_acked),
             "partition": [0] * (n + len(extra_acked)),
             "offset": offsets + [a[1] for a in extra_acked]}
    tables = {
        "published": {"msg": msgs, "t": sent, "source": [0] * len(msgs),
                      "channel": [0] * len(msgs), "size": [10] * len(msgs),
                      "partition": [0] * len(msgs), "offset": [-1] * len(msgs)},
        "acked": acked,
        "delivered": {"msg": reads, "receiver": readers, "via": [-1] * len(reads),
                      "t": read_t},
        "dropped": {"msg": [d[0] for d in dropped], "receiver": [d[1] for d in dropped],
                    "t": [d[2] for d in dropped], "reason": [REASON_CODE[d[3]] for d in dropped]},
        "log_deleted": {"msg": [d[0] for d in deleted], "channel": [0] * len(deleted),
                        "partition": [0] * len(deleted), "offset": [d[1] for d in deleted],
                        "t": [0.9] * len(deleted),
                        "reason": [REASON_CODE[d[2]] for d in deleted]},
        "send_failed": {"msg": list(failed), "t": [1.0] * len(failed),
                        "channel": [0] * len(failed), "partition": [0] * len(failed),
                        "error": [7] * len(failed)},
    }
    if appended:
        tables["appended"] = {"msg": acked["msg"], "channel": [0] * len(acked["msg"]),
                              "partition": acked["partition"], "offset": acked["offset"],
                              "t": acked["t"]}
    return trace_from_columns(
        {k: {c: np.asarray(v) for c, v in cols.items()} for k, cols in tables.items()},
        events=events, receivers=["g/c1", "g/c2", "h/c1"], channels=["t"], sources=["p"],
        receiver_groups=groups if groups is not None else {0: "g", 1: "g", 2: "h"},
        schemas={"appended": APPENDED, "log_deleted": LOG_DELETED, "send_failed": SEND_FAILED},
    )


def test_clean_history():
    report = check_log(history(), drained=True)
    assert report.ok and report.findings == (), report.explain()
    g = report.receiver("g")
    assert (g.entitled, g.delivered, g.lost, g.duplicated) == (5, 5, {}, 0)
    assert g.latency.n == 5 and g.latency.p50 == pytest.approx(0.9)
    assert "g received 5 of 5 records of its partitions" in report.explain()


def test_offsets_from_acks_alone():
    assert check_log(history(appended=False), drained=True).ok


def test_l1_inconsistent_offsets():
    """kafka_test.clj inconsistent-offsets-test: two values acknowledged at one offset."""
    report = check_log(history(extra_published=[5], extra_acked=[(5, 2)]))
    assert "inconsistent-offsets" in report.kinds(errors_only=True)
    assert report.of("inconsistent-offsets")[0].receiver == "t-0"


def test_l2_duplicate_write_error_only_with_idempotence():
    """duplicate-test: one value at two offsets (a retried, non-idempotent send)."""
    trace = history(extra_acked=[(1, 5)])
    assert check_log(trace).kinds(errors_only=True) == {"duplicate-write"}
    relaxed = check_log(trace, idempotent=False)
    assert relaxed.ok and relaxed.count("duplicate-write") == 1


def test_l3_lost_write():
    """lost-write-test: offset 3 was read, so 2 (acknowledged, below it) must have been read."""
    report = check_log(history(reads=[0, 1, 3, 4]))
    assert {"lost-write", "unexplained-loss"} == report.kinds(errors_only=True)
    assert report.of("lost-write")[0].examples == (2,)
    assert report.count("poll-skip") == 1  # allowed under subscribe: reported, not an error


def test_l3_deleted_by_retention_is_a_cause_not_a_lost_write():
    report = check_log(history(reads=[2, 3, 4], deleted=[(0, 0, "retention"), (1, 1, "retention")],
                               dropped=[(0, 0, 0.9, "retention"), (1, 0, 0.9, "retention")]),
                       drained=True)
    assert report.ok, report.explain()
    g = report.receiver("g")
    assert (g.entitled, g.delivered, g.lost) == (5, 3, {"retention": 2})


def test_l4_unseen_is_an_error_only_when_drained():
    trace = history(reads=[0, 1, 2])
    loose = check_log(trace)
    assert loose.ok and loose.count("unseen") == 2 and loose.receiver("g").in_flight == 2
    strict = check_log(trace, drained=True)
    assert {"unseen", "unexplained-loss"} == strict.kinds(errors_only=True)
    with pytest.raises(AssertionError, match="conservation violated"):
        assert_conserved(trace, drained=True)


def test_l5_aborted_read():
    """g1a-test: a value whose send failed was read."""
    report = check_log(history(extra_published=[5], failed=[5], reads=[0, 1, 2, 3, 4, 5]))
    assert report.kinds(errors_only=True) == {"aborted-read"}


def test_l6_phantom_read():
    report = check_log(history(reads=[0, 1, 2, 3, 4, 99]))
    assert report.kinds(errors_only=True) == {"phantom-read"}


def test_l7_poll_skip_is_an_error_under_assign():
    """poll-skip-test: c1 read 1 then 3; 2 was read by the other group, so no lost write."""
    trace = history(reads=[0, 1, 3, 4, 2], readers=[0, 0, 0, 0, 2])
    assert "poll-skip" not in check_log(trace).kinds(errors_only=True)
    assert "poll-skip" in check_log(trace, assigned=True).kinds(errors_only=True)


def test_l8_nonmonotonic_poll_and_redelivery():
    """nonmonotonic-poll-test: c1 read 2, then 1 again (after a rebalance, say)."""
    trace = history(reads=[0, 1, 2, 1, 2, 3, 4])
    report = check_log(trace, drained=True)
    assert report.ok
    assert report.count("nonmonotonic-poll") == 1 and report.receiver("g").duplicated == 2
    assert "nonmonotonic-poll" in check_log(trace, assigned=True).kinds(errors_only=True)


def test_l10_nonmonotonic_send():
    """nonmonotonic-send-test: the later send got the lower offset."""
    report = check_log(history(offsets=[0, 1, 2, 4, 3], reads=[0, 1, 2, 4, 3]))
    assert "nonmonotonic-send" in report.kinds(errors_only=True)
    assert "nonmonotonic-send" not in check_log(
        history(offsets=[0, 1, 2, 4, 3], reads=[0, 1, 2, 4, 3]),
        idempotent=False).kinds(errors_only=True)


def test_l12_double_ownership_event():
    report = check_log(history(events=[
        (1.0, "double-ownership", "g", {"partition": ("t", 0), "owners": ("a", "b")})]))
    assert report.kinds(errors_only=True) == {"double-ownership"}


def test_consumer_crash_loss_is_explained_and_group_members_share_entitlement():
    reads, readers = [0, 1, 3, 4], [0, 0, 1, 1]
    report = check_log(history(reads=reads, readers=readers,
                               dropped=[(2, 0, 1.5, "client-crash")]), drained=True)
    assert report.ok, report.explain()  # the log did not lose 2: the consumer did
    g = report.receiver("g")
    assert (g.entitled, g.delivered, g.lost) == (5, 4, {"client-crash": 1})
