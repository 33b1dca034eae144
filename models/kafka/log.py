"""One partition's log: segments of columnar records with dense offsets, rolling and retention.

Storage. Records live in numpy columns (offset, message id, timestamp, size, key id, null-value
flag) that grow by doubling and are appended a batch at a time — never one Python object per
record. Segments are small bookkeeping objects (base offset, bytes, record count, timestamps);
segment ``i`` holds the records with offsets in ``[base_i, base_{i+1})``. Storage rows that
retention or compaction removed are dropped by copying into fresh arrays, so arrays handed out by
``read`` (views) stay valid.

Kafka behaviour reproduced (``shared/reference/kafka.md`` §1):

- Offsets are dense and only increase; the log end offset (LEO) is the next offset. The high
  watermark (HW) is set by the owning partition (replication decides it); reads stop below it.
- ``LogSegment.shouldRoll``, checked on append only: roll when the active segment's size plus
  the incoming batch exceeds ``segment.bytes``, or when the segment is non-empty and the batch's
  max timestamp minus the segment's first batch's max timestamp exceeds ``segment.ms`` minus
  ``segment.jitter.ms`` (``now - created`` when no timestamp is known). A batch larger than
  ``segment.bytes`` is rejected (``RecordBatchTooLargeException``), one larger than
  ``max.message.bytes`` too (``RecordTooLargeException``); on a compacted topic a record without
  key is rejected (``InvalidRecordException``).
- ``UnifiedLog.deleteOldSegments``: retention removes whole segments from the oldest, first by
  ``retention.bytes`` (walk while ``diff - segment.size >= 0``, ``diff = size - retention.bytes``)
  then by ``retention.ms`` (``now - segment.largestTimestamp > retention.ms``); a segment goes
  only if the HW is at or above the next segment's base offset (LEO for the last); an empty last
  segment is never deleted; if every segment goes, a new empty active segment is rolled first;
  the log start offset becomes the next remaining segment's base offset.

Staging (the producer's fast path, ``models.kafka.inbound``): records known in advance can be
written into the rows past the log end (``stage``) and appended later by moving counters
(``append_staged``), with the offsets, segment statistics and roll decisions ``append_many``
would give them. Any other write discards the staged rows.

Not modelled: indexes, the file deletion delay (``file.delete.delay.ms``), log recovery, the
``DeleteRecords`` API, tiered storage, transactions and producer-state snapshots, per-record and
per-batch header bytes (a record's size is what the producer said it was).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.kafka.errors import (
    InvalidRecordError,
    OffsetOutOfRangeError,
    RecordBatchTooLargeError,
    RecordTooLargeError,
)
from models.kafka.records import Deletion, RecordBatch

_MIN_CAPACITY = 256
_COLUMNS = (("_off", np.int64), ("_msg", np.int64), ("_ts", np.float64), ("_size", np.int32),
            ("_key", np.int64), ("_null", np.bool_))


@dataclass(slots=True)
class Segment:
    """Bookkeeping of one segment (its records are rows of the log's columns)."""

    base_offset: int
    created: float
    nbytes: int = 0
    count: int = 0
    max_timestamp: float = float("-inf")
    roll_timestamp: float | None = None  # max timestamp of the segment's first batch
    last_modified: float = 0.0
    jitter: float = 0.0

    @property
    def largest_timestamp(self) -> float:
        """Kafka's ``LogSegment.largestTimestamp``: newest record, else last modification."""
        return self.max_timestamp if self.max_timestamp > float("-inf") else self.last_modified


class Log:
    """A partition's log. ``config`` is a validated topic config (``config.load("topic", …)``).

    Times are simulated seconds; ``now`` is passed in by the caller (the cluster), so a ``Log``
    can be exercised without a simulation.
    """

    def __init__(self, config: Mapping[str, Any], now: float = 0.0, name: str = "log",
                 rng: np.random.Generator | None = None) -> None:
        self.name = name
        self._rng = rng
        self.configure(config)
        cap = _MIN_CAPACITY
        for attr, dtype in _COLUMNS:
            setattr(self, attr, np.empty(cap, dtype=dtype))
        self._cum = np.zeros(cap + 1, dtype=np.int64)  # _cum[i] = bytes of rows before row i
        self._horizon: np.ndarray | None = None  # tombstone delete horizons (compacted topics)
        self._arange = np.arange(4096, dtype=np.int64)
        self._empty: tuple[np.ndarray, ...] | None = None  # read()'s empty columns
        self._head = 0  # first live row
        self._n = 0  # end of live rows
        self._staged = 0  # rows past ``_n`` written ahead by ``stage`` (see "Staging")
        self._stage_epoch = 0  # bumped whenever staged rows are discarded
        self.segments: list[Segment] = [self._new_segment(0, now)]
        self.log_start_offset = 0
        self.log_end_offset = 0
        self.high_watermark = 0
        self.cleaner_checkpoint = 0  # first dirty offset (compaction)
        self.size_bytes = 0

    # ---- configuration -------------------------------------------------------------------
    def configure(self, config: Mapping[str, Any]) -> None:
        """(Re)read the topic settings this log obeys."""
        self.config = config
        policy = config["cleanup.policy"]
        self.compact = "compact" in policy
        self.delete = "delete" in policy
        self.segment_bytes = int(config["segment.bytes"])
        self.segment_s = config["segment.ms"] / 1000.0
        self.jitter_s = config["segment.jitter.ms"] / 1000.0
        self.retention_s = config["retention.ms"] / 1000.0 if config["retention.ms"] >= 0 else -1
        self.retention_bytes = int(config["retention.bytes"])
        self.max_message_bytes = int(config["max.message.bytes"])

    def _new_segment(self, base: int, now: float) -> Segment:
        jitter = 0.0
        if self.jitter_s > 0 and self._rng is not None:
            jitter = float(self._rng.uniform(0.0, min(self.jitter_s, self.segment_s)))
        return Segment(base, now, last_modified=now, jitter=jitter)

    # ---- queries -------------------------------------------------------------------------
    @property
    def active_segment(self) -> Segment:
        return self.segments[-1]

    def __len__(self) -> int:
        """Records currently stored (after retention and compaction)."""
        return self._n - self._head

    def _row(self, offset: int) -> int:
        """Storage row of the first record with offset >= ``offset``."""
        head, n = self._head, self._n
        if n == head:
            return head
        off = self._off
        first = int(off[head])
        if int(off[n - 1]) - first == n - 1 - head:  # dense (nothing compacted away)
            k = offset - first
            return head + (0 if k < 0 else n - head if k > n - head else k)
        return head + int(off[head:n].searchsorted(offset))

    def bytes_between(self, start: int, end: int) -> int:
        """Bytes of the stored records with offsets in ``[start, end)``."""
        return int(self._cum[self._row(end)] - self._cum[self._row(start)])

    def columns(self) -> dict[str, np.ndarray]:
        """All stored records as column views (for tests, plots and checkers)."""
        s = slice(self._head, self._n)
        return {"offset": self._off[s], "msg": self._msg[s], "timestamp": self._ts[s],
                "size": self._size[s], "key": self._key[s], "null": self._null[s]}

    # ---- append --------------------------------------------------------------------------
    def append(self, msg: np.ndarray, timestamp: np.ndarray, size: np.ndarray,
               key: np.ndarray | None = None, null: np.ndarray | None = None,
               now: float = 0.0) -> int:
        """Append one record batch (equal-length arrays); return the offset of its first record.

        ``key`` holds key ids (-1: no key; default all -1), ``null`` marks null values
        (tombstones when keyed). The batch is validated as a whole before anything is written.
        """
        n = len(msg)
        if n == 0:
            return self.log_end_offset
        batch_bytes = int(size.sum())
        if self.compact and (key is None or bool((key < 0).any())):
            raise InvalidRecordError(
                f"Compacted topic cannot accept message without key in topic partition "
                f"{self.name}.")
        if batch_bytes > self.max_message_bytes:
            raise RecordTooLargeError(
                f"The batch of {batch_bytes} bytes is larger than max.message.bytes "
                f"({self.max_message_bytes}) of {self.name}.")
        if batch_bytes > self.segment_bytes:
            raise RecordBatchTooLargeError(
                f"The batch of {batch_bytes} bytes is larger than segment.bytes "
                f"({self.segment_bytes}) of {self.name}.")
        self.unstage()  # this batch takes the rows staged records were written to
        max_ts = float(timestamp.max())
        seg = self.segments[-1]
        if seg.nbytes > self.segment_bytes - batch_bytes or (
                seg.nbytes > 0
                and self._time_waited(seg, max_ts, now) > self.segment_s - seg.jitter):
            seg = self._roll(now)
        if self._n + n > len(self._off):
            self._reallocate(n)
        r = self._n
        base = self.log_end_offset
        end = r + n
        self._write_rows(r, base, msg, timestamp, size, key, null)
        self._sum_bytes(r, size)
        self._n = end
        seg.nbytes += batch_bytes
        seg.count += n
        if max_ts > seg.max_timestamp:
            seg.max_timestamp = max_ts
        if seg.roll_timestamp is None:
            seg.roll_timestamp = max_ts
        seg.last_modified = now
        self.size_bytes += batch_bytes
        self.log_end_offset = base + n
        return base

    def _write_rows(self, r: int, base: int, msg: np.ndarray, timestamp: np.ndarray,
                    size: np.ndarray, key: np.ndarray | None, null: np.ndarray | None) -> None:
        """Write records into the columns from row ``r``, offsets from ``base`` (no key: -1; no
        null flags: values present; tombstone horizons unset)."""
        n = len(msg)
        end = r + n
        self._off[r:end] = self._arange[:n] + base if n <= len(self._arange) \
            else np.arange(base, base + n)
        self._msg[r:end] = msg
        self._ts[r:end] = timestamp
        self._size[r:end] = size
        self._key[r:end] = -1 if key is None else key
        self._null[r:end] = False if null is None else null
        if self._horizon is not None:
            self._horizon[r:end] = np.inf

    def _sum_bytes(self, r: int, size: np.ndarray) -> None:
        """Running byte totals for ``size``'s rows written from row ``r``."""
        cum = self._cum[r + 1:r + 1 + len(size)]
        np.cumsum(size, out=cum)
        cum += self._cum[r]

    def append_many(self, msg: np.ndarray, timestamp: np.ndarray, size: np.ndarray,
                    key: np.ndarray | None, bounds: np.ndarray, at: np.ndarray,
                    csize: np.ndarray | None = None, top: float | None = None) -> np.ndarray:
        """Append ``k`` record batches in one call, batch ``j`` being rows
        ``bounds[j]:bounds[j+1]`` appended at time ``at[j]`` (non-decreasing); return their base
        offsets.

        The result is what ``k`` calls of ``append`` would give — same offsets, same segment
        rolls (by size and by time, each checked before its batch, a roll at the batch's append
        time), same segment statistics — but the roll checks are vectorised per segment, so the
        cost is per segment rolled, not per batch. The batches must be valid (``append``'s
        checks: within ``max.message.bytes`` and ``segment.bytes``, keys on compacted topics);
        callers check that beforehand. Values are never null on this path (bulk records).
        ``csize`` (running byte totals of ``size`` with one more leading entry, from any start:
        only differences count) and ``top`` (the largest timestamp) may be passed when the
        caller has them already.
        """
        k = len(at)
        if k == 0:
            return np.empty(0, dtype=np.int64)
        self.unstage()
        b0 = int(bounds[0])
        if b0:
            bounds = bounds - b0
        n = int(bounds[-1])
        if self._n + n > len(self._off):
            self._reallocate(n)
        r = self._n
        end = r + n
        cum = self._cum
        if csize is None:
            self._sum_bytes(r, size)
        else:
            np.add(csize[1:], int(cum[r]) - int(csize[0]), out=cum[r + 1:end + 1])
        total = int(cum[end] - cum[r])
        base = self.log_end_offset
        seg = self.segments[-1]
        rts = seg.roll_timestamp
        if top is None:
            top = float(timestamp.max())
        if (seg.nbytes + total <= self.segment_bytes and rts is not None and rts >= 0
                and top - rts <= self.segment_s - seg.jitter):
            # no batch can roll the segment (the common case): one update
            seg.nbytes += total
            seg.count += n
            if top > seg.max_timestamp:
                seg.max_timestamp = top
            seg.last_modified = float(at[-1])
        else:
            self._append_rolling(bounds, cum[r + bounds] , timestamp, at, base)
        self._write_rows(r, base, msg, timestamp, size, key, None)
        self._n = end
        self.size_bytes += total
        self.log_end_offset = base + n
        return base + bounds[:-1].astype(np.int64)

    def _append_rolling(self, bounds: np.ndarray, cum: np.ndarray, timestamp: np.ndarray,
                        at: np.ndarray, base: int) -> None:
        """Segment bookkeeping of ``append_many`` when some batch may roll the segment: find
        the first batch that rolls it (size or time, vectorised), account the batches before
        it to the segment, roll at that batch's time, repeat."""
        k = len(at)
        nbytes = np.diff(cum)
        max_ts = np.maximum.reduceat(timestamp, bounds[:-1])
        limit = self.segment_bytes
        i = 0
        while i < k:
            seg = self.segments[-1]
            nb = nbytes[i:]
            before = seg.nbytes + np.cumsum(nb) - nb  # segment bytes before each batch
            rts = seg.roll_timestamp
            waited = np.empty(k - i)
            waited[0] = (max_ts[i] - rts if rts is not None and rts >= 0
                         else at[i] - seg.created)
            later = rts if rts is not None else float(max_ts[i])  # set by batch i if unset
            waited[1:] = max_ts[i + 1:] - later if later >= 0 else at[i + 1:] - seg.created
            roll = (before > limit - nb) | ((before > 0)
                                            & (waited > self.segment_s - seg.jitter))
            hits = np.flatnonzero(roll)
            j = k if not len(hits) else i + int(hits[0])
            if j == i:
                if seg.count == 0 and seg.nbytes == 0:
                    j = i + 1  # a fresh segment takes the batch (append would too)
                else:
                    self.log_end_offset = base + int(bounds[i])  # the roll's base offset
                    self._roll(float(at[i]))
                    continue
            seg.nbytes += int(nbytes[i:j].sum())
            seg.count += int(bounds[j] - bounds[i])
            top = float(max_ts[i:j].max())
            if top > seg.max_timestamp:
                seg.max_timestamp = top
            if seg.roll_timestamp is None:
                seg.roll_timestamp = float(max_ts[i])
            seg.last_modified = float(at[j - 1])
            i = j
        self.log_end_offset = base

    @staticmethod
    def _time_waited(seg: Segment, batch_ts: float, now: float) -> float:
        if seg.roll_timestamp is not None and seg.roll_timestamp >= 0:
            return batch_ts - seg.roll_timestamp
        return now - seg.created

    def _roll(self, now: float) -> Segment:
        """Start a new active segment at the LEO (an empty active segment is just recreated)."""
        active = self.segments[-1]
        if active.count == 0 and active.nbytes == 0 and active.base_offset == self.log_end_offset:
            self.segments[-1] = self._new_segment(self.log_end_offset, now)
        else:
            self.segments.append(self._new_segment(self.log_end_offset, now))
        return self.segments[-1]

    def roll(self, now: float) -> Segment:
        """Force a roll (Kafka does this before deleting every segment)."""
        return self._roll(now)

    def _reallocate(self, extra: int) -> None:
        """Fresh arrays holding the live rows first; grow by doubling when more than half full."""
        live = self._n - self._head
        cap = len(self._off)
        if live + extra > cap // 2:
            cap = max(_MIN_CAPACITY, 2 * (live + extra))
        self._rebuild(slice(self._head, self._n), live, cap)

    def _rebuild(self, rows: slice | np.ndarray, k: int, cap: int, staged: int = 0) -> None:
        """Replace the columns by new arrays holding the ``k`` ``rows`` (in order) from row 0;
        the last ``staged`` of them are staged rows (kept staged); without, staging is
        discarded."""
        if not staged:
            self.unstage()
        for attr, dtype in _COLUMNS:
            old = getattr(self, attr)
            new = np.empty(cap, dtype=dtype)
            new[:k] = old[rows]
            setattr(self, attr, new)
        if self._horizon is not None:
            new = np.full(cap, np.inf)
            new[:k] = self._horizon[rows]
            self._horizon = new
        cum = np.zeros(cap + 1, dtype=np.int64)
        np.cumsum(self._size[:k], out=cum[1:k + 1])
        self._cum = cum
        self._head = 0
        self._n = k - staged

    # ---- staging (the producer's fast path) -----------------------------------------------
    def row_columns(self) -> tuple[int, tuple, np.ndarray]:
        """The record columns as they are now, to read rows from in bulk: ``(row of the log
        start offset, (offset, msg, timestamp, size, key, null) columns, bytes before each
        row)``; staged rows past the end are there too. An append or a retention pass may
        replace the arrays (the old ones keep their rows); rows below the log end offset are
        never rewritten in them."""
        return self._head, (self._off, self._msg, self._ts, self._size, self._key,
                            self._null), self._cum

    def stage(self, msg: np.ndarray, timestamp: np.ndarray, size: np.ndarray,
              key: np.ndarray) -> tuple[int, int]:
        """Write records that will be appended later (after any staged already) into the rows
        past the log end, offsets and byte totals included, so that appending them
        (``append_staged``) only moves counters. Nothing is visible until then. Returns the
        staging epoch and the offset the first of them will get. Any other write (``append``,
        ``append_many``, truncation, compaction) or ``unstage`` discards every staged row."""
        n = len(msg)
        self.reserve(n)
        staged = self._staged
        r = self._n + staged
        base = self.log_end_offset + staged
        self._write_rows(r, base, msg, timestamp, size, key, None)
        self._sum_bytes(r, size)
        self._staged = staged + n
        return self._stage_epoch, base

    def append_staged(self, epoch: int, base: int, n: int, nbytes: int, top: float,
                      at: float) -> bool:
        """Append the next ``n`` staged records (``nbytes`` bytes, largest timestamp ``top``)
        as batches whose last one is appended at ``at`` — what ``append_many`` would do with
        them when no batch rolls the segment (its fast case, the same test). False, with
        nothing changed, when that is not so, or when the staging of ``epoch`` starting at
        offset ``base`` is gone: the caller then appends them with ``append_many``."""
        if epoch != self._stage_epoch or base != self.log_end_offset or n > self._staged:
            return False
        seg = self.segments[-1]
        rts = seg.roll_timestamp
        if (seg.nbytes + nbytes > self.segment_bytes or rts is None or rts < 0
                or top - rts > self.segment_s - seg.jitter):
            return False
        seg.nbytes += nbytes
        seg.count += n
        if top > seg.max_timestamp:
            seg.max_timestamp = top
        seg.last_modified = at
        self._n += n
        self._staged -= n
        self.size_bytes += nbytes
        self.log_end_offset = base + n
        return True

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` more records past the staged ones (kept), growing as
        ``_reallocate`` does: a producer that knows what is coming asks for it all at once
        rather than a batch at a time."""
        staged = self._staged
        end = self._n + staged
        cap = len(self._off)
        if end + rows <= cap:
            return
        live = end - self._head
        if live + rows > cap // 2:
            cap = max(_MIN_CAPACITY, 2 * (live + rows))
        self._rebuild(slice(self._head, end), live, cap, staged)

    def unstage(self) -> None:
        """Discard the staged rows (they stay unused past the log end)."""
        self._staged = 0
        self._stage_epoch += 1

    # ---- read ----------------------------------------------------------------------------
    def read(self, offset: int, max_bytes: int | None = None, max_records: int | None = None,
             upto: int | None = None) -> RecordBatch:
        """Records from ``offset`` (or the next existing one) below ``upto`` (default: the HW).

        Stops after ``max_records`` records or before ``max_bytes`` bytes would be exceeded,
        but returns at least one record when any is available (Kafka's fetch rule). Raises
        ``OffsetOutOfRangeError`` if ``offset`` is below the log start offset or above the LEO.
        """
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRangeError(
                f"Fetch offset {offset} is out of range for partition {self.name}, which has "
                f"offsets [{self.log_start_offset}, {self.log_end_offset}).",
                partition=self.name, offset=offset, log_start_offset=self.log_start_offset,
                log_end_offset=self.log_end_offset)
        limit = self.high_watermark if upto is None else min(upto, self.log_end_offset)
        if limit <= offset:  # nothing to return (a consumer that has read everything)
            empty = self._empty
            if empty is None:
                empty = self._empty = tuple(
                    np.empty(0, a.dtype) for a in (self._off, self._msg, self._ts, self._size,
                                                   self._key, self._null))
                for a in empty:
                    a.flags.writeable = False
            return RecordBatch(*empty, offset, self.high_watermark, self.log_start_offset, 0)
        i = self._row(offset)
        j = self._row(limit)
        if max_records is not None and j > i + max_records:
            j = i + max(int(max_records), 1)
        cum = self._cum
        if max_bytes is not None and j > i and cum[j] - cum[i] > max_bytes:
            k = int(np.searchsorted(cum[i + 1:j + 1], cum[i] + max_bytes, side="right"))
            j = i + max(k, 1)
        s = slice(i, j)
        return RecordBatch(
            self._off[s], self._msg[s], self._ts[s], self._size[s], self._key[s],
            self._null[s], int(self._off[j - 1]) + 1 if j > i else offset,
            self.high_watermark, self.log_start_offset, int(cum[j] - cum[i]))

    # ---- retention -----------------------------------------------------------------------
    def delete_old_segments(self, now: float) -> list[Deletion]:
        """Kafka's retention pass: ``retention.bytes`` first, then ``retention.ms``.

        Only for ``cleanup.policy`` containing ``delete``. Returns what was removed.
        """
        if not self.delete:
            return []
        out = []
        if self.retention_bytes >= 0 and self.size_bytes >= self.retention_bytes:
            diff = self.size_bytes - self.retention_bytes

            def size_breached(seg: Segment) -> bool:
                nonlocal diff
                if diff - seg.nbytes >= 0:
                    diff -= seg.nbytes
                    return True
                return False

            out += self._delete_prefix(size_breached, now)
        if self.retention_s >= 0:
            horizon = self.retention_s
            out += self._delete_prefix(lambda seg: now - seg.largest_timestamp > horizon, now)
        return out

    def _delete_prefix(self, predicate, now: float) -> list[Deletion]:
        segments = self.segments
        k = 0
        for i, seg in enumerate(segments):
            last = i + 1 == len(segments)
            upper = self.log_end_offset if last else segments[i + 1].base_offset
            if self.high_watermark >= upper and predicate(seg) and not (last and seg.nbytes == 0):
                k += 1
            else:
                break
        if k == 0:
            return []
        if k == len(segments):
            self._roll(now)
        return [self._drop_segments(k, now)]

    def _drop_segments(self, k: int, now: float) -> Deletion:
        new_start = self.segments[k].base_offset
        r = self._row(new_start)
        head = self._head
        removed = Deletion(now, "retention", self.log_start_offset, new_start,
                           self._off[head:r].copy(), self._msg[head:r].copy(),
                           int(self._cum[r] - self._cum[head]))
        self.size_bytes -= sum(seg.nbytes for seg in self.segments[:k])
        del self.segments[:k]
        self._head = r
        self.log_start_offset = max(self.log_start_offset, new_start)
        self.cleaner_checkpoint = max(self.cleaner_checkpoint, self.log_start_offset)
        return removed

    # ---- truncation (replication) ---------------------------------------------------------
    def truncate(self, end: int, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Remove every record at or above offset ``end`` (``UnifiedLog.truncateTo``, done when
        a replica follows a new leader whose log ends there). Returns the removed records'
        offsets and message ids. Segments starting at or above ``end`` go; the one holding
        ``end`` keeps its records below it. The log start offset never moves down, the HW and
        the cleaner checkpoint are capped at ``end``. The columns are copied, so views handed
        out by ``read`` stay valid."""
        if end >= self.log_end_offset:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        end = max(int(end), 0)
        head, n = self._head, self._n
        r = self._row(end)
        offsets, msg = self._off[r:n].copy(), self._msg[r:n].copy()
        if end <= self.log_start_offset:
            self.log_start_offset = end  # truncateFullyAndStartAt
            r = head
        live = r - head
        self._rebuild(slice(head, r), live, max(_MIN_CAPACITY, len(self._off)))
        keep = [seg for seg in self.segments if seg.base_offset < end] or [
            self._new_segment(end, now)]
        active = keep[-1]
        first = self._row(active.base_offset)
        active.count = self._n - first
        active.nbytes = int(self._cum[self._n] - self._cum[first])
        active.max_timestamp = float(self._ts[first:self._n].max()) if active.count \
            else float("-inf")
        if active.count == 0:
            active.roll_timestamp = None
        self.segments = keep
        self.size_bytes = int(self._cum[self._n])
        self.log_end_offset = end
        self.high_watermark = min(self.high_watermark, end)
        self.cleaner_checkpoint = min(self.cleaner_checkpoint, end)
        return offsets, msg
