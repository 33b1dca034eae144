"""``Log.stage`` / ``Log.append_staged`` (the producer fast path's staged appends) against
``Log.append_many``: the same offsets, rows, byte totals and segments; any other write discards
the staging."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka.config import load
from models.kafka.log import Log


def state(log: Log) -> tuple:
    cols = {k: v.tolist() for k, v in log.columns().items()}
    segs = [(s.base_offset, s.created, s.nbytes, s.count, s.max_timestamp, s.roll_timestamp,
             s.last_modified) for s in log.segments]
    cum = [log.bytes_between(log.log_start_offset, o)
           for o in range(log.log_start_offset, log.log_end_offset + 1)]
    return (cols, segs, cum, log.log_start_offset, log.log_end_offset, log.size_bytes)


def batches(n: int, size: int, t: float, first_msg: int) -> tuple:
    return (np.arange(first_msg, first_msg + n), np.full(n, t), np.full(n, size),
            np.full(n, 7, dtype=np.int64))


def test_staged_records_are_invisible_until_appended_and_then_as_append_many_left_them():
    cfg = load("topic", {})
    a, b = Log(cfg), Log(cfg)
    a.append(*batches(2, 10, 0.5, 0), now=0.5)
    b.append(*batches(2, 10, 0.5, 0), now=0.5)
    msg = np.arange(100, 106)
    ts = np.array([1.0, 1.0, 1.5, 2.0, 2.0, 2.5])
    size = np.array([10, 20, 30, 40, 50, 60])
    key = np.full(6, -1, dtype=np.int64)
    epoch, base = a.stage(msg, ts, size, key)
    assert base == 2 and len(a) == 2 and a.log_end_offset == 2  # nothing visible yet
    assert a.append_staged(epoch, 2, 3, 60, 1.5, 1.2)  # batches [0:2], [2:3]
    assert a.append_staged(epoch, 5, 3, 150, 2.5, 2.6)  # batch [3:6]
    b.append_many(msg[:3], ts[:3], size[:3], key[:3], np.array([0, 2, 3]), np.array([1.1, 1.2]))
    b.append_many(msg[3:], ts[3:], size[3:], key[3:], np.array([3, 6]), np.array([2.6]))
    assert state(a) == state(b)
    assert not a.append_staged(epoch, 8, 1, 10, 2.5, 2.7)  # nothing staged any more


def test_another_write_discards_the_staging():
    log = Log(load("topic", {}))
    log.append(*batches(1, 10, 0.0, 0), now=0.0)
    epoch, base = log.stage(*batches(4, 10, 1.0, 10))
    log.append(*batches(1, 10, 1.0, 99), now=1.0)  # takes the staged rows
    assert not log.append_staged(epoch, base, 2, 20, 1.0, 1.0)
    assert log.columns()["msg"].tolist() == [0, 99] and log.log_end_offset == 2


def test_a_staged_append_that_would_roll_the_segment_is_refused():
    log = Log(load("topic", {"segment.bytes": 100}))
    log.append(*batches(1, 50, 0.0, 0), now=0.0)
    epoch, base = log.stage(*batches(2, 30, 1.0, 10))
    assert not log.append_staged(epoch, base, 2, 60, 1.0, 1.0)  # 50 + 60 > segment.bytes
    assert log.append_staged(epoch, base, 1, 30, 1.0, 1.0)
    assert log.log_end_offset == 2 and len(log.segments) == 1


def test_reserve_makes_room_at_once_and_keeps_the_staged_records():
    log = Log(load("topic", {}))
    log.append(*batches(3, 10, 0.0, 0), now=0.0)
    epoch, base = log.stage(*batches(2, 10, 1.0, 10))
    log.reserve(100_000)
    assert len(log._off) >= 100_005
    assert log.append_staged(epoch, base, 2, 20, 1.0, 1.0)
    assert log.columns()["msg"].tolist() == [0, 1, 2, 10, 11]
    cap = len(log._off)
    log.reserve(10)  # room enough already: nothing moves
    assert len(log._off) == cap


def test_reserving_ahead_again_and_again_grows_the_log_geometrically():
    # a producer reserves its whole remaining feed (capped) with every window: the columns
    # must not be copied each time the log end moves a little
    log = Log(load("topic", {}))
    rebuilds = []
    rebuild = log._rebuild
    log._rebuild = lambda *a: rebuilds.append(a) or rebuild(*a)
    for i in range(300):
        log.reserve(1000)
        log.append(*batches(10, 10, float(i), 10 * i), now=float(i))
    assert len(rebuilds) <= 4


ops = st.lists(st.one_of(
    st.tuples(st.just("stage"), st.lists(st.tuples(st.integers(1, 4), st.integers(1, 90),
                                                   st.floats(0, 3)), min_size=1, max_size=6)),
    st.tuples(st.just("apply"), st.integers(1, 4)),
    st.tuples(st.just("apply"), st.integers(1, 2)),
    st.tuples(st.just("append"), st.integers(1, 3)),
    st.tuples(st.just("retention"), st.just(0)),
    st.tuples(st.just("reserve"), st.integers(0, 2000)),
), min_size=6, max_size=40)


@settings(max_examples=200, deadline=None)
@given(ops, st.sampled_from([400, 1000, 100_000]), st.sampled_from([2000, 5000, 10**9]),
       st.booleans())
def test_staged_appends_equal_append_many(program, segment_bytes, segment_ms, sorted_ts):
    """A log fed through ``stage``/``append_staged`` (falling back to ``append_many`` when
    refused, as the partition does) ends exactly as one fed only through ``append_many``."""
    cfg = load("topic", {"segment.bytes": segment_bytes, "segment.ms": segment_ms,
                         "retention.bytes": 300})
    staged, plain = Log(cfg), Log(cfg)
    for log in (staged, plain):  # a segment with a roll timestamp (a fresh one has none)
        log.append(*batches(1, 10, 0.0, 10**9), now=0.0)
    now = 0.0
    msg = 0
    pending: list[tuple] = []  # staged batches not applied: (msg, ts, size, key, at)
    epoch = base = -1
    for op, arg in program:
        if op == "stage":
            if pending and (epoch != staged._stage_epoch
                            or base != staged.log_end_offset):
                pending = []  # the staging was discarded: start again
                staged.unstage()
            if not pending:
                epoch, base = -1, staged.log_end_offset
            rows = []
            for n, size, dt in arg:
                now += dt / 1000
                t = np.full(n, now) if sorted_ts else now + np.linspace(0.002, 0, n)
                rows.append((np.arange(msg, msg + n), t, np.full(n, size),
                             np.full(n, -1, dtype=np.int64), now))
                msg += n
            cat = [np.concatenate([r[c] for r in rows]) for c in range(4)]
            e, _b = staged.stage(*cat)
            if epoch < 0:
                epoch = e
            pending += rows
        elif op == "apply" and pending:
            group, pending = pending[:arg], pending[arg:]
            cat = [np.concatenate([r[c] for r in group]) for c in range(4)]
            counts = [len(r[0]) for r in group]
            bounds = np.concatenate(([0], np.cumsum(counts)))
            at = np.array([r[4] for r in group])
            nbytes = int(cat[2].sum())
            top = float(cat[1].max())
            if staged.append_staged(epoch, base, len(cat[0]), nbytes, top, float(at[-1])):
                base += len(cat[0])
            else:
                staged.append_many(*cat, bounds, at)
                pending = []  # as the partition does: the rest goes the ordinary way
            plain.append_many(*cat, bounds, at)
        elif op == "append":
            m = np.arange(10**6 + msg, 10**6 + msg + arg)
            msg += arg
            for log in (staged, plain):
                log.append(m, np.full(arg, now), np.full(arg, 10), now=now)
            pending = []
        elif op == "reserve":  # room made in advance: nothing else changes, staging included
            staged.reserve(arg)
            assert len(staged._off) >= staged._n + staged._staged + arg
        elif op == "retention":
            for log in (staged, plain):
                log.high_watermark = log.log_end_offset
                log.delete_old_segments(now)
        assert state(staged) == state(plain)
