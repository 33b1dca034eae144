"""Replay a workload file through both models: ``python -m experiments replay FILE``.

:func:`replay_experiment` turns a workload file (TOML or OpenMessaging Benchmark YAML, see
:mod:`experiments.workloads`) into an :class:`~experiments.experiment.Experiment` whose runs
replay it through each model — per model a small adapter (:func:`replay_redis`,
:func:`replay_kafka`) sets the broker up in a fresh simulation, then the run is accounted for
from the trace (:mod:`.accounting`). So a replay writes what ``run`` writes — tidy
``results.csv``, figures, ``report.md`` — with, per model: messages published; copies owed,
delivered, duplicated, lost (by cause) and undelivered at the end, in total, per group and per
receiver; end-to-end latency percentiles; publish and delivery rates. With ``producerRate: 0``
(``find_max_rate``) each model's maximum sustainable rate is searched first and reported as
``max_rate``, with the metrics of the best sustainable trial (:mod:`.driver`).

``time_scale`` compresses the schedule (``0.01`` replays 1 % of the duration, warm-up and
backlog at the same rates); ``duration`` (seconds, 0 = as in the file) replaces the measured
part after that.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from experiments.experiment import Experiment, Metric, Params, RunResult
from experiments.replay.adapters import (
    ADAPTERS,
    kafka_available,
    mapping_notes,
    replay_kafka,
    replay_redis,
)
from experiments.replay.driver import backlog_drain_time, find_max_rate, replay_model
from experiments.replay.figures import latency_cdf, rate_search, timeline
from experiments.workloads import WorkloadFile, load_workload_file

MODELS: tuple[str, ...] = tuple(ADAPTERS)


def prepare(path: str | Path, time_scale: float = 1.0, duration: float = 0.0) -> WorkloadFile:
    """Load a workload file and put it on the replay's schedule (see the module docstring)."""
    desc = load_workload_file(path).scaled(time_scale)
    if duration:
        desc = desc.with_duration(duration)
    return desc


def replay(desc: WorkloadFile, seed: int, models: Sequence[str] = MODELS,
           drain: float | None = None) -> RunResult:
    """Replay ``desc`` through each of ``models`` with ``seed``; metrics and plot series."""
    metrics: list[Metric] = []
    series: dict[str, dict[str, np.ndarray]] = {}
    window = (desc.warmup, desc.workload.duration)
    for model in models:
        if desc.find_max_rate:
            rate, trials, result = find_max_rate(desc, model, seed)
            metrics += [Metric(model, "max_rate", rate, "msg/s"),
                        Metric(model, "search_trials", len(trials), "runs")]
            series[f"{model}/search"] = {
                "rate": np.array([t.rate for t in trials]),
                "sustainable": np.array([t.sustainable for t in trials])}
            if result is None:
                continue
            # The trials stop when sending stops; report that rate's metrics after a drain.
            result = replay_model(desc.at_rate(rate), model, seed, drain)
        else:
            result = replay_model(desc, model, seed, drain)
        metrics += result.metrics(window)
        metrics.append(Metric(model, "unowed_copies", result.strays, "copies"))
        if desc.backlog is not None:
            metrics.append(Metric(model, "backlog_drain_time",
                                  backlog_drain_time(desc, result), "s"))
        series[model] = result.series(float(result.done_t[-1]) if len(result.done_t)
                                      else desc.workload.duration)
    return RunResult(metrics=metrics, series=series)


def run_replay(params: Params, seed: int) -> RunResult:
    """The experiment's ``run``: load ``params["file"]`` and replay it (module-level, so that
    worker processes and Dask workers find it by reference)."""
    desc = prepare(params["file"], params["time_scale"], params["duration"])
    models = tuple(m for m in str(params["models"]).split(",") if m)
    return replay(desc, seed, models)


def _title(results: Sequence[RunResult]) -> str:
    return Path(str(results[0].params["file"])).stem


def plot_replay(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Figures of the first replication: latency CDF, timeline, rate search."""
    first = results[0]
    desc = prepare(first.params["file"], first.params["time_scale"], first.params["duration"])
    shade = [(0.0, desc.warmup, "warm-up")]
    if desc.backlog is not None:
        shade.append((desc.warmup, desc.warmup + desc.backlog_build_time(), "receivers paused"))
    title = _title(results)
    return [*latency_cdf(first, out_dir, title), *timeline(first, out_dir, title, shade),
            *rate_search(first, out_dir, title)]


def check_replay(results: Sequence[RunResult]) -> None:
    """Conservation: every owed copy is delivered, lost with a cause, or undelivered at the
    end, and nothing reached a group that was not owed it."""
    for r in results:
        for model in dict.fromkeys(m.model for m in r.metrics):
            if not any(m.model == model and m.metric == "owed" for m in r.metrics):
                continue  # a rate search without a sustainable trial
            owed, got, lost, left = (r.value(model, k) for k in (
                "owed", "delivered", "lost", "undelivered_at_end"))
            assert left >= 0 and owed == got + lost + left, (
                f"{model}: owed {owed} != delivered {got} + lost {lost} + undelivered {left}")
            assert r.value(model, "unowed_copies") == 0, (
                f"{model}: copies reached groups that were not owed them")


def experiment_name(path: str | Path) -> str:
    """``replay-<file stem>``, in the characters experiment names allow."""
    stem = re.sub(r"[^a-z0-9_-]+", "-", Path(path).stem.lower()).strip("-_")
    return f"replay-{stem or 'workload'}"


def replay_experiment(path: str | Path, *, time_scale: float = 1.0, duration: float = 0.0,
                      models: Sequence[str] = MODELS) -> tuple[Experiment, WorkloadFile]:
    """The experiment replaying ``path``, and the prepared description (for the report).

    The file is read and checked here, before any run: a malformed file raises
    :class:`~experiments.workloads.WorkloadFileError`, a bad option ``ValueError``.
    """
    if not (math.isfinite(time_scale) and time_scale > 0):
        raise ValueError(f"--time-scale must be a positive number, not {time_scale}")
    unknown = [m for m in models if m not in ADAPTERS]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {unknown}; choose among {', '.join(ADAPTERS)}")
    desc = prepare(path, time_scale, duration)
    if desc.find_max_rate and not desc.groups:
        raise ValueError(f"{path}: searching the maximum rate needs subscribers")
    params: dict[str, Any] = {"file": str(Path(path).resolve()), "time_scale": float(time_scale),
                              "duration": float(duration), "models": ",".join(models)}
    what = "the maximum sustainable rate of" if desc.find_max_rate else "what happens to"
    exp = Experiment(
        name=experiment_name(path),
        question=f"Replaying workload {desc.name!r} through {' and '.join(models)}: "
                 f"{what} the messages each group is owed?",
        expected="Every copy a group is owed is accounted for: delivered, lost with a traced "
                 "cause, or still undelivered when the run ends (conservation).",
        params=params, run=run_replay, plot=plot_replay, check=check_replay)
    return exp, desc


__all__ = [
    "MODELS",
    "check_replay",
    "experiment_name",
    "kafka_available",
    "mapping_notes",
    "prepare",
    "replay",
    "replay_experiment",
    "replay_kafka",
    "replay_model",
    "replay_redis",
    "run_replay",
]
