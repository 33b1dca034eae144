"""Fire-and-forget: a receiver offline for a while.

Redis Pub/Sub stores nothing, so a subscriber that is away misses exactly what was published
meanwhile (``docs/interact/pubsub.md``, "Delivery semantics": at-most-once). A Kafka consumer
resumes from its committed offset and loses nothing while the records are retained.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from experiments.experiment import Experiment, Metric, RunResult
from experiments.plotting import axis_label, model_style, save_figure
from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.arrivals import Constant
from sim.workload import ProducerSpec, Workload


def _per_second(times: np.ndarray, duration: float) -> tuple[np.ndarray, np.ndarray]:
    edges = np.arange(0.0, np.ceil(duration) + 1.0)
    counts, _ = np.histogram(times, bins=edges)
    return edges[:-1], counts


def _workload(params) -> Workload:
    """Evenly paced messages, half a period off the whole second so no send coincides with the
    moment the receiver leaves or comes back (a tie Redis resolves by arrival order)."""
    rate = float(params["rate"])
    producer = ProducerSpec("producer", "events", Constant(rate, offset=0.5 / rate),
                            params["message_size"])
    return Workload((producer,), params["duration"], "fire-and-forget")


def run_redis(params, seed: int) -> tuple[list[Metric], dict]:
    sim = Simulation(seed=seed)
    server = RedisPubSub(sim)
    workload = _workload(params)
    sub = Subscriber(server, "subscriber", ["events"], reconnect_delay=None)
    sub.go_offline(at=params["offline_at"], duration=params["offline_for"])
    server.publish_workload(workload)
    sim.run(until=params["duration"] + 5)
    trace = sim.trace
    sent = trace.published["t"]
    window = (sent >= params["offline_at"]) & (sent < params["offline_at"] + params["offline_for"])
    published_at = dict(zip(trace.published["msg"].tolist(), sent.tolist(), strict=True))
    lost_t = np.array([published_at[m] for m in trace.dropped["msg"].tolist()])
    delivered_t = np.array([published_at[m] for m in trace.delivered["msg"].tolist()])
    metrics = [
        Metric("redis", "published", len(sent), "messages"),
        Metric("redis", "published_while_offline", int(window.sum()), "messages"),
        Metric("redis", "delivered", len(delivered_t), "messages"),
        Metric("redis", "lost", len(lost_t), "messages"),
        Metric("redis", "lost_fraction", len(lost_t) / max(len(sent), 1), "fraction"),
    ]
    duration = params["duration"]
    t, published = _per_second(sent, duration)
    series = {"redis": {"t": t, "published": published,
                        "delivered": _per_second(delivered_t, duration)[1],
                        "lost": _per_second(lost_t, duration)[1]}}
    return metrics, series


def run(params, seed: int) -> RunResult:
    metrics, series = run_redis(params, seed)
    return RunResult(metrics=metrics, series=series)


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    first = results[0]
    p = first.params
    models = list(first.series)

    fig = Figure(figsize=(7.0, 2.6 * len(models) + 0.6), layout="constrained")
    axes = fig.subplots(len(models), 1, sharex=True, squeeze=False)[:, 0]
    for ax, model in zip(axes, models, strict=True):
        s = first.series[model]
        style = model_style(model)
        ax.axvspan(p["offline_at"], p["offline_at"] + p["offline_for"], color="0.88", zorder=0,
                   label="receiver offline")
        ax.plot(s["t"], np.cumsum(s["published"]), color="0.3", linestyle="--", linewidth=2,
                label="published")
        ax.plot(s["t"], np.cumsum(s["delivered"]), color=style.color, marker=style.marker,
                markevery=max(len(s["t"]) // 12, 1), label="delivered")
        ax.plot(s["t"], np.cumsum(s["lost"]), color="black", linestyle=":", linewidth=2,
                label="lost")
        ax.set_title(f"{model}: receiver offline for {p['offline_for']:g} s", fontsize="medium")
        ax.set_ylabel(axis_label("messages (cumulative)", ""))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel(axis_label("simulated time", "s"))
    fig.suptitle(f"Fire-and-forget: published vs delivered vs lost ({p['rate']:g} msg/s)")
    return save_figure(fig, out_dir, "fire_and_forget_timeline")


def check(results: Sequence[RunResult]) -> None:
    for r in results:
        assert r.value("redis", "lost") == r.value("redis", "published_while_offline"), (
            "Redis must lose exactly what was published while the subscriber was offline")
        assert r.value("redis", "delivered") + r.value("redis", "lost") == r.value(
            "redis", "published")


EXPERIMENT = Experiment(
    name="fire-and-forget",
    question="What does a receiver that is offline for a while lose?",
    expected="Redis Pub/Sub loses exactly the messages published while the subscriber was "
             "away; a Kafka consumer resumes from its committed offset and loses none.",
    params={"rate": 1000.0, "duration": 60.0, "offline_at": 20.0, "offline_for": 10.0,
            "message_size": 100},
    quick={"rate": 200.0, "duration": 20.0, "offline_at": 5.0, "offline_for": 5.0},
    run=run,
    plot=plot,
    check=check,
)
