"""Plan and execute runs: experiment x parameter point x replication, in-process or in parallel.

Executors (``--executor``): ``process`` (the default) runs in a ``ProcessPoolExecutor`` of
``jobs`` workers, or in this process when ``jobs`` is 1; ``serial`` always runs in this process,
one run after another; ``dask://HOST:PORT`` sends the runs to a Dask distributed scheduler
(``pip install 'brokersim[dask]'``), whose workers must be able to import brokersim (and any
``--experiments-module``) and read the files the runs name. A thread pool is not offered: a
run is pure-Python CPU work, so threads would only take turns on the GIL. Every executor gives
the same numbers: a run depends only on its parameters and seed.

Seeds: replication ``r`` of every experiment and every parameter point gets the same seed,
drawn from ``numpy.random.SeedSequence(root_seed).spawn(...)[r]``. So the points of a sweep see
common random numbers (their differences are due to the parameter, not to luck), adding
replications keeps the earlier ones' seeds, and a rerun with the same root seed reproduces every
number. Results come back in plan order whatever order the workers finish in.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
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
    closest,
)

LOCAL_EXECUTORS = ("process", "serial")
DASK_SCHEME = "dask://"
DASK_CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a Dask scheduler before giving up."""


@dataclass(frozen=True)
class ExecutorSpec:
    """Where runs execute: ``kind`` is ``"process"``, ``"serial"`` or ``"dask"`` (with the
    scheduler ``address``, e.g. ``"tcp://10.0.0.5:8786"``)."""

    kind: str
    address: str = ""

    def __str__(self) -> str:
        return f"dask://{self.address}" if self.kind == "dask" else self.kind


def parse_executor(text: str | ExecutorSpec) -> ExecutorSpec:
    """``"process"``, ``"serial"`` or ``"dask://HOST:PORT"`` (any Dask address after
    ``dask://``: ``dask://tls://host:8786`` too); anything else is a :class:`UsageError`."""
    if isinstance(text, ExecutorSpec):
        return text
    value = text.strip()
    if value in LOCAL_EXECUTORS:
        return ExecutorSpec(value)
    if value.startswith(DASK_SCHEME):
        address = value[len(DASK_SCHEME):]
        if not address:
            raise UsageError("--executor dask:// needs the scheduler's address, "
                             "e.g. dask://127.0.0.1:8786")
        return ExecutorSpec("dask", address if "://" in address else f"tcp://{address}")
    hint = closest(value, LOCAL_EXECUTORS)
    suggestion = f"; did you mean {hint!r}?" if hint else ""
    raise UsageError(f"unknown executor {text!r}{suggestion} (use process, serial or "
                     "dask://HOST:PORT)")


@contextlib.contextmanager
def open_executor(spec: ExecutorSpec, jobs: int, runs: int) -> Iterator[Executor | None]:
    """The ``concurrent.futures`` executor for ``spec``, or ``None`` to run in this process.

    On an exception (Ctrl-C included) pending runs are cancelled.
    """
    if spec.kind == "serial" or (spec.kind == "process" and (jobs <= 1 or runs <= 1)):
        yield None
        return
    if spec.kind == "process":
        pool = ProcessPoolExecutor(max_workers=min(jobs, runs))
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(f"--executor {spec} needs Dask: pip install 'brokersim[dask]' "
                         "(or pip install 'dask[distributed]')") from None
    try:
        client = Client(spec.address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {spec.address}: {exc}") from None
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()


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
    executor: str | ExecutorSpec = "process",
) -> list[RunResult]:
    """Run every spec on ``executor`` (see the module docstring) and return results in spec
    order.

    The progress bar goes to stderr and only when it is a terminal. Ctrl-C cancels pending runs
    and propagates ``KeyboardInterrupt``.
    """
    from tqdm import tqdm

    spec_of = parse_executor(executor)
    version = brokersim_version()
    bar = tqdm(total=len(specs), desc="runs", unit="run", file=sys.stderr,
               disable=not (progress and sys.stderr.isatty()))
    with bar, open_executor(spec_of, jobs, len(specs)) as pool:
        if pool is None:
            results = []
            for spec in specs:
                results.append(run_one(experiments[spec.experiment].run, spec, version))
                bar.update()
            return results
        slots: list[RunResult | None] = [None] * len(specs)
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
    executor: str | ExecutorSpec = "process",
) -> list[RunResult]:
    """Plan and execute one experiment without a progress bar (for tests and notebooks).

    ``experiment.check(run_experiment(experiment, quick=True, replications=2))`` is how a
    scenario's test asserts its expected outcome.
    """
    specs = plan([experiment], seed=seed, replications=replications, quick=quick,
                 overrides=overrides, sweep=sweep)
    return execute({experiment.name: experiment}, specs, jobs=jobs, progress=False,
                   executor=executor)
