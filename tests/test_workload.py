"""Arrival processes, size/key distributions and workloads: exact values for deterministic
processes, chunk equivalence, statistics with stated tolerances, trace files, validation."""

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import Simulation
from sim.arrivals import (
    Constant,
    OnOff,
    Poisson,
    TraceFileError,
    TraceReplay,
    parse_arrivals,
)
from sim.distributions import (
    Empirical,
    Exponential,
    Fixed,
    LogNormal,
    RoundRobin,
    Uniform,
    UniformChoice,
    Zipf,
    parse_choice,
    parse_distribution,
    parse_quantity,
)
from sim.workload import (
    MessageBatch,
    ProducerSpec,
    Workload,
    constant_rate,
    key_bytes,
    poisson,
)

DATA = Path(__file__).parent / "data"


def rng(seed=0):
    return np.random.default_rng(seed)


def chunked(process, generator, cuts, origin=0.0):
    return np.concatenate([process.times(generator, a, b, origin)
                           for a, b in itertools.pairwise(cuts)])


# ---------------------------------------------------------------- deterministic arrivals


def test_constant_gives_exact_arrivals():
    t = Constant(1000).times(None, 0, 10)
    assert len(t) == 10_000
    assert t[0] == 0.0 and t[-1] == pytest.approx(9.999)
    np.testing.assert_allclose(np.diff(t), 0.001, rtol=1e-9)
    assert Constant(1000).count(0, 10) == 10_000
    assert len(Constant(0).times(None, 0, 10)) == 0


def test_constant_phase_follows_offset_and_origin():
    proc = Constant(10, offset="50ms")
    assert len(proc.times(None, 0, 2, origin=2.0)) == 0  # nothing before the producer starts
    np.testing.assert_allclose(proc.times(None, 2, 3, origin=2.0), 2.05 + np.arange(10) / 10)
    assert proc.count(2, 3, origin=2.0) == 10


DETERMINISTIC = [
    Constant(997, offset=0.0003),
    OnOff(500, "70ms", "130ms", inner="constant"),
    OnOff(300, "50ms", "80ms", inner="constant", durations="exponential"),
    TraceReplay(np.cumsum(np.random.default_rng(5).exponential(0.004, 2000))),
]


@pytest.mark.parametrize("process", DETERMINISTIC, ids=lambda p: type(p).__name__)
def test_deterministic_processes_are_identical_however_the_run_is_cut(process):
    whole = process.times(rng(), 0.0, 9.0, origin=0.37)
    cuts = np.concatenate(([0.0], np.sort(rng(1).uniform(0, 9, 60)), [9.0]))
    assert len(whole) > 100
    assert np.array_equal(chunked(process, rng(), cuts, origin=0.37), whole)


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(0.5, 5000),
    offset=st.floats(0, 1),
    origin=st.floats(0, 100),
    cuts=st.lists(st.floats(0, 3), max_size=12),
)
def test_constant_chunks_concatenate_to_one_window(rate, offset, origin, cuts):
    proc = Constant(rate, offset)
    lo, hi = origin, origin + 3
    edges = np.concatenate(([lo], np.sort(origin + np.array(cuts, dtype=float)), [hi]))
    assert np.array_equal(chunked(proc, None, edges), proc.times(None, lo, hi))


