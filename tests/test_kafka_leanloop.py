"""The consumer loops' lean lanes (``models.kafka.leanloop``) against the fast path they stand
in for (and so the event path): same deliveries, drops, commits, events, positions, committed
offsets and statistics — on the fast path's random workloads, and on stories that break a
steady cycle at every step: outside API calls, crashes, a member joining, faults."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.checker import assert_conserved, check_log
from tests.test_kafka_fastloop import LOOP_SPEC, WORKLOAD, assert_same, run, trimmed, workloads

STEADY = {"group": 0, "mode": "process_then_commit", "processing": 0.0, "max_records": 500,
          "max_wait": 500, "min_bytes": 1, "poll_ms": 100, "start": 0.0, "crash_at": None,
          "restart_after": None, "until": None}


def steady(**changes):
    """Two at-least-once members reading 4 partitions fed every 0.37 ms for 1.5 s."""
    w = {"seed": 2, "initial_delay": 0, "partitions": 4, "rf": 1, "linger": 0,
         "gaps": [0.00037] * 4000, "sizes": [700] * 4000, "parts": list(range(4)) * 1000,
         "loops": [STEADY, STEADY], "faults": [], "until": 2.0}
    w.update(changes)
    return w


def lanes(result):
    _s, k, _loops = result
    runner = getattr(k, "_lean_runner", None)
    return 0 if runner is None else runner.taken


def three_ways(w, actions=()):
    """The workload on the lean lanes, the fast path and the event path: all the same."""
    lean = run(True, w, lean=True, actions=actions)
    fast = run(True, w, lean=False, actions=actions)
    slow = run(False, w, actions=actions)
    assert_same(lean, fast)
    assert_same(lean, slow)
    return lean


@settings(max_examples=150, deadline=None)
@given(workloads)
def test_lean_lanes_match_the_fast_path(w):
    w = trimmed(w)
    assert_same(run(True, w, lean=True), run(True, w, lean=False))


LEAN_SPEC = {  # the loops the lanes take
    **LOOP_SPEC,
    "mode": st.just("process_then_commit"),
    "processing": st.just(0.0),
    "min_bytes": st.just(1),
    "start": st.sampled_from([0.0, 0.0137, 0.2]),
    "crash_at": st.sampled_from([None, None, 0.0213, 0.31]),
    "until": st.sampled_from([None, None, 0.45]),
    "partition_max": st.sampled_from([None, 1500, 4000]),
    "fetch_max": st.sampled_from([None, 2500]),
}
lean_specs = st.fixed_dictionaries(LEAN_SPEC)

lean_workloads = st.fixed_dictionaries({
    **WORKLOAD,
    "rf": st.just(1),
    "gaps": st.lists(st.floats(0.0, 0.004), min_size=1, max_size=150),
    "sizes": st.lists(st.integers(1, 3000), min_size=150, max_size=150),
    "parts": st.lists(st.integers(0, 3), min_size=150, max_size=150),
    "loops": st.lists(lean_specs, min_size=1, max_size=3),
    "faults": st.lists(st.tuples(st.sampled_from(["crash", "pause", "cut"]), st.integers(0, 1),
                                 st.floats(0.001, 0.6), st.floats(0.001, 0.2)), max_size=1),
    "until": st.just(1.0),
})

ACTIONS = ("seek", "pause", "resume", "commit", "stop", "join", "assignment")


def _outside(kind, index):
    """An API call on loop ``index``'s consumer from outside the loop."""
    def act(loops):
        if not loops:
            return
        loop = loops[index % len(loops)]
        c = loop.consumer
        if c is None or c.closed or not c.assignment():
            return
        tp = sorted(c.assignment())[0]
        if kind == "seek" and c.position(tp) is not None:
            c.seek(tp, max(0, c.position(tp) - 5))
        elif kind == "pause":
            c.pause(tp)
        elif kind == "resume":
            c.resume(*c.assignment())
        elif kind == "commit":
            c.commit_async()
        elif kind == "stop":
            loop.stop()
        elif kind == "join":
            from models.kafka.loops import ConsumerLoop
            extra = ConsumerLoop(c.cluster, {"group.id": c.group_id, "client.id": f"x{index}",
                                             "auto.offset.reset": "earliest"}, "t")
            extra.fast, extra.lean = loop.fast, loop.lean
            loops.append(extra)
        else:
            c.position(tp), c.committed(tp), c.lag()  # reads only
    return act


