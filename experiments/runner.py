"""Plan and execute runs: experiment x parameter point x replication, in-process or in parallel.

Seeds: replication ``r`` of every experiment and every parameter point gets the same seed,
drawn from ``numpy.random.SeedSequence(root_seed).spawn(...)[r]``. So the points of a sweep see
common random numbers (their differences are due to the parameter, not to luck), adding
replications keeps the earlier ones' seeds, and a rerun with the same root seed reproduces every
number. Results come back in plan order whatever order the workers finish in.
"""

from __future__ import annotations

import itertools
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from experiments.experiment import (
    Experiment,
    Params,
    RunResult,
    UsageError,
    brokersim_version,
    check_known,
)


@dataclass(frozen=True)
class RunSpec:
    """One run to do: which experiment, at which parameter point, which replication and seed."""

    experiment: str
    point: str
    params: Mapping[str, Any]
    replication: int
    seed: int


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Seeds for replications ``0..replications-1``, derived from the root ``seed``.

    Child ``r`` of ``SeedSequence(seed)`` does not depend on how many children are spawned.
    """
    if replications < 1:
        raise UsageError(f"--replications must be at least 1, not {replications}")
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, not {seed}")
    children = np.random.SeedSequence(seed).spawn(replications)
    return [int(child.generate_state(1, np.uint32)[0]) for child in children]


def grid(sweep: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of the swept values, first key slowest (``[{}]`` if none)."""
    keys = list(sweep)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*sweep.values())]


def point_label(params: Mapping[str, Any], swept: Sequence[str]) -> str:
    """``"subscribers=10,rate=1000"`` for the swept keys, or ``"default"`` without a sweep."""
    return ",".join(f"{key}={params[key]}" for key in swept) or "default"


def plan(
    experiments: Sequence[Experiment],
    *,
    seed: int = 0,
    replications: int = 1,
    quick: bool = False,
    overrides: Params | None = None,
    sweep: Mapping[str, Sequence[Any]] | None = None,
) -> list[RunSpec]:
    """Every run of ``experiments``: each parameter point of ``sweep`` x each replication.

    ``overrides`` (``--set``) and ``sweep`` (``--param``) keys must each be a parameter of at
    least one of the experiments; each experiment takes the keys it has. ``str`` values are
    command-line text, converted to the type of the parameter's default.
    """
    overrides, sweep = dict(overrides or {}), dict(sweep or {})
    known = {key for exp in experiments for key in exp.params}
    where = (f" of experiment {experiments[0].name!r}" if len(experiments) == 1
             else " (in none of the chosen experiments)")
    for key in [*overrides, *sweep]:
        check_known(key, known, "parameter", where=where)
    seeds = replication_seeds(seed, replications)
    specs = []
    for exp in experiments:
        mine = {k: v for k, v in overrides.items() if k in exp.params}
        my_sweep = {k: v for k, v in sweep.items() if k in exp.params}
        for point in grid(my_sweep):
            params = exp.resolve(mine, point, quick=quick)
            label = point_label(params, list(my_sweep))
            specs += [RunSpec(exp.name, label, params, r, s) for r, s in enumerate(seeds)]
    return specs


def run_one(run: Callable[[Params, int], RunResult], spec: RunSpec, version: str) -> RunResult:
    """Do one run; return its result carrying config, seed, wall time and any error."""
    start = time.perf_counter()
    try:
        result = run(dict(spec.params), spec.seed)
        if not isinstance(result, RunResult):
            raise TypeError(f"run() returned {type(result).__name__}, not RunResult")
        error = None
    except Exception:
        result, error = RunResult(), traceback.format_exc()
    return _stamp(result, spec, version, time.perf_counter() - start, error)


def _stamp(result: RunResult, spec: RunSpec, version: str, wall: float,
           error: str | None) -> RunResult:
    return replace(result, experiment=spec.experiment, params=dict(spec.params), point=spec.point,
                   replication=spec.replication, seed=spec.seed, wall_time_s=wall,
                   version=version, error=error)


def execute(
    experiments: Mapping[str, Experiment],
    specs: Sequence[RunSpec],
    *,
    jobs: int = 1,
    progress: bool = True,
) -> list[RunResult]:
    """Run every spec (``jobs`` > 1: in a process pool) and return results in spec order.

    The progress bar goes to stderr and only when it is a terminal. Ctrl-C cancels pending runs
    and propagates ``KeyboardInterrupt``.
    """
    from tqdm import tqdm

    version = brokersim_version()
    bar = tqdm(total=len(specs), desc="runs", unit="run", file=sys.stderr,
               disable=not (progress and sys.stderr.isatty()))
    with bar:
        if jobs <= 1:
            results = []
            for spec in specs:
                results.append(run_one(experiments[spec.experiment].run, spec, version))
                bar.update()
            return results
        slots: list[RunResult | None] = [None] * len(specs)
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(specs)))
        try:
            futures: dict[Future[RunResult], int] = {
                pool.submit(run_one, experiments[spec.experiment].run, spec, version): i
                for i, spec in enumerate(specs)
            }
            for future in as_completed(futures):
                i = futures[future]
                try:
                    slots[i] = future.result()
                except Exception:  # the worker died, or the result could not be pickled
                    slots[i] = _stamp(RunResult(), specs[i], version, 0.0, traceback.format_exc())
                bar.update()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return [r for r in slots if r is not None]


def run_experiment(
    experiment: Experiment,
    *,
    seed: int = 0,
    replications: int = 1,
    quick: bool = False,
    overrides: Params | None = None,
    sweep: Mapping[str, Sequence[Any]] | None = None,
    jobs: int = 1,
) -> list[RunResult]:
    """Plan and execute one experiment without a progress bar (for tests and notebooks).

    ``experiment.check(run_experiment(experiment, quick=True, replications=2))`` is how a
    scenario's test asserts its expected outcome.
    """
    specs = plan([experiment], seed=seed, replications=replications, quick=quick,
                 overrides=overrides, sweep=sweep)
    return execute({experiment.name: experiment}, specs, jobs=jobs, progress=False)
