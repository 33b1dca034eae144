"""Property tests of the partition log: dense offsets, retention as a prefix of whole segments,
compaction keeping the latest value per key."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka import compaction
from models.kafka.config import load
from models.kafka.log import Log

appends = st.lists(
    st.tuples(st.integers(1, 5), st.integers(1, 300), st.floats(0.0, 5.0),
              st.integers(0, 100), st.booleans()),
    min_size=1, max_size=60)


def check_segments(log: Log) -> None:
    cols = log.columns()
    bases = [s.base_offset for s in log.segments]
    assert bases == sorted(set(bases))
    assert bases[0] <= log.log_start_offset or len(log) == 0
    bounds = [*bases[1:], log.log_end_offset]
    for seg, hi in zip(log.segments, bounds, strict=True):
        inside = (cols["offset"] >= seg.base_offset) & (cols["offset"] < hi)
        assert seg.count == int(inside.sum())
        assert seg.nbytes == int(cols["size"][inside].sum())
    assert log.size_bytes == int(cols["size"].sum())
    assert log.log_start_offset <= log.high_watermark <= log.log_end_offset


@settings(max_examples=60, deadline=None)
@given(appends, st.integers(200, 2000), st.integers(-1, 3000), st.integers(1, 30))
def test_offsets_dense_and_retention_removes_a_prefix_of_whole_segments(
        ops, segment_bytes, retention_bytes, retention_s):
    log = Log(load("topic", {"segment.bytes": segment_bytes, "retention.bytes": retention_bytes,
                             "retention.ms": retention_s * 1000, "segment.ms": 7000}))
    now = 0.0
    for n, size, dt, hw_pct, check in ops:
        now += dt
        if n * size <= segment_bytes:
            leo = log.log_end_offset
            base = log.append(np.arange(leo, leo + n), np.full(n, now), np.full(n, size),
                              now=now)
            assert base == leo and log.log_end_offset == leo + n
        hw = log.high_watermark + (log.log_end_offset - log.high_watermark) * hw_pct // 100
        log.high_watermark = hw
        if check:
            bases_before = {s.base_offset for s in log.segments}
            start_before = log.log_start_offset
            for d in log.delete_old_segments(now):
                assert d.start_offset == start_before
                assert list(d.offsets) == list(range(d.start_offset, d.end_offset))
                assert d.end_offset in bases_before or d.end_offset == log.log_end_offset
                assert d.end_offset <= log.high_watermark
                start_before = d.end_offset
            assert log.log_start_offset == log.segments[0].base_offset
        cols = log.columns()
        # dense offsets from the log start to the log end, each record's msg id its offset
        assert list(cols["offset"]) == list(range(log.log_start_offset, log.log_end_offset))
        assert np.array_equal(cols["msg"], cols["offset"])
        check_segments(log)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans(), st.integers(1, 3)),
                min_size=1, max_size=50),
       st.integers(150, 600), st.integers(0, 100))
def test_compaction_keeps_the_latest_record_of_every_key(records, segment_bytes, hw_pct):
    log = Log(load("topic", {"cleanup.policy": "compact", "segment.bytes": segment_bytes,
                             "min.cleanable.dirty.ratio": 0.0,
                             "delete.retention.ms": 10**9}))
    for i, (key, tomb, size) in enumerate(records):
        log.append(np.array([i]), np.array([float(i)]), np.array([size * 50]),
                   np.array([key]), np.array([tomb]), now=float(i))
    log.high_watermark = log.log_end_offset * hw_pct // 100
    before = {k: v.copy() for k, v in log.columns().items()}
    c = compaction.cleanable(log, float(len(records)))
    assert c.first_uncleanable <= min(log.high_watermark, log.active_segment.base_offset)
    removed = compaction.clean(log, float(len(records)), c)
    after = log.columns()
    assert np.all(np.diff(after["offset"]) > 0)
    assert set(after["offset"]) | set(removed.offsets) == set(before["offset"])
    # the uncleanable tail is untouched
    tail = before["offset"] >= c.first_uncleanable
    assert set(before["offset"][tail]) <= set(after["offset"])
    # within the cleaned range: nothing removed is the latest record of its key, and every
    # record kept there is not superseded by a later record of the dirty range
    cleaned = before["offset"] < c.first_uncleanable
    last_of_key = {int(k): int(o) for k, o in zip(before["key"][cleaned],
                                                  before["offset"][cleaned], strict=True)}
    assert not set(removed.offsets) & set(last_of_key.values())
    dirty = (before["offset"] >= c.first_dirty) & cleaned
    latest_dirty = {int(k): int(o) for k, o in zip(before["key"][dirty], before["offset"][dirty],
                                                   strict=True)}
    for key, off in zip(after["key"], after["offset"], strict=True):
        if off < c.first_uncleanable and int(key) in latest_dirty:
            assert off >= latest_dirty[int(key)]
    assert log.size_bytes == int(after["size"].sum()) == sum(s.nbytes for s in log.segments)


def _segment_state(log: Log) -> list[tuple]:
    return [(s.base_offset, s.nbytes, s.count, s.max_timestamp, s.roll_timestamp,
             s.last_modified, s.created, s.jitter) for s in log.segments]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 400), st.floats(0.0, 0.01),
                          st.floats(0.0, 0.01)), min_size=1, max_size=40),
       st.integers(2000, 20000), st.integers(1, 60), st.integers(0, 3), st.integers(0, 3),
       st.integers(0, 1))
def test_append_many_is_appends_one_by_one(batches, segment_bytes, segment_ms, jitter_ms,
                                           before, cut):
    # the fast path's many-batch append gives the same offsets, rows and segments (rolls by
    # size and by time, jitter draws) as one append() per batch at each batch's time
    cfg = load("topic", {"segment.bytes": segment_bytes, "segment.ms": segment_ms,
                         "segment.jitter.ms": jitter_ms})
    counts = np.array([b[0] for b in batches])
    bounds = np.concatenate(([0], np.cumsum(counts)))
    n = int(bounds[-1])
    sizes = np.array([b[1] for b in batches]).repeat(counts)
    at = np.cumsum([b[3] for b in batches])
    ts = np.repeat(at - np.array([b[2] for b in batches]), counts)
    msg = np.arange(n)
    one, many = (Log(cfg, 0.0, rng=np.random.default_rng(3)) for _ in range(2))
    for log in (one, many):
        for _ in range(before):
            log.append(np.array([-1]), np.array([0.0]), np.array([100]), now=0.0)
    expected = [one.append(msg[a:b], ts[a:b], sizes[a:b], now=float(t))
                for a, b, t in zip(bounds[:-1], bounds[1:], at, strict=True)]
    k = len(batches) // 2 if cut else len(batches)  # in two calls, as a partition settles
    got = list(many.append_many(msg[:bounds[k]], ts[:bounds[k]], sizes[:bounds[k]], None,
                                bounds[:k + 1], at[:k]))
    if k < len(batches):
        got += list(many.append_many(msg[bounds[k]:], ts[bounds[k]:], sizes[bounds[k]:], None,
                                     bounds[k:], at[k:]))
    assert got == expected
    assert _segment_state(many) == _segment_state(one)
    for name, col in one.columns().items():
        assert np.array_equal(many.columns()[name], col)
    assert (many.size_bytes, many.log_end_offset) == (one.size_bytes, one.log_end_offset)
    check_segments(many)
