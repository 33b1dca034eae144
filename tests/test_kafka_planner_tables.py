"""The planner's per-record feed tables (``planner.feed_tables``) against the event path's
batch rules (``Feed.cut``, ``Feed.ready_at``, ``Feed.arrived``), record by record: records of
one size (the tables' arithmetic shortcut) and of many, same-instant sends, records bigger
than ``batch.size``, batches closed by size and by ``linger.ms``."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kafka.batches import Feed
from models.kafka.planner import feed_tables


def feed(gaps, sizes):
    t = np.cumsum(gaps)
    size = np.array(sizes, dtype=np.int64)
    cum = np.zeros(len(size) + 1, dtype=np.int64)
    np.cumsum(size, out=cum[1:])
    n = len(t)
    return Feed(None, np.arange(n), t, cum, np.arange(n), size, np.full(n, -1))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1e-4, 7e-4, 3e-3]),
                          st.sampled_from([1, 100, 500, 1024, 3000])), min_size=1, max_size=60),
       st.booleans(), st.sampled_from([0.0, 0.001, 0.005]), st.sampled_from([500, 2048, 16384]))
def test_feed_tables_follow_the_batch_rules(records, one_size, linger, batch_size):
    gaps = [g for g, _ in records]
    sizes = [records[0][1]] * len(records) if one_size else [s for _, s in records]
    f = feed(gaps, sizes)
    t, fit, ready, _cum, nxt = feed_tables(f, linger, batch_size)
    n = len(t)
    for k in range(n):
        f.pos = k
        end = f.cut(n, batch_size)
        when = f.ready_at(linger, batch_size)
        assert fit[k] == end
        assert ready[k] == when
        assert nxt[k] == min(end, f.arrived(when))
