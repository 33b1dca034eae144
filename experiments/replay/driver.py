"""Run one model over a workload file, and search the maximum sustainable rate.

:func:`replay_model` runs the producers for the workload's duration, then lets the model
drain — until every owed copy is delivered or dropped, or ``drain`` seconds pass — and
accounts for the run.

:func:`find_max_rate` (OMB's ``producerRate: 0``) replays trial runs at different total rates
with the same seed. A trial is *sustainable* when

1. no copy is lost;
2. delivery keeps up: over the second half of the measured part, the receive backlog (copies
   owed and not yet delivered) grows by at most 1 % of the copies owed meanwhile, plus 1000
   copies (OMB's ``RECEIVE_BACKLOG_LIMIT``) — a queue that grows without bound fails, one that
   only fluctuates passes;
3. latency stays bounded: the p99 end-to-end latency is at most ``latency_bound`` (1 s by
   default, an analogue of OMB's optional ``TARGET_P99_END_TO_END_LATENCY``).

The search starts at the workload's rate (OMB's 10 000 msg/s for ``producerRate: 0``) and
doubles it while trials pass (halves it while they fail) to bracket the limit, then bisects
(geometrically) until the bracket is within ``tolerance`` (5 %). OMB instead adjusts the rate
of one long run every 3 s; separate trials are simpler to reason about and reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from experiments.replay.accounting import Sent, Tally, sent_messages, tally
from experiments.replay.adapters import ADAPTERS
from experiments.workloads import WorkloadFile
from sim.simulation import Simulation

RATE_LIMIT = 1e7
"""The search stops doubling here (messages per second)."""
BACKLOG_SLACK = 1000
"""OMB's ``RECEIVE_BACKLOG_LIMIT``: copies a sustainable run may fall behind by."""
BACKLOG_GROWTH = 0.01
"""Share of the copies owed that the backlog may grow by in a sustainable run."""


def default_drain(desc: WorkloadFile) -> float:
    """How long the model may take after sending ends: max(10 s, half the run)."""
    return max(10.0, 0.5 * desc.workload.duration)


def replay_model(desc: WorkloadFile, model: str, seed: int, drain: float | None = None
                 ) -> Tally:
    """Run ``desc`` through ``model`` (``"redis"`` or ``"kafka"``) and account for it."""
    sim = Simulation(seed=seed)
    run = ADAPTERS[model](desc, sim)
    sent = sent_messages(desc, seed)
    end = run.offset + desc.workload.duration
    sim.run(until=end)
    grace = default_drain(desc) if drain is None else drain
    owed = _owed_copies(desc, sent)

    def account() -> Tally:
        return tally(model, sim.trace, desc, sent, run.receivers, desc.warmup, run.offset)

    t, step = end, grace / 20
    while t < end + grace:
        if len(sim.trace.delivered) + len(sim.trace.dropped) >= owed:  # perhaps all done
            result = account()
            if not result.undelivered.any():
                return result
        t = min(t + step, end + grace)
        sim.run(until=t)
    return account()


def _owed_copies(desc: WorkloadFile, sent: Sent) -> int:
    per_target = np.array([sum(t in g.targets for g in desc.groups)
                           for t in desc.workload.targets], dtype=np.int64)
    return int(per_target[sent.target].sum())


def backlog_drain_time(desc: WorkloadFile, result: Tally) -> float:
    """Seconds from the end of the backlog pause until at most OMB's drained level of copies
    (``max(1000, (1 - backlogDrainRatio) × backlog / mean message size)``) is still owed;
    ``nan`` without a backlog or if it never drained."""
    if desc.backlog is None:
        return math.nan
    resume = desc.warmup + desc.backlog_build_time()
    sizes = [p.sizes.mean for p in desc.workload.producers if p.sizes is not None]
    capacity = desc.backlog.size / max(float(np.mean(sizes)) if sizes else 1.0, 1.0)
    level = max(1000.0, (1.0 - desc.backlog.drain_ratio) * capacity)
    last = max(float(result.done_t[-1]) if len(result.done_t) else resume, resume)
    grid = np.linspace(resume, last, 2001)
    owed = np.searchsorted(result.owed_t, grid, side="right")
    done = np.searchsorted(result.done_t, grid, side="right")
    drained = np.flatnonzero((owed - done) <= level)
    return float(grid[drained[0]] - resume) if len(drained) else math.nan


@dataclass(frozen=True)
class Trial:
    """One trial of the rate search."""

    rate: float
    sustainable: bool
    why: str


def judge(desc: WorkloadFile, result: Tally, latency_bound: float) -> tuple[bool, str]:
    """Whether a trial run was sustainable, and why (see the module docstring)."""
    lost = int(result.lost_total.sum())
    if lost:
        return False, f"{lost} copies lost"
    mid = desc.warmup + desc.measured_duration / 2
    end = desc.workload.duration
    b_mid, b_end = result.backlog_at(mid), result.backlog_at(end)
    owed = int(np.searchsorted(result.owed_t, end, side="right")
               - np.searchsorted(result.owed_t, mid, side="right"))
    if b_end - b_mid > BACKLOG_SLACK + BACKLOG_GROWTH * owed:
        return False, f"receive backlog grew from {b_mid} to {b_end} copies"
    if len(result.latency):
        p99 = float(np.percentile(result.latency, 99))
        if p99 > latency_bound:
            return False, f"p99 latency {p99 * 1e3:.4g} ms above {latency_bound * 1e3:g} ms"
    return True, f"kept up (backlog {b_mid} → {b_end} copies)"


def find_max_rate(desc: WorkloadFile, model: str, seed: int, *, start: float | None = None,
                  limit: float = RATE_LIMIT, tolerance: float = 0.05,
                  latency_bound: float = 1.0) -> tuple[float, list[Trial], Tally | None]:
    """The highest sustainable total rate (msg/s) of ``desc`` through ``model``, the trials
    made, and the account of the best sustainable trial (``None`` if even 1 msg/s failed)."""
    if not desc.groups:
        raise ValueError("the maximum-rate search needs subscribers to keep up")
    trials: list[Trial] = []

    def trial(rate: float) -> tuple[bool, Tally]:
        result = replay_model(desc.at_rate(rate), model, seed, drain=0.0)
        ok, why = judge(desc, result, latency_bound)
        trials.append(Trial(rate, ok, why))
        return ok, result

    rate = start or desc.workload.mean_rate
    ok, result = trial(rate)
    best: Tally | None = result if ok else None
    lo: float | None = rate if ok else None
    hi: float | None = None if ok else rate
    while ok and rate * 2 <= limit:
        rate *= 2
        ok, result = trial(rate)
        if ok:
            lo, best = rate, result
        else:
            hi = rate
    while lo is None and rate / 2 >= 1:
        rate /= 2
        ok, result = trial(rate)
        if ok:
            lo, best = rate, result
        else:
            hi = rate
    if lo is None:
        return 0.0, trials, None
    while hi is not None and hi / lo > 1 + tolerance:
        mid = math.sqrt(lo * hi)
        ok, result = trial(mid)
        if ok:
            lo, best = mid, result
        else:
            hi = mid
    return lo, trials, best
