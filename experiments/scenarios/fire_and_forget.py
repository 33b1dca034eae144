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

from experiments.conservation import assert_run_conserved
from experiments.experiment import Experiment, Metric, RunResult, Verdict
from experiments.plotting import axis_label, model_style, save_figure
from models.kafka.cluster import KafkaCluster
from models.kafka.loops import process_then_commit
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
    sim.run(until=params["duration"] + params["drain"])
    assert_run_conserved(sim)
    trace = sim.trace
    sent = trace.published["t"]
    window = (sent >= params["offline_at"]) & (sent < params["offline_at"] + params["offline_for"])
    published_at = dict(zip(trace.published["msg"].tolist(), sent.tolist(), strict=True))
    lost_t = np.array([published_at[m] for m in trace.dropped["msg"].tolist()])
    delivered_t = trace.delivered["t"]
    metrics = [
        Metric("redis", "published", len(sent), "messages"),
        Metric("redis", "published_while_offline", int(window.sum()), "messages"),
        Metric("redis", "delivered", len(delivered_t), "messages"),
        Metric("redis", "lost", len(lost_t), "messages"),
        Metric("redis", "lost_fraction", len(lost_t) / max(len(sent), 1), "fraction"),
    ]
    duration = params["duration"] + params["drain"]
    t, published = _per_second(sent, duration)
    series = {"redis": {"t": t, "published": published,
                        "delivered": _per_second(delivered_t, duration)[1],
                        "lost": _per_second(lost_t, duration)[1]}}
    return metrics, series


def run_kafka(params, seed: int) -> tuple[list[Metric], dict]:
    """The same workload into a topic; one consumer group of one at-least-once consumer
    (process, then commit) that crashes at ``offline_at`` and is back ``offline_for`` later.
    Its group notices only after ``session.timeout.ms``; the restarted consumer resumes from
    the last committed offset, so records processed after that commit come again."""
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=1)
    cluster.create_topic("events", partitions=1, replication_factor=1)
    workload = _workload(params)
    batch = workload.generate(sim)
    loop = process_then_commit(
        cluster, {"group.id": "readers", "client.id": "subscriber",
                  "auto.offset.reset": "earliest"}, "events",
        crash_at=[params["offline_at"]], restart_after=params["offline_for"])
    cluster.producer({"client.id": "producer"}).produce("events", batch.t, batch.size)
    sim.run(until=params["duration"] + params["drain"])
    assert_run_conserved(sim)
    trace = sim.trace
    published = trace.published.to_dict()
    sent_at = dict(zip(published["msg"].tolist(), published["t"].tolist(), strict=True))
    delivered_msgs = trace.delivered["msg"]
    counts = np.bincount(delivered_msgs, minlength=int(published["msg"].max()) + 1)
    duplicates = int((counts[counts > 1] - 1).sum())
    unique = np.unique(delivered_msgs)
    lost_msgs = np.setdiff1d(published["msg"], unique)
    window = ((published["t"] >= params["offline_at"])
              & (published["t"] < params["offline_at"] + params["offline_for"]))
    metrics = [
        Metric("kafka", "published", len(published["msg"]), "messages"),
        Metric("kafka", "published_while_offline", int(window.sum()), "messages"),
        Metric("kafka", "delivered", len(unique), "messages"),
        Metric("kafka", "lost", len(lost_msgs), "messages"),
        Metric("kafka", "lost_fraction", len(lost_msgs) / max(len(published["msg"]), 1),
               "fraction"),
        Metric("kafka", "duplicates", duplicates, "messages"),
        Metric("kafka", "crashes", loop.stats["crashes"], "count"),
    ]
    duration = params["duration"] + params["drain"]
    order = np.argsort(trace.delivered["t"], kind="stable")
    _, first = np.unique(delivered_msgs[order], return_index=True)
    first_delivery = trace.delivered["t"][order][first]  # when each record first arrived
    series = {"kafka": {"t": _per_second(published["t"], duration)[0],
                        "published": _per_second(published["t"], duration)[1],
                        "delivered": _per_second(first_delivery, duration)[1],
                        "lost": _per_second(np.array([sent_at[m] for m in lost_msgs.tolist()]),
                                            duration)[1]}}
    return metrics, series


def run(params, seed: int) -> RunResult:
    redis_metrics, redis_series = run_redis(params, seed)
    kafka_metrics, kafka_series = run_kafka(params, seed)
    return RunResult(metrics=redis_metrics + kafka_metrics,
                     series={**redis_series, **kafka_series})


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
                markevery=max(len(s["t"]) // 12, 1), label="delivered (by arrival time)")
        ax.plot(s["t"], np.cumsum(s["lost"]), color="black", linestyle=":", linewidth=2,
                label="lost (by publish time)")
        if model == "redis":
            what = f"subscriber away for {p['offline_for']:g} s: what was published is gone"
        else:
            what = (f"consumer crashed for {p['offline_for']:g} s; resumes from its committed "
                    "offset\nonce session.timeout.ms (45 s) frees its partition: nothing lost")
        ax.set_title(f"{model}: {what}", fontsize="medium")
        ax.set_ylabel(axis_label("messages (cumulative)", ""))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel(axis_label("simulated time", "s"))
    fig.suptitle(f"Fire-and-forget: published vs delivered vs lost ({p['rate']:g} msg/s)")
    return save_figure(fig, out_dir, "fire_and_forget_timeline")


def check(results: Sequence[RunResult]) -> None:
    for r in results:
        assert r.value("kafka", "lost") == 0, "Kafka must resume from its committed offset"
        assert r.value("kafka", "delivered") == r.value("kafka", "published")
        assert r.value("redis", "lost") > 0
        assert r.value("redis", "lost") == r.value("redis", "published_while_offline"), (
            "Redis must lose exactly what was published while the subscriber was offline")
        assert r.value("redis", "delivered") + r.value("redis", "lost") == r.value(
            "redis", "published")


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    redis = float(np.mean([r.value("redis", "lost_fraction") for r in results]))
    kafka = float(np.mean([r.value("kafka", "lost_fraction") for r in results]))
    p = results[0].params
    choice = "kafka" if kafka < redis else "either"
    return [Verdict(
        "receivers that go offline must not miss messages",
        choice,
        f"a receiver away {p['offline_for']:g} s of {p['duration']:g} s lost "
        f"{redis:.1%} of messages with Redis Pub/Sub and {kafka:.1%} with Kafka",
    )]


EXPERIMENT = Experiment(
    name="fire-and-forget",
    question="What does a receiver that is offline for a while lose?",
    expected="Redis Pub/Sub loses exactly the messages published while the subscriber was "
             "away; a Kafka consumer resumes from its committed offset and loses none.",
    params={"rate": 1000.0, "duration": 60.0, "offline_at": 20.0, "offline_for": 10.0,
            "message_size": 100, "drain": 60.0},
    quick={"rate": 200.0, "duration": 20.0, "offline_at": 5.0, "offline_for": 5.0,
           "drain": 60.0},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
