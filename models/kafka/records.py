"""Records as the storage and the clients see them: columnar batches, metadata, key ids.

A record in brokersim is a row of numpy columns — offset, message id (``sim.trace``'s run-unique
id), timestamp (simulated seconds), size (bytes, key + value; Kafka's per-record and per-batch
header overhead is not counted), key id (-1 = no key) and a null-value flag (a tombstone when
the key is set). Payload bytes are not stored in the log; ``Producer.send`` keeps the value in
``cluster.values`` by message id for clients that want it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.kafka.partitioner import murmur2_many


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    """What a successful ``Producer.send`` event yields (kafka-python's field names).

    ``offset`` is -1 with ``acks=0`` (the producer never hears back). ``timestamp`` is the
    record's timestamp in simulated seconds (Kafka gives milliseconds). Key/value sizes are -1
    for a null key/value, as in kafka-python. ``msg`` is brokersim's message id.
    """

    topic: str
    partition: int
    offset: int
    timestamp: float
    serialized_key_size: int
    serialized_value_size: int
    msg: int = -1

    @property
    def topic_partition(self) -> tuple[str, int]:
        return (self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """Records returned by ``Partition.read``: read-only numpy column views, oldest first.

    ``next_offset`` is where the next read should start (last returned offset + 1, or the
    requested offset when nothing was returned). ``high_watermark`` and ``log_start_offset``
    are the partition's at read time (Kafka returns both in every fetch response).
    """

    offset: np.ndarray
    msg: np.ndarray
    timestamp: np.ndarray
    size: np.ndarray
    key: np.ndarray
    null: np.ndarray
    next_offset: int
    high_watermark: int
    log_start_offset: int
    nbytes: int

    def __len__(self) -> int:
        return len(self.offset)


@dataclass(frozen=True, slots=True)
class Deletion:
    """Records a partition removed at time ``t``: by ``retention`` (whole segments from the log
    start) or by ``compaction`` (superseded values and expired tombstones).

    ``start_offset``/``end_offset`` bound the range the removal covered (end exclusive; for
    retention, the new log start offset); ``offsets`` and ``msg`` list the removed records.
    """

    t: float
    reason: str
    start_offset: int
    end_offset: int
    offsets: np.ndarray
    msg: np.ndarray
    nbytes: int

    def __len__(self) -> int:
        return len(self.offsets)


class KeyRegistry:
    """Dense integer ids for record keys, with each key's murmur2 hash cached.

    The log stores key ids, not key bytes; compaction compares ids and the partitioner reads the
    cached hash, so a workload with a million keyed records hashes each distinct key once.
    """

    __slots__ = ("_bytes", "_hash", "_ids")

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self._bytes: list[bytes] = []
        self._hash = np.empty(16, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._bytes)

    def id(self, key: bytes) -> int:
        """The id of ``key`` (registered on first use)."""
        found = self._ids.get(key)
        if found is None:
            found = self._register([key])[0]
        return found

    def ids(self, keys: Sequence[bytes]) -> np.ndarray:
        """Ids of many keys (new ones registered and hashed in one vectorised pass)."""
        ids = self._ids
        new = list(dict.fromkeys(k for k in keys if k not in ids))
        if new:
            self._register(new)
        return np.fromiter((ids[k] for k in keys), dtype=np.int64, count=len(keys))

    def bytes(self, key_id: int) -> bytes | None:
        """The key bytes of ``key_id`` (None for -1, the null key)."""
        return None if key_id < 0 else self._bytes[key_id]

    def murmur2(self, key_ids: np.ndarray) -> np.ndarray:
        """Cached ``murmur2`` of each key id (the signed Java value)."""
        return self._hash[np.asarray(key_ids, dtype=np.int64)]

    def _register(self, keys: list[bytes]) -> list[int]:
        for key in keys:
            if not isinstance(key, bytes):
                raise TypeError(f"record keys must be bytes, not {type(key).__name__}")
        start = len(self._bytes)
        end = start + len(keys)
        if end > len(self._hash):
            grown = np.empty(max(end, 2 * len(self._hash)), dtype=np.int64)
            grown[:start] = self._hash[:start]
            self._hash = grown
        self._hash[start:end] = murmur2_many(keys)
        for i, key in enumerate(keys, start):
            self._ids[key] = i
        self._bytes.extend(keys)
        return list(range(start, end))
