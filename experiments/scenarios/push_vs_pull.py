"""Push vs pull: end-to-end latency against offered load, and where each model saturates.

The same Poisson stream of PUBLISHes / records goes to ``subscribers`` receivers that each want
every message: in Redis, ``subscribers`` connections SUBSCRIBEd to one channel; in Kafka, as many
consumer groups of one consumer each on a one-partition topic (RF 3, ``acks=all``). Every
receiver spends ``processing.us`` on each message in both models, and the one-way network
latency (``latency.ms``) is the same in both.

What it demonstrates, as the real systems behave:

- **Push delivers at once.** Redis appends the frame to every subscriber's output buffer while
  PUBLISH executes (``src/pubsub.c``), so a message is one network hop plus the server's work
  away: a fraction of a millisecond at light load.
- **Pull adds batching and polling delay.** A Kafka record waits in the producer for up to
  ``linger.ms`` (5 ms by default since Kafka 4.0, KIP-1030) or until ``batch.size`` fills, for
  the followers to advance the high watermark, and for the consumer's long-poll fetch, which the
  broker answers once ``fetch.min.bytes`` are there or ``fetch.max.wait.ms`` has passed
  (defaults 1 byte and 500 ms: with the defaults it answers as soon as a record lands). At
  higher loads batches fill before ``linger.ms`` expires, so the time a record spends in the
  producer falls (metric ``p50 send-to-log``), while the consumer's queue grows as it nears
  its limit.
- **Redis saturates on its single thread.** PUBLISH costs ``command-cost`` + one
  ``delivery-cost`` per subscriber on the main thread, so the server CPU caps the publish rate
  at ``1 / (command-cost + subscribers x delivery-cost)``: about 21 900 msg/s with 50
  subscribers. Above it the queue of PUBLISHes grows and so does every latency.
- **Kafka saturates at the consumer.** Brokers append and serve reads without a shared
  per-subscriber loop, and each group reads independently; the limit is the consumer's own
  processing, ``1 / processing`` per partition-consumer (40 000 msg/s at 25 µs), beyond which
  its lag and latency grow. (Add partitions and consumers to scale it: not done here.)

Modelling notes. The Kafka model has no broker CPU, so consumer groups share nothing that
queues: each group sees the same latencies as a lone group (checked in
``tests/test_experiments_push_vs_pull.py``), and one group stands for all ``subscribers``
groups to keep the run short.
Consumers use ``enable.auto.commit=true`` (Kafka's default). The broker's
``group.initial.rebalance.delay.ms`` is 0 and traffic starts after a 0.5 s warm-up, so the
group is formed before the first record (the real 3 s default only delays the start).
Above saturation the queue grows for as long as the load lasts, so the latencies there depend
on ``duration``: they show that a model saturated, not a steady value. For scale: Kreps's
2014 benchmark (``linger.ms`` 0) measured a 2 ms median end to end; with the 4.x default
``linger.ms`` = 5 the Kafka p50 here is about 3.5 ms at light load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from experiments.conservation import assert_run_conserved
from experiments.experiment import Experiment, Metric, Params, RunResult, Verdict
from experiments.plotting import axis_label, model_style, new_figure, plot_model, save_figure
from experiments.scenarios._same_workload import (
    cdf_points,
    comparable,
    delivery_latencies,
    log_axes,
    mean_and_spread,
    parse_numbers,
    run_until,
    workload_messages,
)
from experiments.scenarios._verdicts import mean
from models.kafka import KafkaCluster
from models.kafka.loops import auto_commit
from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.trace import Trace
from sim.workload import Workload, poisson

CHANNEL = "events"
WARMUP = 0.5
"""Seconds before the first message: subscriptions and the consumer group are in place."""
_LINESTYLES = ("-", "--", ":", "-.")


def _workload(params: Params, rate: float) -> Workload:
    return poisson(rate, params["duration"], CHANNEL, params["message_size"],
                   name=f"poisson {rate:g}/s")


def redis_capacity(params: Params) -> float:
    """Publishes per second the Redis main thread can execute with this many subscribers."""
    cfg = RedisPubSub(Simulation()).config
    return 1.0 / (cfg.command_cost + params["subscribers"] * cfg.delivery_cost)


def kafka_capacity(params: Params) -> float:
    """Records per second one consumer can process (``1 / processing``)."""
    return 1e6 / params["processing.us"]


def _drain_limit(n: int, capacity: float, duration: float) -> float:
    """Simulated time after which an unfinished run is given up (twice the time the
    bottleneck needs for all ``n`` messages, plus slack)."""
    return WARMUP + duration + 2.0 * n / capacity + 2.0


def run_redis(params: Params, seed: int, rate: float) -> dict[str, float | np.ndarray]:
    """One load point through Redis: latencies of every delivered copy and the server's load."""
    sim = Simulation(seed=seed)
    server = RedisPubSub(sim, {"latency": params["latency.ms"] / 1e3})
    service = params["processing.us"] / 1e6
    subs = [Subscriber(server, f"sub-{i}", [CHANNEL], service=service, reconnect_delay=None)
            for i in range(params["subscribers"])]
    sim.run(until=WARMUP)
    assert_run_conserved(sim)
    busy0 = server.busy_time
    workload = _workload(params, rate)
    batch = workload_messages(workload, sim)
    server.feed(batch.t + WARMUP, batch.target, batch.size, source="publisher",
                channel_names=list(workload.targets))
    owed = len(batch) * len(subs)
    trace = sim.trace
    end = WARMUP + params["duration"]
    run_until(sim, lambda: len(trace.delivered) + len(trace.dropped) >= owed, end + 0.01,
              _drain_limit(len(batch), redis_capacity(params), params["duration"]))
    latency = delivery_latencies(trace)
    return {"latency": latency, "published": len(batch), "owed": owed,
            "delivered": len(trace.delivered), "lost": len(trace.dropped),
            "cpu": (server.busy_time - busy0) / params["duration"]}


