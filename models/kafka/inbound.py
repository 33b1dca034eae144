"""Record batches on their way to a partition leader: sent, not yet arrived.

The producer's fast bulk path (``models.kafka.planner``) knows, a window ahead, which batches it
sends when and so when each reaches the leader. It hands them to the partition as ``Inbound``
columns instead of scheduling one simpy event per produce request. The partition applies them
lazily: whenever anything looks at it (a fetch, a retention pass, a property, another append)
it first appends every inbound batch whose arrival time has passed, in arrival order, with the
arrival time as the append time (``Log.append_many``), and moves the high watermark for those
whose HW time has passed. Seen from outside, the log is exactly what per-request appends at the
arrival times would have made; only the Python work is batched. A fetch waiting for data gets
one timer to the next HW move, so it wakes when it would have.

Staging: when one inbound's batches are the next the log will get (no other batch arrives
before its last one), the partition writes all of them into the log's rows past its end at once
(``Log.stage``, at the first apply); appending them then only moves counters
(``Log.append_staged``), so a consumer looking at the partition after each batch costs no numpy
call per look. Anything else written to the log first discards the staging, and the batches are
appended the ordinary way (``Log.append_many``); an inbound is staged at most twice.

Same-instant order: a batch arriving at the very instant of another event there (a fetch, a
ListOffsets) counts as arrived before it. With an event per request, simpy's scheduling order
would decide; it puts the arrival first in the usual case (a producer request sent on a
response that a fetch sent at the same instant follows), not always.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Inbound:
    """``k`` batches for one partition: batch ``j`` is rows ``bounds[j]:bounds[j+1]`` of the
    record columns, arrives at ``at[j]`` (non-decreasing), and becomes visible to consumers (HW)
    at ``hw_at[j]``. ``pid``/``seq`` are the producer id and each batch's base sequence (for the
    leader's idempotence state; ``pid`` -1 without idempotence). ``base[j]`` is filled with the
    batch's base offset when it is appended (read it through ``bases()``: staged appends fill it
    in when asked); ``applied`` counts batches appended so far.
    ``at_l``, ``hw_l``, ``bl``, ``cs`` and ``seq_l`` are Python lists of ``at``, ``hw_at``,
    ``bounds``, the bytes before each batch and ``seq`` (scalar look-ups without numpy);
    ``stage`` is the log staging that holds batches ``s0`` on (see "Staging"), or None.
    """

    __slots__ = ("applied", "at", "at_l", "base", "bl", "bounds", "cs", "csize", "fill", "hw_at",
                 "hw_l", "hw_sorted", "k", "key", "msg", "pid", "seq", "seq_l", "size", "sorted",
                 "stage", "stagings", "ts")

    def __init__(self, at: np.ndarray, hw_at: np.ndarray, bounds: np.ndarray, msg: np.ndarray,
                 ts: np.ndarray, size: np.ndarray, key: np.ndarray, pid: int,
                 seq: np.ndarray, lists: tuple[list, list, list, list] | None = None,
                 csize: np.ndarray | None = None, ts_sorted: bool | None = None) -> None:
        self.at = at
        self.hw_at = hw_at
        self.bounds = bounds
        self.msg = msg
        self.ts = ts
        self.size = size
        self.key = key
        self.pid = pid
        self.seq = seq
        self.k = len(at)
        self.applied = 0
        self.base = np.full(self.k, -1, dtype=np.int64)
        if csize is None:  # bytes before each row (plus any constant: only differences count)
            csize = np.zeros(len(size) + 1, dtype=np.int64)
            np.cumsum(size, out=csize[1:])
        self.csize = csize
        if ts_sorted is None:  # timestamps in order
            ts_sorted = bool(len(ts) < 2 or (ts[1:] >= ts[:-1]).all())
        self.sorted = ts_sorted
        if lists is None:  # (``lists``: the caller has them as Python lists already)
            lists = (at.tolist(), hw_at.tolist(), bounds.tolist(), seq.tolist())
        self.at_l: list[float] = lists[0]
        self.hw_l: list[float] = lists[1]
        self.bl: list[int] = lists[2]
        self.seq_l: list[int] = lists[3]
        self.cs: list[int] = self.csize[bounds].tolist()
        self.stage: Any = None
        self.stagings = 0
        self.hw_sorted: bool | None = None  # (``hw_in_order``)
        self.fill = 0  # base[:fill] is written; batches fill..applied-1 have theirs in stage

    def bases(self) -> np.ndarray:
        """``base`` with every appended batch's base offset filled in."""
        if self.fill < self.applied:
            s0 = self.stage[2]
            self.base[self.fill:self.applied] = self.stage[3][self.fill - s0:self.applied - s0]
            self.fill = self.applied
        return self.base

    def hw_in_order(self) -> bool:
        """Whether the batches not yet appended become visible in their order (HW times never
        go down). Found once, at the first call: later only fewer batches are left."""
        if self.hw_sorted is None:
            hw_l = self.hw_l
            self.hw_sorted = all(hw_l[j] <= hw_l[j + 1] for j in range(self.applied, self.k - 1))
        return self.hw_sorted

    def next_at(self) -> float:
        """Arrival time of the next batch not yet appended (inf when none)."""
        return self.at_l[self.applied] if self.applied < self.k else np.inf

    def next_hw_at(self) -> float:
        return self.hw_l[self.applied] if self.applied < self.k else np.inf

    def truncate(self, k: int) -> None:
        """Forget batches ``k`` and later (revoked before they were sent)."""
        if k < self.applied:
            raise ValueError("cannot revoke batches that have already arrived")
        self.k = min(self.k, k)
