"""The partition log: offsets, rolling, retention, compaction and reads, with exact numbers."""

import numpy as np
import pytest

from models.kafka import compaction
from models.kafka.config import load
from models.kafka.errors import (
    InvalidRecordError,
    OffsetOutOfRangeError,
    RecordBatchTooLargeError,
    RecordTooLargeError,
)
from models.kafka.log import Log


def make_log(**overrides) -> Log:
    return Log(load("topic", overrides), name="t-0")


def put(log: Log, ts: float, size: int = 100, n: int = 1, key=None, null=None, now=None):
    """Append one batch of ``n`` records of ``size`` bytes at timestamp ``ts``; HW follows."""
    msg = np.arange(log.log_end_offset, log.log_end_offset + n) + 1000
    keys = None if key is None else np.asarray(key if np.ndim(key) else [key] * n)
    nulls = None if null is None else np.asarray(null if np.ndim(null) else [null] * n)
    base = log.append(msg, np.full(n, float(ts)), np.full(n, size), keys, nulls,
                      now=ts if now is None else now)
    log.high_watermark = log.log_end_offset
    return base


def bases(log: Log) -> list[int]:
    return [s.base_offset for s in log.segments]


# ---- offsets and rolling --------------------------------------------------------------------

def test_offsets_are_dense_and_batches_get_consecutive_offsets():
    log = make_log()
    assert put(log, 0, n=3) == 0
    assert put(log, 1, n=2) == 3
    assert log.log_end_offset == 5
    assert list(log.columns()["offset"]) == [0, 1, 2, 3, 4]
    assert list(log.columns()["msg"]) == [1000, 1001, 1002, 1003, 1004]


def test_segment_rolls_by_bytes_on_append():
    # segment.bytes=1000, 300-byte records: 3 fit (900), the 4th would make 1200 > 1000.
    log = make_log(**{"segment.bytes": 1000})
    for t in range(10):
        put(log, t, size=300)
    assert bases(log) == [0, 3, 6, 9]
    assert [s.nbytes for s in log.segments] == [900, 900, 900, 300]
    assert log.size_bytes == 3000


def test_segment_fills_exactly_to_segment_bytes():
    log = make_log(**{"segment.bytes": 1000})
    for t in range(5):
        put(log, t, size=250)
    assert bases(log) == [0, 4]


def test_batch_larger_than_segment_or_message_limit_is_rejected():
    log = make_log(**{"segment.bytes": 1000})
    with pytest.raises(RecordBatchTooLargeError, match=r"segment\.bytes"):
        put(log, 0, size=600, n=2)
    log = make_log(**{"max.message.bytes": 500})
    with pytest.raises(RecordTooLargeError, match=r"max\.message\.bytes"):
        put(log, 0, size=300, n=2)
    assert log.log_end_offset == 0


def test_segment_rolls_by_time_only_when_a_record_arrives():
    log = make_log(**{"segment.ms": 1000})  # 1 s
    put(log, 0.0)
    put(log, 0.5)
    put(log, 1.0)  # waited exactly segment.ms: not more, no roll
    assert bases(log) == [0]
    put(log, 1.001)  # 1.001 s after the first batch's timestamp: roll before appending
    assert bases(log) == [0, 3]
    # Time passing alone never rolls: a record 100 s later rolls once, on its append.
    assert bases(log) == [0, 3]
    put(log, 101.0)
    assert bases(log) == [0, 3, 4]


def test_time_roll_uses_the_first_batch_timestamp_of_the_segment():
    log = make_log(**{"segment.ms": 10_000})
    put(log, 5.0)
    put(log, 14.0)
    put(log, 15.5)  # 10.5 s after the segment's first batch (5.0): roll
    assert bases(log) == [0, 2]


# ---- reads ----------------------------------------------------------------------------------

def test_read_stops_at_the_high_watermark_and_limits():
    log = make_log()
    put(log, 0, size=100, n=10)
    log.high_watermark = 6
    batch = log.read(2)
    assert list(batch.offset) == [2, 3, 4, 5]
    assert batch.next_offset == 6 and batch.high_watermark == 6 and batch.nbytes == 400
    assert list(log.read(2, max_records=2).offset) == [2, 3]
    assert list(log.read(2, max_bytes=250).offset) == [2, 3]
    # at least one record even when it is bigger than max_bytes (Kafka's fetch rule)
    assert list(log.read(2, max_bytes=10).offset) == [2]
    empty = log.read(6)
    assert len(empty) == 0 and empty.next_offset == 6
    assert list(log.read(0, upto=10).offset) == list(range(10))


def test_read_outside_the_log_is_offset_out_of_range():
    log = make_log()
    put(log, 0, n=3)
    with pytest.raises(OffsetOutOfRangeError) as err:
        log.read(4)
    assert err.value.log_end_offset == 3
    assert len(log.read(3)) == 0  # the LEO itself is a valid (empty) position


