"""Which partition a record goes to: the Java client's built-in partitioner.

- Keyed records: ``(murmur2(key) & 0x7fffffff) % partitions`` exactly as
  ``BuiltInPartitioner.partitionForKey`` with ``Utils.murmur2`` (seed ``0x9747b28c``,
  m ``0x5bd1e995``, r 24, 32-bit wrap-around multiplication, the result a signed Java int).
  Adding partitions moves keys, as in Kafka.
- Null keys (or ``partitioner.ignore.keys=true``): the sticky partitioner of KIP-480/KIP-794.
  Records stick to one partition until ``batch.size`` bytes have been produced to it, then a
  new partition is drawn uniformly at random (it may be the same one again, as in
  ``BuiltInPartitioner.nextPartition`` without load statistics).

Not modelled: adaptive partitioning (``partitioner.adaptive.partitioning.enable``, which
weights the draw by broker queue sizes), ``partitioner.availability.timeout.ms``, and KIP-794's
stretching of the switch up to 2 × ``batch.size`` to align with a batch boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEED = 0x9747B28C
M = 0x5BD1E995
R = 24
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` of ``data``: a signed 32-bit int, identical to the Java client."""
    length = len(data)
    h = (SEED ^ length) & _MASK
    n4 = length & ~3
    for i in range(0, n4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * M) & _MASK
        k ^= k >> R
        k = (k * M) & _MASK
        h = ((h * M) & _MASK) ^ k
    tail = length & 3
    if tail:
        if tail == 3:
            h ^= data[n4 + 2] << 16
        if tail >= 2:
            h ^= data[n4 + 1] << 8
        h ^= data[n4]
        h = (h * M) & _MASK
    h ^= h >> 13
    h = (h * M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(h: int) -> int:
    """Kafka's ``Utils.toPositive``: ``h & 0x7fffffff``."""
    return h & 0x7FFFFFFF


def partition_for_key(key: bytes, partitions: int) -> int:
    """``(murmur2(key) & 0x7fffffff) % partitions`` — where the Java producer sends ``key``."""
    return to_positive(murmur2(key)) % partitions


def murmur2_many(keys: list[bytes]) -> np.ndarray:
    """``murmur2`` of many keys at once (int64 array of the signed results), vectorised per length.

    Keys of equal length are hashed together with uint32 numpy arithmetic, so a workload with a
    few key lengths and millions of keys costs a handful of array passes.
    """
    out = np.empty(len(keys), dtype=np.int64)
    if not keys:
        return out
    lengths = np.fromiter((len(k) for k in keys), dtype=np.int64, count=len(keys))
    m = np.uint32(M)
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        length = int(length)
        if length:
            buf = np.frombuffer(b"".join(keys[i] for i in idx), dtype=np.uint8)
            buf = buf.reshape(len(idx), length)
        else:
            buf = np.empty((len(idx), 0), dtype=np.uint8)
        h = np.full(len(idx), (SEED ^ length) & _MASK, dtype=np.uint32)
        n4 = length & ~3
        if n4:
            words = np.ascontiguousarray(buf[:, :n4]).view("<u4")
            for j in range(words.shape[1]):
                k = words[:, j] * m
                k ^= k >> np.uint32(R)
                k *= m
                h *= m
                h ^= k
        tail = length & 3
        if tail:
            if tail == 3:
                h ^= buf[:, n4 + 2].astype(np.uint32) << np.uint32(16)
            if tail >= 2:
                h ^= buf[:, n4 + 1].astype(np.uint32) << np.uint32(8)
            h ^= buf[:, n4].astype(np.uint32)
            h *= m
        h ^= h >> np.uint32(13)
        h *= m
        h ^= h >> np.uint32(15)
        out[idx] = h.view(np.int32)
    return out


def partitions_for_hashes(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """Vectorised ``(h & 0x7fffffff) % partitions`` for an array of murmur2 results."""
    return ((np.asarray(hashes, dtype=np.int64) & 0x7FFFFFFF) % partitions).astype(np.int32)


@dataclass(slots=True)
class StickyPartitioner:
    """Null-key partition choice of one producer for one topic (KIP-480 / KIP-794).

    ``partition()`` is the current sticky partition; ``record(nbytes)`` counts bytes produced to
    it and switches to a new random partition once ``batch.size`` bytes are reached.
    ``assign(sizes)`` does the same for a whole array of records at once (the bulk path).
    """

    partitions: int
    batch_size: int
    rng: np.random.Generator
    current: int = -1
    produced: int = 0

    def partition(self) -> int:
        if self.current < 0:
            self.current = int(self.rng.integers(self.partitions))
        return self.current

    def record(self, nbytes: int) -> None:
        self.produced += nbytes
        if self.produced >= self.batch_size:
            self.current = int(self.rng.integers(self.partitions))
            self.produced = 0

    def assign(self, sizes: np.ndarray) -> np.ndarray:
        """Partitions of consecutive null-key records of ``sizes`` bytes: the same choices (and
        random draws, taken in one call) as ``partition()``/``record()`` record by record.
        Records all of one size switch every ``ceil(batch.size / size)`` records, computed
        without a walk over the switch points."""
        n = len(sizes)
        out = np.empty(n, dtype=np.int32)
        if n == 0:
            return out
        cum = np.cumsum(sizes, dtype=np.int64)
        first = self.partition()
        # the record with which the current partition reaches batch.size, then each next one
        end = int(np.searchsorted(cum, self.batch_size - self.produced, side="left"))
        if end >= n:  # still below batch.size after the last record: stay
            out[:] = first
            self.produced += int(cum[-1])
            return out
        size = int(sizes[0])
        if size > 0 and int(sizes.min()) == size == int(sizes.max()):
            # records of one size (workloads often are): a new partition every ``step`` records
            step = max(1, -(-self.batch_size // size))
            count = (n - 1 - end) // step + 1
            draws = self.rng.integers(self.partitions, size=count).astype(np.int32)
            out[:end + 1] = first
            out[end + 1:] = np.repeat(draws, step)[:n - end - 1]
            last = end + (count - 1) * step
            self.current = int(draws[-1])
            self.produced = (n - 1 - last) * size
            return out
        before = cum - sizes  # bytes before each record
        reach = np.searchsorted(cum, before + self.batch_size, side="left").tolist()
        ends = [end]
        while end + 1 < n:
            end = max(end + 1, reach[end + 1])
            if end >= n:
                break
            ends.append(end)
        draws = self.rng.integers(self.partitions, size=len(ends)).astype(np.int32)
        bounds = np.array(ends, dtype=np.int64) + 1  # first record of each new partition
        seg = np.zeros(n, dtype=np.int64)
        inside = bounds[bounds < n]
        seg[inside] = 1
        np.cumsum(seg, out=seg)
        choices = np.concatenate(([first], draws))
        out[:] = choices[seg]
        self.current = int(draws[-1])
        self.produced = 0 if ends[-1] == n - 1 else int(cum[-1] - cum[ends[-1]])
        return out