@settings(max_examples=100, deadline=None)
@given(lean_workloads, st.lists(st.tuples(st.floats(0.0, 0.9), st.sampled_from(ACTIONS),
                                          st.integers(0, 2)), max_size=3))
def test_lean_lanes_match_the_fast_path_whatever_breaks_in(w, calls):
    """Workloads the lanes take (zero processing, fetch.min.bytes 1, byte limits that cut
    fetches short) with outside calls, crashes, joins and faults at random times."""
    w = trimmed(w)
    actions = [(at, _outside(kind, i)) for at, kind, i in calls]
    assert_same(run(True, w, lean=True, actions=actions),
                run(True, w, lean=False, actions=actions))


@st.composite
def dense_workloads(draw):
    """Records a lane cannot keep up with one fetch at a time (a cycle of 1 ms against a
    record every 0.05–0.6 ms), so that whole cycles run in free windows (``Lane._turns``),
    with fetches that wait for the next batch, records left buffered by a small
    ``max.poll.records``, and fetches cut short by byte limits."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = draw(st.integers(100, 700))
    gap = draw(st.floats(0.00005, 0.0006))
    spec = st.fixed_dictionaries({**LEAN_SPEC,
                                  "crash_at": st.sampled_from([None, None, None, 0.31]),
                                  "until": st.sampled_from([None, None, None, 0.45])})
    return {"seed": draw(st.integers(0, 3)), "initial_delay": draw(st.sampled_from([0, 20])),
            "partitions": draw(st.integers(1, 4)), "rf": 1,
            "linger": draw(st.sampled_from([0, 1, 5])),
            "gaps": rng.exponential(gap, n).tolist(),
            "sizes": rng.integers(1, 3000, n).tolist(), "parts": rng.integers(0, 4, n).tolist(),
            "loops": draw(st.lists(spec, min_size=1, max_size=4)),
            "faults": draw(st.lists(st.tuples(st.sampled_from(["crash", "pause", "cut"]),
                                              st.integers(0, 1), st.floats(0.05, 0.6),
                                              st.floats(0.001, 0.2)), max_size=1)),
            "until": 1.0}


def _late_send(partition):
    """A record sent on its own (the producer's event path) to a partition the lanes read."""
    def act(loops):
        if loops:
            cluster = loops[0].consumer.cluster
            producer = cluster.producer({"client.id": f"late{partition}", "linger.ms": 0})
            partitions = len(cluster.topic("t").partitions)
            producer.send("t", b"x" * 50, partition=partition % partitions)
    return act


@settings(max_examples=60, deadline=None)
@given(dense_workloads(), st.lists(st.tuples(st.floats(0.0, 0.9), st.sampled_from(ACTIONS),
                                             st.integers(0, 3)), max_size=2),
       st.lists(st.tuples(st.floats(0.0, 0.95), st.integers(0, 3)), max_size=3))
def test_whole_cycles_in_free_windows_match_the_fast_path(w, calls, sends):
    actions = [(at, _outside(kind, i)) for at, kind, i in calls]
    actions += [(at, _late_send(p)) for at, p in sends]
    assert_same(run(True, w, lean=True, actions=actions),
                run(True, w, lean=False, actions=actions))


def _run_sweeping(sweeping, w, actions, most=1 << 30):
    """A lean run with sweeps on or off (of at most ``most`` cycles each), the trace written
    only when read (so that the rows' order can be compared too)."""
    import models.kafka.leanloop as leanloop
    saved = leanloop.SWEEPING, leanloop.FLUSH_CHUNKS, leanloop.SWEEP_CYCLES
    leanloop.SWEEPING, leanloop.FLUSH_CHUNKS, leanloop.SWEEP_CYCLES = sweeping, 1 << 40, most
    try:
        return run(True, w, lean=True, actions=actions)
    finally:
        leanloop.SWEEPING, leanloop.FLUSH_CHUNKS, leanloop.SWEEP_CYCLES = saved


def _lanes_state(cluster):
    runner = getattr(cluster, "_lean_runner", None)
    lanes = [] if runner is None else runner.lanes
    return [(lane.poll_token, lane.deadline, lane.polling, lane.c._last_poll,
             sorted((st.tp, st.position, st.checked, st.hw) for st in lane.parts))
            for lane in lanes]


def _probe(seen):
    """An action that notes the lanes' state (``seen``): simpy's events see the lanes exactly
    as far on as steps one at a time would have taken them."""
    def act(loops):
        if loops:
            seen.append(_lanes_state(loops[0].consumer.cluster))
    return act


def _columns(trace):
    return {(name, col): trace_table[col].tolist()
            for name, trace_table in (("delivered", trace.delivered),
                                      ("committed", trace.committed))
            for col in trace_table.columns}


@settings(max_examples=60, deadline=None)
@given(dense_workloads(), st.lists(st.tuples(st.floats(0.0, 0.9), st.sampled_from(ACTIONS),
                                             st.integers(0, 3)), max_size=2),
       st.lists(st.tuples(st.floats(0.0, 0.95), st.integers(0, 3)), max_size=3),
       st.sampled_from([1, 2, 5, 1 << 30]), st.lists(st.floats(0.0, 1.0), max_size=4))
def test_swept_cycles_are_the_cycles_one_at_a_time(w, calls, sends, most, probes):
    """``Lane._sweep`` (runs of whole cycles computed at once, cut where a byte or record
    limit would bite) against ``Lane._turns`` alone: the same trace, row for row in the same
    order, the same events and state. Short sweeps start from many more states."""
    actions = [(at, _outside(kind, i)) for at, kind, i in calls]
    actions += [(at, _late_send(p)) for at, p in sends]
    seen: dict[bool, list] = {True: [], False: []}
    swept = _run_sweeping(True, w, actions + [(at, _probe(seen[True])) for at in probes], most)
    turned = _run_sweeping(False, w, actions + [(at, _probe(seen[False])) for at in probes])
    assert _columns(swept[0].trace) == _columns(turned[0].trace)
    assert_same(swept, turned)
    assert seen[True] == seen[False]


def test_a_steady_group_runs_lean_and_checks_clean():
    lean = three_ways(steady())
    s, k, _loops = lean
    # the first member runs lean alone, hands back at the rebalance the second one causes,
    # then both run lean to the end
    assert lanes(lean) - k._lean_runner.released == 2
    assert len(s.trace.delivered) == 4000  # one group: every record once
    report = check_log(s.trace, drained=True)
    assert report.ok and not report.findings, report.explain()
    assert_conserved(report)


@pytest.mark.parametrize("at", [0.3, 0.30025, 0.3005, 0.30075, 0.301])
@pytest.mark.parametrize("action", ["seek", "pause", "commit", "crash", "close", "join"])
def test_outside_calls_hand_the_lane_back_at_any_step(action, at):
    """An API call from outside at times spread over one cycle (the fetch and the commit in
    flight, waiting, buffered records): the lane hands over mid-cycle, nothing changes."""
    def act(loops):
        c = loops[0].consumer
        tp = sorted(c.assignment())[0]
        if action == "seek":
            c.seek(tp, max(0, c.position(tp) - 7))
        elif action == "pause":
            c.pause(tp)
            c.env.process(_resume_later(c, tp))
        elif action == "commit":
            c.commit_async()
        elif action == "close":
            loops[0].stop()
        else:  # a third member joins: a rebalance
            from models.kafka.loops import ConsumerLoop
            extra = ConsumerLoop(c.cluster, {"group.id": "g0", "client.id": "c9",
                                             "auto.offset.reset": "earliest"}, "t")
            extra.fast = loops[0].fast
            extra.lean = loops[0].lean
            loops.append(extra)

    if action == "crash":  # the loop's own crash: the process dies, restarts 50 ms later
        crashing = {**STEADY, "crash_at": at, "restart_after": 0.05}
        lean = three_ways(steady(loops=[crashing, STEADY]))
    else:
        lean = three_ways(steady(), actions=[(at, act)])
    assert lanes(lean) >= 1


def _resume_later(c, tp):
    yield c.env.timeout(0.05)
    c.resume(tp)


@pytest.mark.parametrize("fault", [("crash", 0, 0.4, 0.2), ("pause", 0, 0.4, 0.05),
                                   ("cut", 0, 0.4, 0.05)])
def test_faults_hand_the_lanes_back(fault):
    lean = three_ways(steady(faults=[fault]))
    assert lanes(lean) >= 1 and lean[1]._lean_runner.released >= 1


def test_same_seed_same_trace_on_the_lean_lanes():
    from tests.trace_helpers import traces_equal
    a, b = run(True, steady(), lean=True), run(True, steady(), lean=True)
    assert traces_equal(a[0].trace, b[0].trace)
    assert np.array_equal(a[0].trace.committed["offset"], b[0].trace.committed["offset"])


def test_deliveries_owed_are_written_early_when_many_without_changing_the_trace(monkeypatch):
    import models.kafka.leanloop as leanloop
    whole = run(True, steady(), lean=True)
    monkeypatch.setattr(leanloop, "FLUSH_CHUNKS", 3)
    early = run(True, steady(), lean=True)
    assert_same(whole, early)


def test_free_windows_run_whole_cycles_and_wake_waiting_fetches_on_late_data():
    """Two groups read the steady feed; after it ends (1.48 s) their fetches wait, and records
    sent one by one (the producer's event path, not the planned batches the lanes read ahead)
    must wake them at once, as the partitions' own wake-ups do on the fast path."""
    def late_records(loops):
        producer = loops[0].consumer.cluster.producer({"client.id": "late", "linger.ms": 0})
        for p in range(4):
            producer.send("t", b"x" * 100, partition=p)

    w = steady(loops=[STEADY, STEADY, {**STEADY, "group": 1}, {**STEADY, "group": 1}])
    lean = three_ways(w, actions=[(1.7, late_records), (1.8123, late_records)])
    s, k, _loops = lean
    runner = k._lean_runner
    assert len(s.trace.delivered) == 2 * 4008
    assert runner.windows[0] > 0 and runner.turns > 1000
    assert runner.swept > 1000  # (``Lane._sweep``: runs of them at once)
    assert runner.reconsidered >= 2  # a waiting fetch per group at least, twice
    report = check_log(s.trace, drained=True)
    assert report.ok and not report.findings, report.explain()


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(0, 9)),
                min_size=1, max_size=30))
def test_flush_gathers_the_chunks_as_concatenating_their_slices_would(chunks):
    from models.kafka.leanloop import _gather
    columns = [np.arange(50) * (k + 1) for k in range(4)]  # a few log columns
    arrays = [columns[k] for k, _lo, _n in chunks]  # (the same array at several places)
    which = np.arange(len(chunks))[::-1]
    arrays.reverse()
    lo = np.array([i for _k, i, _n in chunks])
    hi = np.array([i + n for _k, i, n in chunks])
    msg, n = _gather(arrays, which, lo, hi)
    want = np.concatenate([arrays[w][i:j] for w, i, j in zip(which, lo, hi, strict=True)])
    assert msg.tolist() == want.tolist()
    assert n.tolist() == (hi - lo).tolist()