@settings(max_examples=80, deadline=None)
@given(
    kind=st.sampled_from(["constant", "poisson", "onoff", "onoff-exp", "onoff-const"]),
    rate=st.floats(0, 3000),
    start=st.floats(-5, 50),
    length=st.floats(0, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_arrivals_are_sorted_and_inside_the_window(kind, rate, start, length, seed):
    proc = {
        "constant": Constant(rate, 0.01),
        "poisson": Poisson(rate),
        "onoff": OnOff(rate, "0.3s", "0.2s"),
        "onoff-exp": OnOff(rate, "0.3s", "0.2s", durations="exponential"),
        "onoff-const": OnOff(rate, "0.3s", "0.2s", inner="constant", durations="exponential"),
    }[kind]
    t = proc.times(rng(seed), start, start + length, origin=1.0)
    assert t.dtype == np.float64
    assert np.all(np.diff(t) >= 0)
    assert np.all((t >= start) & (t < start + length))
    assert np.all(t >= 1.0) or kind == "poisson"


def test_onoff_fixed_sends_bursts_only_while_on():
    t = OnOff(1000, "100ms", "400ms", inner="constant").times(None, 0, 5)
    assert len(t) == 1000  # 10 bursts of exactly 100 messages
    assert np.all(np.mod(t, 0.5) < 0.1 + 1e-12)
    tp = OnOff(1000, "100ms", "400ms").times(rng(3), 0, 50)
    assert np.all(np.mod(tp, 0.5) < 0.1 + 1e-12)
    # 100 bursts with a Poisson(100) count each: mean 10 000, sd 100; allow 4 sd.
    assert abs(len(tp) - 10_000) < 400


def test_onoff_exponential_periods_have_the_right_means_and_do_not_depend_on_chunking():
    proc = OnOff(100, "1s", "3s", durations="exponential")
    s, e = proc.on_periods(rng(7), 0, 40_000)
    on, off = e - s, s[1:] - e[:-1]
    # ~10 000 periods each; the mean of n exponentials has sd mean/sqrt(n): allow 4 sd.
    assert abs(on.mean() - 1.0) < 4 * 1.0 / np.sqrt(len(on))
    assert abs(off.mean() - 3.0) < 4 * 3.0 / np.sqrt(len(off))
    assert abs(np.std(on) / on.mean() - 1) < 0.05  # exponential: coefficient of variation 1
    assert np.all(off > 0)
    s2, e2 = proc.on_periods(rng(7), 12_345.6, 12_400.0)
    inside = (e > 12_345.6) & (s < 12_400.0)
    assert np.array_equal(s2, s[inside]) and np.array_equal(e2, e[inside])
    s3, _ = OnOff(100, "1s", "3s", durations="exponential").on_periods(rng(8), 0, 100)
    assert not np.array_equal(s3[:5], s[:5])  # another stream, another schedule


def test_poisson_counts_and_gaps_match_theory_even_when_chunked():
    rate, span = 2000.0, 50.0
    cuts = np.arange(0, span + 1e-9, 0.137)
    cuts[-1] = span
    t = chunked(Poisson(rate), rng(11), cuts)
    n = len(t)
    # Count ~ Poisson(100 000): sd ≈ 316; allow 4 sd.
    assert abs(n - rate * span) < 4 * np.sqrt(rate * span)
    gaps = np.diff(t)
    # Exponential gaps: mean 1/rate within 4 standard errors, coefficient of variation ≈ 1.
    assert abs(gaps.mean() - 1 / rate) < 4 * (1 / rate) / np.sqrt(len(gaps))
    assert abs(gaps.std() / gaps.mean() - 1) < 0.02
    # Counts in 0.1 s bins: index of dispersion var/mean ≈ 1 (sd ≈ sqrt(2/499) ≈ 0.063).
    counts = np.bincount((t / 0.1).astype(int), minlength=500)
    assert abs(counts.var(ddof=1) / counts.mean() - 1) < 0.3


def test_random_arrivals_need_a_stream_and_are_reproducible():
    with pytest.raises(ValueError, match="random stream"):
        Poisson(10).times(None, 0, 1)
    with pytest.raises(ValueError, match="random"):
        Poisson(10).count(0, 1)
    assert np.array_equal(Poisson(100).times(rng(4), 0, 5), Poisson(100).times(rng(4), 0, 5))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Poisson(-1), "Poisson.rate must not be negative"),
        (lambda: Constant("fast"), "Constant.rate must be a number of messages per second"),
        (lambda: OnOff(10, 0, 1), "OnOff.on must be a positive"),
        (lambda: OnOff(10, "1s", "1s", inner="bursty"), "OnOff.inner must be"),
        (lambda: OnOff(10, "1s", "1s", durations="pareto"), "OnOff.durations must be"),
        (lambda: Constant(10, offset="soon"), "Constant.offset"),
        (lambda: parse_arrivals("possion:10"), "did you mean 'poisson'"),
        (lambda: parse_arrivals("onoff:10,on=1s,of=2s"), "unknown field 'of'"),
        (lambda: parse_arrivals("onoff:10,on=1s"), "onoff needs 'off'"),
    ],
)
def test_bad_arrival_parameters_are_rejected_with_a_clear_message(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_arrival_short_forms():
    assert parse_arrivals("poisson:1000") == Poisson(1000)
    assert parse_arrivals("onoff:50,on=1s,off=500ms,inner=constant") == OnOff(
        50, 1.0, 0.5, inner="constant")
    assert parse_arrivals({"kind": "constant", "rate": 5, "offset": "10ms"}) == Constant(5, 0.01)
    assert OnOff(10, "1s", "3s").mean_rate == pytest.approx(2.5)


# ---------------------------------------------------------------- distributions


def test_sizes_and_durations_parse_units():
    assert Fixed("1kb").draw(None, 3).tolist() == [1024.0] * 3
    assert Exponential("2ms").mean == pytest.approx(0.002)
    assert Uniform(100, "1kb").hi == 1024
    assert parse_quantity("1m", kind="size") == 1_000_000
    assert parse_quantity("1m", kind="duration") == 60
    with pytest.raises(ValueError, match="ambiguous"):
        Fixed("1m")
    with pytest.raises(ValueError, match="hi"):
        Uniform(10, 5)
    with pytest.raises(ValueError, match="non-negative"):
        Exponential(-1)


@pytest.mark.parametrize(
    "dist",
    [Uniform(100, 300), Exponential("2ms"), LogNormal("1kb", 0.5),
     Empirical((100, 1000, 10_000), (0.7, 0.2, 0.1))],
    ids=lambda d: type(d).__name__,
)
def test_distribution_sample_means_match(dist):
    x = dist.draw(rng(21), 200_000)
    assert x.shape == (200_000,) and np.all(x >= 0)
    # Sample mean within 4 standard errors of the stated mean.
    assert abs(x.mean() - dist.mean) < 4 * x.std() / np.sqrt(len(x))


def test_empirical_frequencies_and_lognormal_is_parametrised_by_mean():
    emp = Empirical((1, 2, 3), (1, 1, 2))
    freq = np.bincount(emp.draw(rng(2), 100_000).astype(int), minlength=4)[1:] / 100_000
    np.testing.assert_allclose(freq, [0.25, 0.25, 0.5], atol=0.01)
    assert LogNormal(1000, 1.0).mu == pytest.approx(np.log(1000) - 0.5)
    with pytest.raises(ValueError, match="3 values but 2 weights"):
        Empirical((1, 2, 3), (1, 1))


def test_distribution_short_forms():
    assert parse_distribution("1kb", kind="size") == Fixed(1024)
    assert parse_distribution(100) == Fixed(100)
    assert parse_distribution("exp:2ms") == Exponential(0.002)
    assert parse_distribution("lognormal:1kb,0.5", kind="size") == LogNormal(1024, 0.5)
    assert parse_distribution("uniform:1m,2m", kind="size") == Uniform(1e6, 2e6)
    assert parse_distribution({"kind": "exp", "mean": "1s"}) == Exponential(1.0)
    assert parse_distribution("empirical:100@0.9,1kb@0.1", kind="size") == Empirical(
        (100, 1024), (0.9, 0.1))
    with pytest.raises(ValueError, match="did you mean 'lognormal'"):
        parse_distribution("lognormall:1kb,0.5")


def test_zipf_has_exact_bounded_probabilities_and_matching_frequencies():
    z = Zipf(50, 1.2)
    k = np.arange(1, 51)
    np.testing.assert_allclose(z.probabilities, k**-1.2 / np.sum(k**-1.2), rtol=1e-12)
    n = 200_000
    observed = np.bincount(z.draw(rng(9), n), minlength=50)
    expected = n * z.probabilities
    chi2 = np.sum((observed - expected) ** 2 / expected)
    df = 49
    # chi-square(49) has mean 49 and sd ≈ 9.9; 6 sd above the mean is p < 1e-6.
    assert chi2 < df + 6 * np.sqrt(2 * df)
    assert Zipf(1, 2).draw(rng(), 5).tolist() == [0] * 5
    np.testing.assert_allclose(Zipf(4, 0).probabilities, 0.25)
    uniform = np.bincount(UniformChoice(4).draw(rng(3), 40_000), minlength=4)
    assert np.all(np.abs(uniform - 10_000) < 400)  # sd ≈ 87


def test_round_robin_and_choice_short_forms():
    assert RoundRobin(3).draw(None, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert RoundRobin(3).draw(None, 4, first=5).tolist() == [2, 0, 1, 2]
    assert parse_choice("zipf:100,1.1") == Zipf(100, 1.1)
    assert parse_choice("round-robin:8") == RoundRobin(8)
    assert parse_choice({"kind": "uniform", "n": 4}) == UniformChoice(4)
    with pytest.raises(ValueError, match="positive integer"):
        Zipf(0)
    with pytest.raises(ValueError, match="did you mean 'zipf'"):
        parse_choice("zpif:10")


# ---------------------------------------------------------------- workloads


def mixed_workload(duration=3.0, chunk=0.1):
    return Workload(
        (
            ProducerSpec("orders", ("orders", "payments"), Poisson(3000),
                         LogNormal("1kb", 0.5), keys=Zipf(100, 1.1)),
            ProducerSpec("ticks", "ticks", Constant(1000), 64, keys=RoundRobin(8),
                         start="250ms", stop=2.5),
            ProducerSpec("bursts", "orders", OnOff(5000, "100ms", "300ms"), "uniform:10,1kb",
                         keys=RoundRobin(5)),
        ),
        duration=duration, name="mixed", chunk=chunk,
    )


def test_generate_merges_producers_into_sorted_columns():
    w = mixed_workload()
    b = w.generate(Simulation(seed=3))
    assert w.targets == ("orders", "payments", "ticks")
    assert np.all(np.diff(b.t) >= 0) and b.t[0] >= 0 and b.t[-1] < 3
    assert b.producer.dtype == np.int32 and b.target.dtype == np.int32
    assert b.size.dtype == np.int64 and b.key.dtype == np.int64
    ticks = b[b.producer == 1]
    assert len(ticks) == 2250 and ticks.t[0] == 0.25  # Constant(1000) over [0.25 s, 2.5 s)
    assert set(ticks.target.tolist()) == {2} and set(ticks.size.tolist()) == {64}
    assert ticks.key.tolist() == (np.arange(2250) % 8).tolist()
    orders = b[b.producer == 0]
    assert set(orders.target.tolist()) == {0, 1}
    assert orders.key.min() >= 0 and orders.key.max() < 100
    bursts = b[b.producer == 2]
    assert np.all((bursts.size >= 10) & (bursts.size <= 1024))
    assert np.all(np.mod(bursts.t, 0.4) < 0.1 + 1e-12)


def test_same_seed_same_messages_and_producers_use_their_own_streams():
    w = mixed_workload()
    a, b = w.generate(Simulation(seed=5)), w.generate(Simulation(seed=5))
    assert a.equals(b)
    assert not a.equals(w.generate(Simulation(seed=6)))
    # Dropping a producer leaves the others' messages untouched (named streams, not one global).
    alone = Workload(w.producers[:1], 3.0).generate(Simulation(seed=5))
    assert alone.equals(a[a.producer == 0])


def test_feed_gives_identical_messages_however_a_model_slices_time():
    w = mixed_workload()
    whole = MessageBatch.concatenate(w.feed(Simulation(seed=8)))
    feed = w.feed(Simulation(seed=8))
    steps = np.cumsum(rng(2).exponential(0.013, 400))
    parts = [feed.take(t) for t in steps[steps < 3]] + [feed.take(3.0)]
    assert feed.exhausted
    assert MessageBatch.concatenate(parts).equals(whole)
    # generate() on the workload's grid draws what the feed draws; other cuts draw other
    # (equally valid) Poisson messages — the fixed grid is what makes models agree.
    plain = Workload(w.producers[:1], 3.0)
    fed = MessageBatch.concatenate(plain.feed(Simulation(seed=8)))
    sim = Simulation(seed=8)
    grid = MessageBatch.concatenate(plain.generate(sim, k * 0.1, (k + 1) * 0.1) for k in range(30))
    assert grid.equals(fed)
    sim = Simulation(seed=8)
    cut = MessageBatch.concatenate(plain.generate(sim, k * 0.05, (k + 1) * 0.05)
                                   for k in range(60))
    assert not cut.equals(fed)
    # Round-robin keys continue across cells, Poisson arrivals or not.
    bursts = whole[whole.producer == 2]
    assert bursts.key.tolist() == (np.arange(len(bursts)) % 5).tolist()


def test_feed_next_time_and_no_going_back():
    feed = constant_rate(10, 1.0).feed(Simulation())
    assert feed.next_time() == 0.0
    assert len(feed.take(0.25)) == 3
    assert feed.next_time() == pytest.approx(0.3)
    with pytest.raises(ValueError, match="cannot go back"):
        feed.take(0.1)
    assert len(feed.take(5)) == 7 and feed.next_time() is None and feed.exhausted


def test_generate_in_consecutive_windows_is_exact_for_deterministic_producers():
    w = Workload((ProducerSpec("a", ("x", "y", "z"), Constant(700, 0.001), 10,
                               keys=RoundRobin(4), target_choice=RoundRobin(3), start=0.3),), 5)
    one = w.generate(Simulation())
    sim = Simulation()
    parts = [w.generate(sim, a, b) for a, b in [(0, 0.77), (0.77, 2.5), (2.5, 4.9), (4.9, 9)]]
    assert MessageBatch.concatenate(parts).equals(one)
    assert w.messages_between() == len(one) == 3290
    assert w.messages_between(1, 2) == 700


def test_round_robin_with_random_arrivals_must_use_a_feed():
    w = Workload((ProducerSpec("a", "x", Poisson(100), 10, keys=RoundRobin(4)),), 5)
    sim = Simulation()
    w.generate(sim, 0, 1)
    with pytest.raises(ValueError, match=r"producer 'a'.*workload.feed"):
        w.generate(sim, 1, 2)
    with pytest.raises(ValueError, match=r"producer 'a'.*random"):
        w.messages_between(0, 1)


def test_one_line_builders():
    w = constant_rate(1000, "10s", producers=3)
    b = w.generate(Simulation())
    assert len(b) == 10_000 == w.messages_between()
    np.testing.assert_allclose(np.diff(b.t), 0.001, atol=1e-9)  # staggered: one merged pace
    assert sorted(set(b.producer.tolist())) == [0, 1, 2]
    assert w.mean_rate == pytest.approx(1000)
    p = poisson(2000, 5, target="news", size="1kb", keys="uniform:16", producers=2)
    b = p.generate(Simulation(seed=1))
    assert abs(len(b) - 10_000) < 400 and set(b.size.tolist()) == {1024}
    assert p.targets == ("news",) and b.key.max() < 16
    assert key_bytes(7) == b"key-7" and key_bytes(-1) is None


def test_generating_a_million_messages_takes_well_under_a_second():
    w = mixed_workload(duration=1.0)
    w = Workload(
        (ProducerSpec("a", "t", Poisson(600_000), LogNormal("1kb", 0.5), keys=Zipf(1000, 1.1)),
         ProducerSpec("b", ("u", "v"), Constant(400_000), 100, keys=RoundRobin(16))),
        duration=1.0,
    )
    w.generate(Simulation(seed=1), 0, 0.01)  # warm up
    start = time.perf_counter()
    b = w.generate(Simulation(seed=2))
    elapsed = time.perf_counter() - start
    assert len(b) > 990_000
    assert elapsed < 1.0, f"{elapsed:.2f} s for {len(b)} messages"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ProducerSpec("p", "t", Poisson(-5), 10), "Poisson.rate must not be negative"),
        (lambda: ProducerSpec("p", "t", Poisson(5), 10, start=2, stop=1),
         r"producer 'p': stop \(1.0 s\) must be after start \(2.0 s\)"),
        (lambda: ProducerSpec("p", "t", 100, 10), "producer 'p': arrivals must be"),
        (lambda: ProducerSpec("p", "t", Poisson(5), None), "producer 'p': needs sizes"),
        (lambda: ProducerSpec("p", "t", Poisson(5), "big"), "producer 'p': sizes"),
        (lambda: ProducerSpec("p", None, Poisson(5), 10), "producer 'p': needs a target"),
        (lambda: ProducerSpec("p", ("a", "b"), Poisson(5), 10, target_choice=RoundRobin(3)),
         "3 items but there are 2 targets"),
        (lambda: ProducerSpec("", "t", Poisson(5), 10), "non-empty name"),
        (lambda: Workload((), 10), "no producers"),
        (lambda: Workload((ProducerSpec("p", "t", Poisson(1), 1),) * 2, 10), "names repeat"),
        (lambda: Workload((ProducerSpec("p", "t", Poisson(1), 1, start=20),), 10),
         "producer 'p': starts at 20.0 s"),
        (lambda: Workload((ProducerSpec("p", "t", Poisson(1), 1),), -1), "duration"),
        (lambda: ProducerSpec.from_dict({"name": "p", "target": "t", "arrival": "poisson:1"}),
         "unknown field 'arrival'; did you mean 'arrivals'"),
        (lambda: Workload.from_dict({"duraton": 5, "producers": []}),
         "unknown field 'duraton'; did you mean 'duration'"),
    ],
)
def test_bad_workloads_are_rejected_before_the_run(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_workload_from_a_parsed_file():
    w = Workload.from_dict({
        "name": "demo", "duration": "2s", "chunk": "50ms",
        "producers": [
            {"name": "a", "target": ["x", "y"], "arrivals": "poisson:1000",
             "sizes": "lognormal:1kb,0.5", "keys": "zipf:100,1.1", "stop": "1s"},
            {"name": "b", "target": "x", "arrivals": {"kind": "constant", "rate": 10},
             "sizes": "1m"},
        ],
    })
    assert w.duration == 2 and w.chunk == 0.05 and w.targets == ("x", "y")
    assert w.producers[0].keys == Zipf(100, 1.1) and w.producers[1].sizes == Fixed(1e6)
    assert len(w.generate(Simulation())) > 0


# ---------------------------------------------------------------- trace replay


def test_trace_file_is_read_with_units_comments_and_optional_columns():
    trace = TraceReplay(DATA / "workload_trace.csv")
    assert trace.t.tolist() == [0.0, 0.25, 0.5, 1.5, 1.5]
    assert trace.size.tolist() == [100, 1024, 200, 50, 60]
    assert trace.key.tolist() == [3, -1, 3, 0, 1]
    assert trace.target_names == ("news", "sports", "weather")
    assert trace.count(0, 1) == 3 and trace.deterministic
    with pytest.raises(ValueError):
        trace.t[0] = 5.0  # read-only


def test_trace_round_trips_through_csv(tmp_path):
    g = rng(12)
    t = np.cumsum(g.exponential(0.01, 500))
    original = TraceReplay(t, size=g.integers(0, 5000, 500), key=g.integers(-1, 9, 500),
                           target=g.choice(["a", "b", "c"], 500).tolist())
    original.to_csv(tmp_path / "out.csv")
    again = TraceReplay.read_csv(tmp_path / "out.csv")
    for column in ("t", "size", "key", "target"):
        assert np.array_equal(getattr(again, column), getattr(original, column)), column


def test_workload_replays_a_trace_with_its_sizes_keys_and_channels():
    trace = TraceReplay(DATA / "workload_trace.csv")
    w = Workload((ProducerSpec("replay", None, trace, None, start=1.0),
                  ProducerSpec("other", "sports", Constant(1), 7)), duration=10)
    assert w.targets == ("news", "sports", "weather")
    b = w.generate(Simulation())
    r = b[b.producer == 0]
    assert r.t.tolist() == [1.0, 1.25, 1.5, 2.5, 2.5]
    assert r.size.tolist() == [100, 1024, 200, 50, 60]
    assert r.key.tolist() == [3, -1, 3, 0, 1]
    assert r.target.tolist() == [0, 1, 0, 2, 0]
    assert w.messages_between(0, 2) == 3 + 2  # three trace rows and Constant(1) at 0 s and 1 s
    sim = Simulation()
    halves = [w.generate(sim, 0, 1.5), w.generate(sim, 1.5, 10)]
    assert MessageBatch.concatenate(halves).equals(b)
    with pytest.raises(ValueError, match="not in target"):
        ProducerSpec("r", "news", trace, None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty trace file"),
        ("size,key\n1,2\n", "line 1: need exactly one time column"),
        ("t,sise\n0,1\n", "line 1: unknown column 'sise'; did you mean 'size'"),
        ("t,size\n0,1\n0.5\n", "line 3: expected 2 fields"),
        ("t\n0\n1\n# note\nsoon\n", "line 5: field 't': cannot read 'soon'"),
        ("t_ms\n0\n1x\n", "line 3: field 't_ms': '1x' is not a number"),
        ("t\n1\n0.5\n", "line 3: field 't': time 0.5 is earlier than the previous row"),
        ("t\n0\nnan\n", "line 3: field 't': time must be finite"),
        ("t,key\n0,1\n1,k7\n", "line 3: field 'key': 'k7' is not a key id"),
        ("t,channel\n0,a\n1,\n", "line 3: field 'channel' is empty"),
        ("t,channel,topic\n0,a,b\n", "only one of target, channel, topic"),
    ],
)
def test_malformed_trace_files_name_the_line_and_field(tmp_path, content, message):
    path = tmp_path / "trace.csv"
    path.write_text(content)
    with pytest.raises(TraceFileError, match=message):
        TraceReplay(path)


def test_malformed_trace_fixture_and_missing_file():
    with pytest.raises(TraceFileError, match=r"workload_trace_bad.csv, line 3: field 'size'"):
        TraceReplay.read_csv(DATA / "workload_trace_bad.csv")
    with pytest.raises(TraceFileError, match="cannot read trace file"):
        TraceReplay.read_csv(DATA / "no-such-trace.csv")
    with pytest.raises(ValueError, match="non-decreasing"):
        TraceReplay([1.0, 0.5])


def test_trace_times_in_milliseconds_column(tmp_path):
    path = tmp_path / "ms.csv"
    path.write_text("t_ms,size\n0,10\n1.5,20\n2000,30\n")
    trace = TraceReplay(path)
    np.testing.assert_allclose(trace.t, [0.0, 0.0015, 2.0])
    assert trace.mean_rate == pytest.approx(1.5)
