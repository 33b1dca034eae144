"""The producer's record batches and the bulk-workload feed they can be cut from.

A ``ProducerBatch`` is what Kafka's ``RecordAccumulator`` holds per partition: records appended
while the batch is open, closed when full or when the sender drains it. ``send()`` fills it one
record at a time (Python lists, frozen to numpy arrays when the batch is first sent); the bulk
path (``Producer.produce``) cuts batches straight out of a ``Feed`` of numpy arrays, so a
million-record workload costs one Python object per batch, not per record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy


@dataclass(slots=True)
class BulkSend:
    """Handle of a bulk workload sent with ``Producer.produce``.

    ``msg``, ``partition``, ``offset`` (-1 until acknowledged; -1 for ``acks=0``), ``acked_at``
    (NaN until acknowledged) and ``error`` (0 = none, else the Kafka error code, -1 for errors
    without a code) are per-record arrays in the order given. ``done`` succeeds (value: this
    handle) when every record is acknowledged or has failed.
    """

    topic: str
    times: np.ndarray
    sizes: np.ndarray
    keys: np.ndarray
    msg: np.ndarray
    partition: np.ndarray
    offset: np.ndarray
    acked_at: np.ndarray
    error: np.ndarray
    done: simpy.Event
    pending: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.msg)

    @property
    def acked(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.acked_at)))

    @property
    def failed(self) -> int:
        return int(np.count_nonzero(self.error))


@dataclass(slots=True)
class Feed:
    """Bulk records for one partition not yet cut into batches: indices into a ``BulkSend``
    in send order, their send times, and running byte totals (``cum[k]`` = bytes before k)."""

    bulk: BulkSend
    idx: np.ndarray
    t: np.ndarray
    cum: np.ndarray
    msg: np.ndarray  # the bulk's columns gathered in feed order (batches are slices of them)
    size: np.ndarray
    key: np.ndarray
    pos: int = 0
    plan: tuple | None = None  # the fast path's lists (times, batch ends, ready times, bytes)

    @property
    def remaining(self) -> int:
        return len(self.idx) - self.pos

    def arrived(self, now: float) -> int:
        """Index one past the last record sent by ``now`` (a record sent at the very instant
        its batch is drained joins it)."""
        return int(np.searchsorted(self.t, now, side="right"))

    def cut(self, end: int, batch_size: int) -> int:
        """End of the batch starting at ``pos``: at most ``end``, within ``batch_size`` bytes
        (at least one record)."""
        pos = self.pos
        fit = int(np.searchsorted(self.cum, self.cum[pos] + batch_size, side="right")) - 1
        return min(end, max(fit, pos + 1))

    def ready_at(self, linger: float, batch_size: int) -> float:
        """When the batch that starts at ``pos`` is ready: full, or ``linger`` after its first
        record."""
        pos = self.pos
        t0 = self.t[pos]
        fit = int(np.searchsorted(self.cum, self.cum[pos] + batch_size, side="right")) - 1
        n = len(self.idx)
        if fit <= pos:
            fit = pos + 1
        if self.cum[fit] - self.cum[pos] >= batch_size:  # exactly full with record fit-1
            full_at = self.t[fit - 1]
        elif fit < n:  # the record that does not fit closes the batch
            full_at = self.t[fit]
        else:
            full_at = np.inf
        return float(min(t0 + linger, full_at))


class ProducerBatch:
    """One batch for one partition, from creation to acknowledgement or failure."""

    __slots__ = (
        "acked", "append_time", "attempts", "base_seq", "bulk", "bulk_idx", "count", "created",
        "deadline", "done", "full", "futures", "id", "key", "ksize", "lost", "msg", "nbytes",
        "null", "partition", "pid", "retry_at", "size", "ts", "vsize",
    )

    def __init__(self, batch_id: int, partition, created: float, deadline: float) -> None:
        self.id = batch_id
        self.partition = partition
        self.created = created
        self.deadline = deadline  # linger expiry
        self.nbytes = 0
        self.count = 0
        self.full = False
        self.done = False
        self.acked = False
        self.lost: np.ndarray | None = None  # records a leader change truncated before the ack
        self.pid = -1  # the producer id its sequence numbers belong to
        self.attempts = 0
        self.retry_at = 0.0
        self.base_seq = -1
        self.append_time = -1.0
        self.futures: list[simpy.Event] | None = None
        self.bulk: BulkSend | None = None
        self.bulk_idx: np.ndarray | None = None
        self.msg: list | np.ndarray = []
        self.ts: list | np.ndarray = []
        self.size: list | np.ndarray = []
        self.key: list | np.ndarray = []
        self.null: list | np.ndarray = []
        self.ksize: list[int] = []
        self.vsize: list[int] = []

    def add(self, msg: int, ts: float, size: int, key: int, null: bool, future: simpy.Event,
            ksize: int, vsize: int) -> None:
        """Append one record (the ``send()`` path)."""
        self.msg.append(msg)
        self.ts.append(ts)
        self.size.append(size)
        self.key.append(key)
        self.null.append(null)
        if self.futures is None:
            self.futures = []
        self.futures.append(future)
        self.ksize.append(ksize)
        self.vsize.append(vsize)
        self.nbytes += size
        self.count += 1

    def freeze(self) -> None:
        """Turn the record lists into numpy arrays (once, when the batch is first sent)."""
        if isinstance(self.msg, list):
            self.msg = np.array(self.msg, dtype=np.int64)
            self.ts = np.array(self.ts, dtype=np.float64)
            self.size = np.array(self.size, dtype=np.int64)
            self.key = np.array(self.key, dtype=np.int64)
            self.null = np.array(self.null, dtype=np.bool_)

    @classmethod
    def from_feed(cls, batch_id: int, partition, feed: Feed, end: int,
                  linger: float) -> ProducerBatch:
        """Cut records ``feed.pos .. end-1`` out of a bulk feed (column slices, no copies)."""
        pos = feed.pos
        t0 = float(feed.t[pos])
        b = cls(batch_id, partition, t0, t0 + linger)
        b.bulk = feed.bulk
        b.bulk_idx = feed.idx[pos:end]
        b.msg = feed.msg[pos:end]
        b.ts = feed.t[pos:end]
        b.size = feed.size[pos:end]
        b.key = feed.key[pos:end]
        b.null = None
        b.nbytes = int(feed.cum[end] - feed.cum[pos])
        b.count = end - pos
        b.full = True
        feed.pos = end
        return b