def test_read_views_stay_valid_while_the_log_grows_and_shrinks():
    log = make_log(**{"segment.bytes": 1000, "retention.bytes": 2000})
    put(log, 0, size=10, n=50)
    view = log.read(0, max_records=50)
    before = view.msg.copy()
    for t in range(1, 400):
        put(log, t, size=10, n=7)
        log.delete_old_segments(float(t))
    assert log.log_start_offset > 0
    assert np.array_equal(view.msg, before)
    assert log.size_bytes <= 2000 + 1000
    # amortised storage: 2 843 records went through, capacity stays a small multiple of the
    # ~300 records retained
    assert len(log._off) <= 4 * 300


# ---- retention ------------------------------------------------------------------------------

def retention_log() -> Log:
    """Segments [0-2] newest ts 2, [3-5] ts 5, [6-8] ts 8, active [9] ts 9 (300 B records)."""
    log = make_log(**{"segment.bytes": 1000, "retention.ms": 10_000})
    for t in range(10):
        put(log, t, size=300)
    assert bases(log) == [0, 3, 6, 9]
    return log


def test_time_retention_deletes_exactly_the_expired_segments():
    log = retention_log()
    # now=15.5: segments whose newest record is older than 10 s are those with ts 2 and 5.
    deleted = log.delete_old_segments(15.5)
    assert len(deleted) == 1
    d = deleted[0]
    assert (d.reason, d.start_offset, d.end_offset, d.nbytes) == ("retention", 0, 6, 1800)
    assert list(d.offsets) == [0, 1, 2, 3, 4, 5]
    assert list(d.msg) == [1000, 1001, 1002, 1003, 1004, 1005]
    assert log.log_start_offset == 6 and bases(log) == [6, 9]
    assert log.size_bytes == 1200
    with pytest.raises(OffsetOutOfRangeError):
        log.read(5)
    assert list(log.read(6).offset) == [6, 7, 8, 9]


def test_one_new_record_keeps_a_whole_segment_alive():
    log = make_log(**{"segment.bytes": 1000, "retention.ms": 10_000})
    put(log, 0, size=300)
    put(log, 1, size=300)
    put(log, 9, size=300)  # newest record of segment 0 at ts 9
    put(log, 20, size=300)
    assert bases(log) == [0, 3]
    assert log.delete_old_segments(18) == []  # 18 - 9 = 9 s: not expired
    assert log.delete_old_segments(19.5)[0].end_offset == 3


def test_retention_never_deletes_at_or_above_the_high_watermark():
    log = retention_log()
    log.high_watermark = 5  # segment [3-5] ends at 6 > HW: must stay
    deleted = log.delete_old_segments(100.0)
    assert deleted[0].end_offset == 3
    assert log.log_start_offset == 3 and bases(log) == [3, 6, 9]


def test_all_segments_expired_rolls_a_new_empty_segment_first():
    log = retention_log()
    deleted = log.delete_old_segments(1000.0)
    assert len(deleted) == 1 and deleted[0].end_offset == 10 and len(deleted[0]) == 10
    assert bases(log) == [10]
    assert log.segments[0].nbytes == 0
    assert log.log_start_offset == log.log_end_offset == 10
    assert len(log.read(10)) == 0
    # the next record goes into the new segment at offset 10
    assert put(log, 1001) == 10
    # an empty last segment is never deleted
    log2 = retention_log()
    log2.delete_old_segments(1000.0)
    assert log2.delete_old_segments(1e6) == [] and bases(log2) == [10]


def test_size_retention_walks_diff_minus_segment_size():
    # 4 segments: 900, 900, 900, 300 = 3000 bytes; retention.bytes=1000 -> diff=2000:
    # delete seg0 (2000-900=1100>=0), seg1 (1100-900=200>=0), not seg2 (200-900<0).
    log = make_log(**{"segment.bytes": 1000, "retention.bytes": 1000, "retention.ms": -1})
    for t in range(10):
        put(log, t, size=300)
    deleted = log.delete_old_segments(0.0)
    assert [(d.start_offset, d.end_offset) for d in deleted] == [(0, 6)]
    assert log.size_bytes == 1200  # above retention.bytes by less than one segment
    assert bases(log) == [6, 9]
    assert log.delete_old_segments(0.0) == []  # 1200-1000=200 < 900: stays


def test_size_and_time_retention_in_one_pass_size_first():
    log = retention_log()
    log.retention_bytes = 2500  # diff 500 < 900: size deletes nothing
    deleted = log.delete_old_segments(15.5)
    assert [d.end_offset for d in deleted] == [6]
    log = make_log(**{"segment.bytes": 1000, "retention.bytes": 2000, "retention.ms": 10_000})
    for t in range(10):
        put(log, t, size=300)
    deleted = log.delete_old_segments(15.5)  # size: [0-2]; then time: [3-5]
    assert [(d.start_offset, d.end_offset) for d in deleted] == [(0, 3), (3, 6)]


def test_compact_only_topic_has_no_retention():
    log = make_log(**{"cleanup.policy": "compact", "segment.bytes": 1000, "retention.ms": 1})
    for t in range(10):
        put(log, t, size=300, key=t % 3)
    assert log.delete_old_segments(1e9) == []


