"""Unit tests of the engine core: units, random streams, Lindley queue, trace tables."""

import numpy as np
import pytest

from sim import Simulation, fifo_departures, parse_duration, parse_size
from sim.queueing import fifo_departures_loop


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("60s", 60.0), ("7d", 604800.0), ("2h", 7200.0), ("1.5", 1.5), (3, 3.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [("8mb", 8 * 1024**2), ("32mb", 32 * 1024**2), ("1gb", 1024**3), ("16k", 16000),
     ("1m", 1_000_000), ("4096", 4096), (100, 100), ("1KiB", 1024)],
)
def test_parse_size_follows_redis_memtoll(text, nbytes):
    assert parse_size(text) == nbytes


@pytest.mark.parametrize("bad", ["fast", "10 parsecs", "-1s", True])
def test_parse_duration_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_named_streams_are_independent_and_reproducible():
    a, b = Simulation(seed=1), Simulation(seed=1)
    a.rng("x").random(1000)  # using one stream must not shift another
    assert np.array_equal(a.rng("y").random(5), b.rng("y").random(5))
    assert not np.array_equal(Simulation(seed=2).rng("y").random(5), b.rng("y").random(5))
    assert a.rng("x") is a.rng("x")


def test_vectorised_lindley_matches_loop():
    rng = np.random.default_rng(0)
    arrivals = np.sort(rng.uniform(0, 100, 5000))
    services = rng.exponential(0.02, 5000)
    np.testing.assert_allclose(
        fifo_departures(arrivals, services, 3.0), fifo_departures_loop(arrivals, services, 3.0),
        rtol=0, atol=1e-9,
    )


def test_trace_tables_keep_row_order_across_append_and_extend():
    trace = Simulation().trace
    trace.delivered.append(msg=7, receiver=0, via=-1, t=0.5)
    trace.delivered.extend(msg=np.array([1, 2]), receiver=3, via=-1, t=np.array([1.0, 2.0]))
    trace.delivered.append(msg=9, receiver=1, via=-1, t=3.0)
    assert trace.delivered["msg"].tolist() == [7, 1, 2, 9]
    assert trace.delivered["receiver"].tolist() == [0, 3, 3, 1]
    assert trace.delivered.nbytes == 4 * 24


def test_run_advances_time():
    s = Simulation()
    fired = []
    s.call_at(2.5, fired.append, "x")
    s.run(until=3)
    assert s.now == 3 and fired == ["x"]


def test_run_collects_young_objects_less_often_and_restores_the_collector():
    import gc

    from sim.simulation import YOUNG_COLLECTION_EVERY

    sim = Simulation()
    seen = []

    def watcher():
        seen.append(gc.get_threshold())
        yield sim.timeout(1.0)
        raise RuntimeError("a model fails mid-run")

    saved = gc.get_threshold()
    before = (700, 10, 10)  # CPython's defaults
    gc.set_threshold(*before)
    try:
        sim.process(watcher())
        with pytest.raises(RuntimeError):
            sim.run(until=5.0)
        assert seen == [(YOUNG_COLLECTION_EVERY, *before[1:])]
        assert gc.get_threshold() == before  # restored, even when the run raised
        gc.disable()
        seen.clear()
        sim.process(watcher())
        with pytest.raises(RuntimeError):
            sim.run(until=10.0)
        assert seen == [before]  # collection switched off: left alone
    finally:
        gc.enable()
        gc.set_threshold(*saved)
