"""A partition's inbound batches (the producer fast path's appends, ``models.kafka.inbound``):
staged or not, every look at the partition sees the same log, offsets, high watermark and
producer state."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka import KafkaCluster
from models.kafka.inbound import Inbound
from sim import Simulation


def partition(staging: bool, config: dict):
    s = Simulation(seed=3)
    k = KafkaCluster(s, brokers=1)
    k.create_topic("t", partitions=1, replication_factor=1, config=config)
    part = k.all_partitions()[0]
    part.staging = staging
    return s, part


def inbound(batches: list[tuple], t0: float, msg0: int, pid: int, hw_delay: float) -> Inbound:
    """Batches (gap, records, size) arriving from ``t0`` on, sent ``gap`` apart."""
    at = t0 + np.cumsum([g for g, _n, _s in batches])
    counts = [n for _g, n, _s in batches]
    bounds = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    n = int(bounds[-1])
    size = np.concatenate([np.full(c, s) for _g, c, s in batches]).astype(np.int64)
    ts = np.repeat(at - 1e-3, counts)
    seq = bounds[:-1].copy() if pid >= 0 else np.full(len(at), -1, dtype=np.int64)
    return Inbound(at, at + hw_delay, bounds, np.arange(msg0, msg0 + n), ts, size,
                   np.full(n, -1, dtype=np.int64), pid, seq)


def state(part) -> tuple:
    log = part.log
    segs = [(g.base_offset, g.nbytes, g.count, g.max_timestamp, g.roll_timestamp,
             g.last_modified) for g in log.segments]
    cols = {k: v.tolist() for k, v in log.columns().items()}
    hist = {pid: list(h) for pid, h in part._producers.items()}
    return (log.log_end_offset, log.high_watermark, log.size_bytes, segs, cols, hist,
            part._next_change, part._next_hw)


lanes = st.lists(st.lists(st.tuples(st.sampled_from([0.0, 5e-4, 1e-3, 1e-3, 2e-3]),
                                    st.integers(1, 6), st.integers(1, 400)),
                          min_size=1, max_size=30), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(lanes, st.sampled_from([3e-4, 1e-3, 2.5e-3, 7e-3]), st.booleans(),
       st.sampled_from([0.0, 0.0, 2e-3]),
       st.sampled_from([{}, {}, {"segment.bytes": 2000},
                        {"message.timestamp.type": "LogAppendTime"}]))
def test_staged_and_ordinary_appends_look_the_same_at_every_moment(plan, every, two, hw_delay,
                                                                   config):
    """A consumer looks at the partition every ``every`` seconds (each look appends what
    arrived): the partition with staging and the one without agree at every look."""
    runs = [partition(True, config), partition(False, config)]
    handles = []
    for _s, part in runs:
        mine = []
        t0, msg = 0.001, 0
        for lane in plan:  # one producer's lanes, one after the other
            b = inbound(lane, t0, msg, 7, hw_delay)
            part.add_inbound(b, 100)
            mine.append(b)
            t0 = float(b.at[-1])
            msg += int(b.bounds[-1])
        if two:  # another producer's batches, arriving among the first one's
            b = inbound(plan[0], 0.0015, 10**6, -1, hw_delay)
            part.add_inbound(b)
            mine.append(b)
        handles.append(mine)
    end = max(float(b.hw_at[-1]) for b in handles[0]) + every
    for t in np.arange(every, end + every, every):
        for s, _part in runs:
            s.run(until=float(t))
        assert state(runs[0][1]) == state(runs[1][1])
        for a, b in zip(*handles, strict=True):
            assert a.applied == b.applied
            assert a.bases().tolist() == b.bases().tolist()


@settings(max_examples=100, deadline=None)
@given(lanes, st.sampled_from([3e-4, 1e-3, 2.5e-3]), st.booleans(),
       st.sampled_from([0.0, 2e-3]), st.booleans(), st.sampled_from([{}, {"segment.bytes": 2000}]))
def test_the_hw_ahead_is_the_hw_the_partition_shows_later(plan, every, two, hw_delay, shuffle,
                                                          config):
    """``Partition.hw_ahead``: whenever it says the HW over time is known, the partition shows
    exactly that HW at every later look (nothing else appends meanwhile); it is not known
    while two producers' batches are on their way, or batches become visible out of order."""
    from bisect import bisect_right
    from itertools import pairwise
    s, part = partition(True, config)
    t0, msg = 0.001, 0
    for lane in plan:
        b = inbound(lane, t0, msg, 7, hw_delay)
        if shuffle and b.k > 2:  # a batch visible after the next one
            b.hw_at[-2] = b.hw_at[-1] + 1e-4
            b.hw_l[-2] = float(b.hw_at[-2])
        part.add_inbound(b, 100)
        t0 = float(b.at[-1])
        msg += int(b.bounds[-1])
    if two:
        part.add_inbound(inbound(plan[0], 0.0015, 10**6, -1, hw_delay))
    end = max(b.hw_l[-1] for b in part._inbound) + 2 * every
    predictions = []
    for t in np.arange(0.0, end, every):
        s.run(until=float(t))
        for leo, hw_l, bl, a, k in predictions:
            j = bisect_right(hw_l, s.now, a, k)
            assert part.high_watermark == leo + bl[j] - bl[a]
        known, b, when = part.hw_ahead()
        live = [c for c in part._inbound if c.applied < c.k]
        if known:
            assert part.high_watermark == part.log.log_end_offset
            assert live == ([] if b is None else [b])
            assert b is None or all(x <= y for x, y in pairwise(b.hw_l[b.applied:b.k]))
            if b is not None:  # their records are in the log's columns already
                head, cols, _cum = part.log.row_columns()
                row = head + part.log.log_end_offset - part.log.log_start_offset
                n = b.bl[b.k] - b.bl[b.applied]
                assert cols[1][row:row + n].tolist() == \
                    b.msg[b.bl[b.applied]:b.bl[b.k]].tolist()
            predictions.append((part.log.log_end_offset, (), (0,), 0, 0) if b is None else
                               (part.log.log_end_offset, b.hw_l, b.bl, b.applied, b.k))
        else:
            assert when >= s.now
    assert predictions  # at the end at least: nothing on its way