# ---- compaction -----------------------------------------------------------------------------

def compacted_log(**extra) -> Log:
    """Keys 0,1,0,2,1,0,3,0,1 (tombstone for key 0 at offset 7), 100 B records, segments of 3."""
    cfg = {"cleanup.policy": "compact", "segment.bytes": 300, "min.cleanable.dirty.ratio": 0.01,
           "delete.retention.ms": 1000}
    cfg.update(extra)
    log = make_log(**cfg)
    for i, k in enumerate([0, 1, 0, 2, 1, 0, 3, 0, 1]):
        put(log, float(i), key=k, null=(i == 7))
    put(log, 9.0, key=4)  # offset 9 rolls into a new active segment
    assert bases(log) == [0, 3, 6, 9]
    return log


def test_compaction_keeps_latest_value_per_key_with_offsets_unchanged():
    log = compacted_log()
    c = compaction.needs_cleaning(log, 10.0)
    assert (c.first_dirty, c.first_uncleanable, c.cleanable_bytes) == (0, 9, 900)
    removed = compaction.clean(log, 10.0, c)
    assert list(removed.offsets) == [0, 1, 2, 4, 5]  # superseded by later offsets of their key
    assert removed.reason == "compaction"
    cols = log.columns()
    assert list(cols["offset"]) == [3, 6, 7, 8, 9]
    assert list(cols["key"]) == [2, 3, 0, 1, 4]
    # one record per key in the cleaned range, and the tombstone (key 0) is still there
    assert list(cols["null"]) == [False, False, True, False, False]
    assert log.log_start_offset == 0
    # a read at a compacted-away offset starts at the next existing record
    assert list(log.read(0).offset) == [3, 6, 7, 8, 9]
    assert list(log.read(4, max_records=1).offset) == [6]
    assert log.size_bytes == 500 == sum(s.nbytes for s in log.segments)
    # cleaned segments regrouped by their sizes before the pass (300 each, segment.bytes 300)
    assert bases(log) == [0, 3, 6, 9]


def test_active_segment_is_never_cleaned():
    log = make_log(**{"cleanup.policy": "compact", "min.cleanable.dirty.ratio": 0.01})
    for i in range(10):
        put(log, float(i), key=0)
    assert compaction.needs_cleaning(log, 100.0) is None
    assert len(log) == 10


def test_tombstones_go_after_delete_retention_ms_from_the_pass_that_saw_them():
    log = compacted_log()
    compaction.clean(log, 10.0)  # first pass stamps the tombstone's horizon at 10 + 1 s
    put(log, 10.5, key=5)  # new dirty data so that later passes have work
    put(log, 10.6, key=5)
    log.roll(10.7)
    removed = compaction.clean(log, 10.9)
    assert 7 in log.columns()["offset"] and 7 not in removed.offsets  # before the horizon
    put(log, 11.5, key=6)
    log.roll(11.6)
    removed = compaction.clean(log, 11.5)  # at the horizon (10 + 1 s)
    assert 7 in removed.offsets
    assert 7 not in log.columns()["offset"]
    assert list(log.read(7, max_records=1).offset) == [8]


def test_dirty_ratio_threshold_is_strict():
    log = compacted_log(**{"min.cleanable.dirty.ratio": 0.5})
    compaction.clean(log, 10.0)
    # clean: 400 B below offset 9; dirty: offset 9 (100 B) + 3 new records = 400 B
    for i in range(3):
        put(log, 11.0 + i, key=7)
    log.roll(20.0)
    assert compaction.cleanable(log, 20.0).clean_bytes == 400
    c = compaction.cleanable(log, 20.0)
    assert c.ratio == pytest.approx(0.5)
    assert compaction.needs_cleaning(log, 20.0) is None
    put(log, 21.0, key=8)
    log.roll(22.0)
    assert compaction.needs_cleaning(log, 22.0) is not None


def test_min_compaction_lag_keeps_young_segments_dirty():
    log = compacted_log(**{"min.compaction.lag.ms": 5000})
    c = compaction.cleanable(log, 10.0)  # segment [6-8] (newest ts 8) younger than 5 s
    assert c.first_uncleanable == 6
    compaction.clean(log, 10.0, c)
    assert list(log.columns()["offset"]) == [3, 4, 5, 6, 7, 8, 9]


def test_keyless_record_rejected_on_compacted_topic():
    log = make_log(**{"cleanup.policy": "compact"})
    with pytest.raises(InvalidRecordError, match="Compacted topic cannot accept message without"
                                                 " key"):
        put(log, 0.0)
    with pytest.raises(InvalidRecordError):
        put(log, 0.0, n=2, key=[1, -1])
    assert log.log_end_offset == 0


def test_compact_and_delete_both_apply():
    log = compacted_log(**{"cleanup.policy": "compact,delete", "retention.ms": 5000})
    compaction.clean(log, 10.0)
    deleted = log.delete_old_segments(10.0)  # segments with newest ts 2 and 4 (< 10-5)
    assert deleted[0].end_offset == 6
    assert log.log_start_offset == 6