def run_kafka(params: Params, seed: int, rate: float, groups: int = 1
              ) -> dict[str, float | np.ndarray]:
    """One load point through Kafka: ``groups`` consumer groups of one consumer each (by
    default one, which stands for each of the ``subscribers`` groups: see the module notes)."""
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=3, latency=params["latency.ms"] / 1e3,
                           config={"group.initial.rebalance.delay.ms": 0})
    cluster.create_topic(CHANNEL, partitions=1, replication_factor=3)
    producer = cluster.producer({"linger.ms": params["linger.ms"]})
    for g in range(groups):
        auto_commit(cluster, {"group.id": f"group-{g}", "client.id": "consumer-0",
                              "auto.offset.reset": "earliest",
                              "fetch.min.bytes": params["fetch.min.bytes"],
                              "fetch.max.wait.ms": params["fetch.max.wait.ms"]},
                    CHANNEL, processing=params["processing.us"] / 1e6)
    batch = workload_messages(_workload(params, rate), sim)
    producer.produce(CHANNEL, batch.t + WARMUP, batch.size)
    trace = sim.trace
    owed = len(batch) * groups
    end = WARMUP + params["duration"]
    run_until(sim, lambda: len(trace.delivered) >= owed, end + 0.01,
              _drain_limit(len(batch), kafka_capacity(params), params["duration"]))
    latency = delivery_latencies(trace)
    to_log = _send_to_log(trace)
    return {"latency": latency, "published": len(batch), "owed": owed,
            "delivered": len(trace.delivered), "lost": len(trace.dropped),
            "to_log": to_log[np.isfinite(to_log)]}


def _send_to_log(trace: Trace) -> np.ndarray:
    """Seconds from ``send()`` to the leader's append, per record (first append if retried)."""
    appended = trace.tables["appended"]
    msg, first = np.unique(appended["msg"], return_index=True)
    at = np.full(int(msg.max()) + 1 if len(msg) else 0, np.nan)
    at[msg] = appended["t"][first]
    sent = trace.published
    keep = sent["msg"] < len(at)
    gap = at[sent["msg"][keep]] - sent["t"][keep]
    return gap[np.isfinite(gap)]


def _ms(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q) * 1e3) if len(x) else float("nan")


def run(params: Params, seed: int) -> RunResult:
    """Every load in ``loads`` through both models; latency percentiles per load."""
    loads = parse_numbers(params["loads"], "loads")
    metrics: list[Metric] = [
        Metric("redis", "capacity (server CPU)", redis_capacity(params), "msg/s"),
        Metric("kafka", "capacity (consumer processing)", kafka_capacity(params), "msg/s"),
    ]
    series: dict[str, dict[str, np.ndarray]] = {}
    for rate in loads:
        points = {"redis": run_redis(params, seed, rate), "kafka": run_kafka(params, seed, rate)}
        for model, out in points.items():
            lat = out["latency"]
            at = f"@ {rate:g} msg/s"
            metrics += [
                Metric(model, f"p50 latency {at}", _ms(lat, 50), "ms"),
                Metric(model, f"p99 latency {at}", _ms(lat, 99), "ms"),
                Metric(model, f"delivered fraction {at}",
                       out["delivered"] / max(out["owed"], 1), "fraction"),
            ]
            series[f"{model}/{rate:g}"] = {"cdf_ms": cdf_points(lat) * 1e3}
        metrics.append(Metric("redis", f"server cpu load @ {rate:g} msg/s", points["redis"]["cpu"],
                              "fraction of one core"))
        metrics.append(Metric("kafka", f"p50 send-to-log (linger.ms, request) @ {rate:g} msg/s",
                              _ms(points["kafka"]["to_log"], 50), "ms"))
    return RunResult(metrics=metrics, series=series)


