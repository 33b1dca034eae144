"""Network links: latency, bandwidth-bound throughput, FIFO order, reproducibility."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import Simulation
from sim.distributions import Uniform
from sim.network import Link, parse_bandwidth


def loop_reference(link, send, sizes, jitter, free_at=0.0, after=-math.inf):
    """The link one message at a time: the wire is a FIFO server, then no overtaking."""
    out, wire, last = [], free_at, after
    for t, size, extra in zip(send, sizes, jitter, strict=True):
        wire = max(t, wire) + (size / link.bandwidth if link.bandwidth else 0.0)
        last = max(last, wire + link.latency + extra)
        out.append(last)
    return np.array(out), wire


def test_latency_is_added_to_every_message():
    link = Link(latency="2ms")
    send = np.array([0.0, 0.5, 0.5, 1.25])
    arrivals, free_at = link.deliver(None, send, 100)
    np.testing.assert_array_equal(arrivals, send + 0.002)
    assert free_at == 1.25
    assert link.delay(None) == 0.002


def test_bandwidth_bounds_throughput():
    link = Link(latency="1ms", bandwidth=1_000_000)  # 1 MB/s
    arrivals, free_at = link.deliver(None, np.zeros(1000), 1000)  # 1 MB written at once
    assert free_at == pytest.approx(1.0)
    assert arrivals[-1] == pytest.approx(1.001)
    np.testing.assert_allclose(np.diff(arrivals), 0.001)  # one message per millisecond
    # Sparse messages do not queue: each takes transmission + latency.
    sparse = np.arange(10) * 0.1
    arrivals, _ = link.deliver(None, sparse, 1000)
    np.testing.assert_allclose(arrivals, sparse + 0.001 + 0.001)
    assert link.delay(None, 1000) == pytest.approx(0.002)


def test_busy_wire_carries_over_and_matches_the_one_at_a_time_reference():
    link = Link(latency="0.5ms", jitter="0.3ms", bandwidth="1mb")
    g = np.random.default_rng(4)
    send = np.sort(g.uniform(0, 1, 2000))
    sizes = g.integers(0, 2000, 2000)
    arrivals, free_at = link.deliver(np.random.default_rng(9), send, sizes, free_at=0.2,
                                     after=0.21)
    jitter = np.random.default_rng(9).exponential(0.0003, 2000)
    expected, wire = loop_reference(link, send, sizes, jitter, free_at=0.2, after=0.21)
    np.testing.assert_allclose(arrivals, expected, rtol=0, atol=1e-9)
    assert free_at == pytest.approx(wire)


def test_jitter_never_reorders_a_connection():
    link = Link(latency="1ms", jitter=Uniform(0, "50ms"))
    send = np.arange(1000) * 0.001  # jitter far larger than the gaps
    arrivals, _ = link.deliver(np.random.default_rng(1), send, 10)
    assert np.all(np.diff(arrivals) >= 0)
    assert np.all(arrivals >= send + 0.001)
    assert np.mean(arrivals - send) > 0.02  # head-of-line blocking behind slow ones


def test_pipe_keeps_order_and_state_across_batches():
    link = Link(latency="1ms", jitter="5ms", bandwidth=100_000)
    send = np.sort(np.random.default_rng(2).uniform(0, 2, 600))
    whole, _ = link.deliver(np.random.default_rng(3), send, 500)
    pipe = link.open(np.random.default_rng(3))
    parts = [pipe.send(send[a:b], 500) for a, b in [(0, 7), (7, 300), (300, 301), (301, 600)]]
    # Same draws, same state; the vectorised recurrence may round differently per batch.
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0, atol=1e-12)
    assert pipe.last_arrival == pytest.approx(whole[-1], abs=1e-12)
    with pytest.raises(ValueError, match="written in order"):
        pipe.send(np.array([0.5]), 10)


def test_same_seed_same_arrivals():
    link = Link(latency="1ms", jitter="1ms", bandwidth="10gbit")
    send = np.arange(100) * 1e-4
    a = link.deliver(Simulation(seed=4).rng("net/p0"), send, 1500)[0]
    b = link.deliver(Simulation(seed=4).rng("net/p0"), send, 1500)[0]
    c = link.deliver(Simulation(seed=5).rng("net/p0"), send, 1500)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("text", "bytes_per_second"),
    [("1gb", 1024**3), ("100mb/s", 100 * 1024**2), ("10gbit", 1.25e9), ("100mbps", 12.5e6),
     (5000, 5000.0), (None, None)],
)
def test_bandwidth_spellings(text, bytes_per_second):
    assert parse_bandwidth(text) == bytes_per_second


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Link(bandwidth=0), "bandwidth must be positive"),
        (lambda: Link(bandwidth="fast"), "cannot parse bandwidth 'fast'"),
        (lambda: Link(latency="-1ms"), "Link.latency"),
        (lambda: Link(jitter="lots"), "Link.jitter"),
        (lambda: Link().deliver(None, np.array([1.0, 0.5]), 1), "sorted"),
        (lambda: Link(jitter="1ms").deliver(None, np.array([1.0]), 1), "random stream"),
    ],
)
def test_bad_links_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(0, 0.01), min_size=1, max_size=60),
    sizes=st.integers(0, 10_000),
    latency=st.floats(0, 0.01),
    jitter=st.floats(0, 0.005),
    bandwidth=st.one_of(st.none(), st.floats(1e4, 1e9)),
    seed=st.integers(0, 1000),
)
def test_link_is_a_fifo_byte_stream(gaps, sizes, latency, jitter, bandwidth, seed):
    link = Link(latency=latency, jitter=jitter, bandwidth=bandwidth)
    send = np.cumsum(gaps)
    arrivals, free_at = link.deliver(np.random.default_rng(seed), send, sizes)
    transmit = sizes / bandwidth if bandwidth else 0.0
    assert np.all(np.diff(arrivals) >= 0)
    assert np.all(arrivals >= send + transmit + latency - 1e-12)
    # The wire cannot carry the bytes faster than its bandwidth.
    assert free_at >= send[0] + len(send) * transmit - 1e-9
    assert arrivals[-1] >= free_at + latency - 1e-12
