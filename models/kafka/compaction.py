"""Log compaction (``cleanup.policy=compact``): Kafka's log cleaner on one partition log.

Reproduced from ``LogCleaner`` / ``LogCleanerManager`` (``shared/reference/kafka.md`` §1.3):

- The cleanable range is ``[first dirty offset, first uncleanable offset)``. The first dirty
  offset is the cleaner checkpoint (end of the previous pass; the log start at first). The first
  uncleanable offset is the smallest of the active segment's base offset (the active segment is
  never cleaned), the high watermark (Kafka: the last stable offset) and the first segment whose
  newest record is younger than ``min.compaction.lag.ms``, rounded down to a segment base.
- A log is cleaned when its dirty ratio, cleanable bytes / (clean + cleanable bytes), is greater
  than ``min.cleanable.dirty.ratio`` (strictly, as ``grabFilthiestCompactedLog``); the cleaner
  takes the filthiest log first (see ``cluster.py`` for the cleaner's schedule).
- A pass builds the key → latest offset map from the dirty range, then keeps a record of
  ``[log start, first uncleanable)`` iff its offset is >= the map's entry for its key and it has a
  value or is a tombstone before its delete horizon. A tombstone's horizon is stamped, as in
  KIP-534, by the first pass that keeps it: ``now + delete.retention.ms``; a later pass after the
  horizon drops it. Offsets never change; a read at a removed offset returns the next record.
- Cleaned segments are regrouped as ``groupSegmentsBySize`` does: consecutive segments whose
  sizes before the pass add up to at most ``segment.bytes`` become one segment.

Not modelled: the time and I/O a pass takes, ``log.cleaner.dedupe.buffer.size`` (the map
always fits, so one pass covers the whole dirty range), ``max.compaction.lag.ms``, transaction
markers and the retention of idempotent producers' last batches. Tombstones whose horizon has
passed are removed by the next pass the dirty ratio triggers (Kafka 3.1+ may also schedule a pass
for expired tombstones alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.kafka.log import Log, Segment
from models.kafka.records import Deletion


@dataclass(frozen=True, slots=True)
class Cleanable:
    """What the cleaner would clean in one log now."""

    first_dirty: int
    first_uncleanable: int
    clean_bytes: int
    cleanable_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.clean_bytes + self.cleanable_bytes

    @property
    def ratio(self) -> float:
        return self.cleanable_bytes / self.total_bytes if self.total_bytes else 0.0


def cleanable(log: Log, now: float) -> Cleanable:
    """The cleanable range and dirty ratio of ``log`` at time ``now`` (``cleanableOffsets``)."""
    segments = log.segments
    first_dirty = max(log.cleaner_checkpoint, segments[0].base_offset)
    limit = min(segments[-1].base_offset, log.high_watermark)
    lag = log.config["min.compaction.lag.ms"] / 1000.0
    if lag > 0:
        for seg in segments[:-1]:
            if seg.base_offset >= first_dirty and seg.largest_timestamp > now - lag:
                limit = min(limit, seg.base_offset)
                break
    first_uncleanable = first_dirty
    for seg in segments:  # round down to the base of the segment holding ``limit``
        if seg.base_offset <= limit:
            first_uncleanable = max(first_uncleanable, seg.base_offset)
    clean_bytes = sum(s.nbytes for s in segments if s.base_offset < first_dirty)
    cleanable_bytes = sum(s.nbytes for s in segments
                          if first_dirty <= s.base_offset < first_uncleanable)
    return Cleanable(first_dirty, first_uncleanable, clean_bytes, cleanable_bytes)


def needs_cleaning(log: Log, now: float) -> Cleanable | None:
    """``cleanable(log)`` if the cleaner would pick this log now, else None."""
    if not log.compact:
        return None
    c = cleanable(log, now)
    if c.total_bytes > 0 and c.cleanable_bytes > 0 and c.ratio > log.config[
            "min.cleanable.dirty.ratio"]:
        return c
    return None


def clean(log: Log, now: float, what: Cleanable | None = None) -> Deletion:
    """One cleaning pass over ``log``; returns the removed records (possibly none)."""
    c = what or cleanable(log, now)
    head = log._head
    ru = log._row(c.first_uncleanable)
    rd = log._row(c.first_dirty)
    keys = log._key[head:ru]
    offsets = log._off[head:ru]
    # key -> latest offset in the dirty range (the cleaner's OffsetMap)
    latest = np.full(int(keys.max()) + 1 if len(keys) else 0, -1, dtype=np.int64)
    dirty_keys = log._key[rd:ru]
    valid = dirty_keys >= 0
    np.maximum.at(latest, dirty_keys[valid], log._off[rd:ru][valid])
    found = np.where(keys >= 0, latest[np.maximum(keys, 0)], np.iinfo(np.int64).max)
    keep = offsets >= found
    tomb = log._null[head:ru]
    if tomb.any():
        if log._horizon is None:
            log._horizon = np.full(len(log._off), np.inf)
        horizon = log._horizon[head:ru]
        keep &= ~(tomb & (now >= horizon))
        stamp = keep & tomb & np.isinf(horizon)
        horizon[stamp] = now + log.config["delete.retention.ms"] / 1000.0
    removed = np.flatnonzero(~keep)
    deletion = Deletion(now, "compaction", int(log.segments[0].base_offset), c.first_uncleanable,
                        offsets[removed].copy(), log._msg[head:ru][removed].copy(),
                        int(log._size[head:ru][removed].sum()))
    if len(removed):
        rows = np.concatenate([head + np.flatnonzero(keep), np.arange(ru, log._n)])
        log._rebuild(rows, len(rows), len(log._off))
        log.size_bytes -= deletion.nbytes
    _regroup(log, c.first_uncleanable)
    log.cleaner_checkpoint = c.first_uncleanable
    return deletion


def _regroup(log: Log, first_uncleanable: int) -> None:
    """Merge cleaned segments as ``groupSegmentsBySize`` does and recount their contents."""
    old = [s for s in log.segments if s.base_offset < first_uncleanable]
    rest = log.segments[len(old):]
    groups: list[list[Segment]] = []
    for seg in old:
        if groups and sum(s.nbytes for s in groups[-1]) + seg.nbytes <= log.segment_bytes:
            groups[-1].append(seg)
        else:
            groups.append([seg])
    bounds = [g[0].base_offset for g in groups] + [first_uncleanable]
    merged = []
    for g, lo, hi in zip(groups, bounds, bounds[1:], strict=False):
        r0, r1 = log._row(lo), log._row(hi)
        ts = log._ts[r0:r1]
        seg = Segment(lo, g[0].created, nbytes=int(log._cum[r1] - log._cum[r0]), count=r1 - r0,
                      max_timestamp=float(ts.max()) if r1 > r0 else float("-inf"),
                      roll_timestamp=float(ts[0]) if r1 > r0 else None,
                      last_modified=max(s.last_modified for s in g), jitter=g[0].jitter)
        merged.append(seg)
    log.segments[:] = merged + rest
