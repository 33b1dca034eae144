"""The Java client's partitioner: murmur2 parity with kafka-python and Kafka's own test vectors,
key → partition, vectorised hashing, the sticky partitioner for null keys."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from models.kafka.partitioner import (
    StickyPartitioner,
    murmur2,
    murmur2_many,
    partition_for_key,
    partitions_for_hashes,
)
from models.kafka.records import KeyRegistry


@pytest.mark.parametrize(
    ("data", "expected"),
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed Java ints)
    [(b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536),
     (b"a-little-bit-longer-string", -1486304829),
     (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971), (b"abc", 479470107)],
)
def test_murmur2_matches_the_java_client(data, expected):
    assert murmur2(data) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 200))
def test_murmur2_and_partition_match_kafka_python(key, partitions):
    ours = murmur2(key)
    assert -(2**31) <= ours < 2**31
    assert ours & 0xFFFFFFFF == kafka_python_murmur2(key) & 0xFFFFFFFF
    # kafka-python's DefaultPartitioner: (murmur2(key) & 0x7fffffff) % len(partitions)
    assert partition_for_key(key, partitions) == (kafka_python_murmur2(key) & 0x7FFFFFFF) \
        % partitions


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=80), st.integers(1, 64))
def test_vectorised_hash_and_partition_equal_the_scalar_ones(keys, partitions):
    hashes = murmur2_many(keys)
    assert [int(h) for h in hashes] == [murmur2(k) for k in keys]
    assert list(partitions_for_hashes(hashes, partitions)) == [
        partition_for_key(k, partitions) for k in keys]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=50),
       st.integers(1, 32))
def test_same_key_same_partition(keys, partitions):
    registry = KeyRegistry()
    ids = registry.ids(keys + keys[::-1])
    parts = partitions_for_hashes(registry.murmur2(ids), partitions)
    seen: dict[bytes, int] = {}
    for key, part in zip(keys + keys[::-1], parts, strict=True):
        assert seen.setdefault(key, int(part)) == int(part)
    assert registry.bytes(int(ids[0])) == keys[0] and registry.bytes(-1) is None


def test_sticky_partitioner_switches_after_batch_size_bytes():
    sticky = StickyPartitioner(6, batch_size=1000, rng=np.random.default_rng(3))
    first = sticky.partition()
    for _ in range(4):  # 4 × 240 = 960 < 1000: stay
        assert sticky.partition() == first
        sticky.record(240)
    assert sticky.partition() == first
    sticky.record(240)  # 1200 >= 1000: the next record draws a new partition
    assert sticky.produced == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5000), max_size=300), st.integers(1, 20000), st.integers(0, 99),
       st.integers(1, 12))
def test_vectorised_sticky_assignment_equals_record_by_record(sizes, batch_size, seed, parts):
    sizes = np.array(sizes, dtype=np.int64)
    split = len(sizes) // 3
    a = StickyPartitioner(parts, batch_size, np.random.default_rng(seed))
    b = StickyPartitioner(parts, batch_size, np.random.default_rng(seed))
    vec = np.concatenate([a.assign(sizes[:split]), a.assign(sizes[split:])])
    one = []
    for size in sizes:
        one.append(b.partition())
        b.record(int(size))
    assert list(vec) == one


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 8),
       st.lists(st.lists(st.integers(0, 1500), max_size=40), min_size=1, max_size=3))
def test_sticky_assign_matches_record_by_record_choices(batch_size, partitions, calls):
    # the bulk assign() takes its random draws in one call: same partitions, same stream state
    one = StickyPartitioner(partitions, batch_size, np.random.default_rng(7))
    bulk = StickyPartitioner(partitions, batch_size, np.random.default_rng(7))
    for sizes in calls:
        expected = []
        for size in sizes:
            expected.append(one.partition())
            one.record(size)
        assert bulk.assign(np.array(sizes, dtype=np.int64)).tolist() == expected
        assert (bulk.partition(), bulk.produced) == (one.partition(), one.produced)
    assert bulk.rng.random() == one.rng.random()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 8), st.integers(1, 700),
       st.lists(st.integers(0, 60), min_size=1, max_size=4))
def test_sticky_assign_of_equal_sizes_matches_record_by_record_choices(batch_size, partitions,
                                                                       size, calls):
    # records of one size take a shortcut (a new partition every ceil(batch.size / size))
    one = StickyPartitioner(partitions, batch_size, np.random.default_rng(3))
    bulk = StickyPartitioner(partitions, batch_size, np.random.default_rng(3))
    for n in calls:
        expected = []
        for _ in range(n):
            expected.append(one.partition())
            one.record(size)
        assert bulk.assign(np.full(n, size, dtype=np.int64)).tolist() == expected
        assert (bulk.partition(), bulk.produced) == (one.partition(), one.produced)
    assert bulk.rng.random() == one.rng.random()