def _loads(results: Sequence[RunResult]) -> list[float]:
    """Every offered load of these runs (a sweep may give each run its own)."""
    return sorted({x for r in results for x in parse_numbers(r.params["loads"])})


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Latency CDFs at a few loads (one panel per model) and p50/p99 against offered load."""
    pool = comparable(results, ("loads",))
    p = pool[0].params
    loads = _loads(pool)
    shown = sorted({loads[0], loads[len(loads) // 2], loads[-1]})
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, model in zip(axes, ("redis", "kafka"), strict=True):
        style = model_style(model)
        for k, rate in enumerate(shown):
            xs = next(r.series[f"{model}/{rate:g}"]["cdf_ms"] for r in pool
                      if f"{model}/{rate:g}" in r.series)
            ax.step(xs, np.linspace(0, 1, len(xs)), where="post", color=style.color,
                    linestyle=_LINESTYLES[k % len(_LINESTYLES)], linewidth=1.8 - 0.3 * k,
                    label=f"{rate:g} msg/s")
        log_axes(ax, y=False)
        ax.grid(True, alpha=0.3)
        ax.set_xlabel(axis_label("end-to-end latency (send to processed)", "ms"))
        name = "Redis Pub/Sub (push)" if model == "redis" else "Kafka (pull)"
        ax.set_title(name, color=style.color)
        ax.legend(title="offered load", fontsize="small",
                  loc="center" if model == "redis" else "upper left")
    axes[1].axvline(p["linger.ms"], color="0.4", linestyle=":", linewidth=1)
    axes[1].annotate(f"linger.ms={p['linger.ms']:g}", (p["linger.ms"], 0.02), fontsize="small",
                     color="0.3", rotation=90, ha="right", va="bottom")
    axes[0].set_ylabel(axis_label("fraction of deliveries", ""))
    fig.suptitle(f"Latency CDF, {p['subscribers']} subscribers / consumer groups, "
                 f"{p['processing.us']:g} µs processing per message")
    paths = save_figure(fig, out_dir, "push_vs_pull_latency_cdf")

    fig, ax = new_figure("Latency vs offered load: where each model saturates",
                         axis_label("offered load", "msg/s"), axis_label("latency", "ms"),
                         size=(7.5, 4.6))
    for model in ("redis", "kafka"):
        for stat in ("p50 latency", "p99 latency"):
            y, err = mean_and_spread(pool, model, [f"{stat} @ {x:g} msg/s" for x in loads])
            plot_model(ax, model if stat.startswith("p50") else f"{model} p99", loads, y,
                       yerr=err, label=f"{model} {stat.split()[0]}")
    log_axes(ax, x=False)
    caps = (("redis", redis_capacity(p), "Redis server CPU limit"),
            ("kafka", kafka_capacity(p), "Kafka consumer limit"))
    for model, cap, text in caps:
        if cap <= max(loads) * 1.05:
            ax.axvline(cap, color=model_style(model).color, linestyle=":", linewidth=1.2)
            ax.annotate(f"{text}\n{cap:,.0f} msg/s", (cap, 0.03),
                        xycoords=("data", "axes fraction"), fontsize="small",
                        color=model_style(model).color, ha="left", va="bottom", rotation=90)
    ax.legend(fontsize="small", loc="upper left")
    paths += save_figure(fig, out_dir, "push_vs_pull_latency_vs_load")
    return paths


def check(results: Sequence[RunResult]) -> None:
    """Push is faster at light load; Redis saturates at its CPU limit, Kafka at the consumer's.

    Each run is judged at the loads it has: below the Redis CPU limit (push several times
    faster than pull, records wait for ``linger.ms``), between the two limits (Redis
    overloaded and far slower than Kafka) and above the Kafka consumer limit (Kafka's latency
    grows too). The quick size has one load in each range.
    """
    for r in results:
        p = r.params
        loads = parse_numbers(p["loads"])
        r_cap, k_cap = redis_capacity(p), kafka_capacity(p)
        # Kafka's unsaturated latency is about linger.ms plus a few network hops
        base = max(p["linger.ms"], 1.0) + 10 * p["latency.ms"] + 1.0

        def v(model: str, stat: str, rate: float, r: RunResult = r) -> float:
            return r.value(model, f"{stat} @ {rate:g} msg/s")

        for rate in loads:
            assert v("redis", "delivered fraction", rate) == 1.0, "Redis lost nothing"
            assert v("kafka", "delivered fraction", rate) == 1.0, "Kafka lost nothing"
            if rate < 0.8 * min(r_cap, k_cap):
                # light load: push is one hop; pull waits for linger.ms batching, the
                # followers (high watermark) and the fetch
                gap = v("kafka", "p50 latency", rate) - v("redis", "p50 latency", rate)
                assert gap > 0.3 * p["linger.ms"] + p["latency.ms"], (
                    "below saturation Kafka's p50 must exceed Redis's by linger.ms batching "
                    "and the replication round trip")
                assert v("kafka", "p50 send-to-log (linger.ms, request)", rate) > min(
                    0.2 * p["linger.ms"], 0.5 * v("kafka", "p50 latency", rate)), (
                    "records must wait in the producer for linger.ms")
                assert v("redis", "p99 latency", rate) < 2.0 + 4 * p["latency.ms"], (
                    "unsaturated Redis stays fast")
            if 1.15 * r_cap < rate < 0.85 * k_cap:
                # Redis's single thread is overloaded, the Kafka consumer is not
                assert v("redis", "server cpu load", rate) > 1.0
                assert v("redis", "p99 latency", rate) > 5 * v("kafka", "p99 latency", rate), (
                    f"at {rate:g} msg/s Redis (CPU-bound) must be far slower than Kafka")
                assert v("kafka", "p99 latency", rate) < 2 * base, (
                    f"at {rate:g} msg/s the Kafka consumer keeps up: latency stays low")
            if rate > 1.15 * k_cap:
                # the consumer is overloaded: its lag, and so its latency, grow
                assert v("kafka", "p99 latency", rate) > 4 * base, (
                    f"at {rate:g} msg/s the Kafka consumer is overloaded: its latency must grow")
            if rate > 1.15 * r_cap:
                assert v("redis", "server cpu load", rate) > 1.0
                assert v("redis", "p99 latency", rate) > 10 * base, (
                    f"at {rate:g} msg/s Redis's single thread is overloaded")


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    loads = sorted({float(m.metric.rsplit("@ ", 1)[1].split()[0]) for r in results
                    for m in r.metrics if m.metric.startswith("p99 latency @ ")})
    if not loads:
        return []
    low = loads[0]
    r_low = mean(results, "redis", f"p99 latency @ {low:g} msg/s")
    k_low = mean(results, "kafka", f"p99 latency @ {low:g} msg/s")
    r_cap = mean(results, "redis", "capacity (server CPU)")
    k_cap = mean(results, "kafka", "capacity (consumer processing)")
    rows = [Verdict("the lowest end-to-end latency at modest load",
                    "redis" if r_low < k_low else "kafka",
                    f"p99 at {low:g} msg/s: {r_low:.3g} ms with Redis Pub/Sub (push) vs "
                    f"{k_low:.3g} ms with Kafka (linger.ms, fetch)")]
    rows.append(Verdict("high message rates to many receivers",
                        "kafka" if k_cap > r_cap else "redis",
                        f"capacity with this fan-out: Redis {r_cap:,.0f} msg/s (one thread does "
                        f"every copy) vs Kafka {k_cap:,.0f} msg/s (each group reads on its own)"))
    return rows


EXPERIMENT = Experiment(
    name="push-vs-pull",
    question="How does end-to-end latency grow with offered load when the broker pushes "
             "(Redis Pub/Sub) versus when consumers pull (Kafka), and where does each saturate?",
    expected="Redis delivers in well under a millisecond until its single thread saturates "
             "(about 1/(command-cost + subscribers x delivery-cost) msg/s), then latency "
             "explodes; Kafka adds a few milliseconds of linger.ms batching, replication and "
             "fetch at every load and saturates only when the consumer's processing cannot "
             "keep up.",
    params={"loads": "2000,8000,14000,19000,24000,32000,50000", "subscribers": 50,
            "processing.us": 25.0, "message_size": 100, "duration": 0.5, "latency.ms": 0.1,
            "linger.ms": 5.0, "fetch.min.bytes": 1, "fetch.max.wait.ms": 500},
    quick={"loads": "2000,30000,50000", "duration": 0.25},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
