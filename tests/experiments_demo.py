"""A tiny demo experiment for the experiment framework's tests (not part of the shipped registry).

Loaded with ``python -m experiments --experiments-module experiments_demo`` (with ``tests/`` on
``PYTHONPATH``). It stands in for a broker model: "redis" loses each message with probability
``loss.probability``, "kafka" loses none but is a little slower. Randomness comes from a
``Simulation``'s named streams, so the same seed gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from experiments.bench import BenchCase, BenchOutcome
from experiments.experiment import Experiment, Metric, Params, RunResult
from experiments.plotting import axis_label, new_figure, plot_cdf, save_figure
from sim import Simulation


def run(params: Params, seed: int) -> RunResult:
    """One replication: per model, the fraction lost and latency percentiles."""
    if params["fail"]:
        raise RuntimeError("demo failure requested with fail=true")
    sim = Simulation(seed=seed)
    n = params["messages"]
    lost = sim.rng("redis/loss").random(n) < params["loss.probability"]
    latencies = {
        "redis": sim.rng("redis/latency").exponential(params["latency.ms"], n)[~lost],
        "kafka": params["latency.ms"] * 2 + sim.rng("kafka/latency").exponential(1.0, n),
    }
    metrics = [Metric("redis", "lost", float(lost.mean()), "fraction"),
               Metric("kafka", "lost", 0.0, "fraction")]
    for model, lat in latencies.items():
        metrics += [Metric(model, "latency p50", float(np.percentile(lat, 50)), "ms"),
                    Metric(model, "delivered", len(lat), "messages")]
    return RunResult(metrics=metrics, series={f"{m}/latency": {"ms": v} for m, v in
                                              latencies.items()})


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Latency CDF of both models (first replication)."""
    fig, ax = new_figure("demo: delivery latency", axis_label("latency", "ms"),
                         axis_label("fraction of deliveries", ""))
    for model in ("redis", "kafka"):
        plot_cdf(ax, model, results[0].series[f"{model}/latency"]["ms"])
    return save_figure(fig, out_dir, "latency-cdf")


def check(results: Sequence[RunResult]) -> None:
    """Redis loses messages, Kafka none."""
    for r in results:
        assert r.value("redis", "lost") > r.value("kafka", "lost"), "redis should lose more"


EXPERIMENTS = (
    Experiment(
        name="demo",
        question="Does a push broker lose messages a log keeps?",
        expected="Redis loses about loss.probability of the messages; Kafka loses none.",
        params={"messages": 2000, "loss.probability": 0.1, "latency.ms": 1.0, "fail": False},
        quick={"messages": 500},
        run=run, plot=plot, check=check,
    ),
    Experiment(
        name="demo-noplot",
        question="Does the default figure appear when an experiment draws none?",
        expected="One default figure per metric.",
        params={"messages": 300, "loss.probability": 0.2, "latency.ms": 1.0, "fail": False},
        run=run,
    ),
)


def tiny_case(n: int) -> BenchOutcome:
    """A model-like bench case: records n deliveries in a numpy column, 8 bytes each."""
    times = np.arange(n, dtype=np.float64)
    return BenchOutcome(deliveries=n, trace_bytes=times.nbytes)


BENCH_CASES = (
    BenchCase("demo-fast", "numpy: one float per delivery", tiny_case, n=1000, unit="messages",
              baseline="naive-redis-fanout"),
)
