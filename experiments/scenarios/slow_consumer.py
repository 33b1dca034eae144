"""Slow consumer: receivers that process messages more slowly than the producer sends them.

One producer sends Poisson traffic of ``message_size``-byte messages at ``rate`` msg/s. Each
receiver processes at a fixed fraction of that rate (``consumer.speeds``; 0.8 means it handles
80 % of what arrives): in Redis a subscriber connection per receiver, in Kafka a consumer group
of one consumer per receiver, on a one-partition topic (RF 3).

What it demonstrates, as the real systems behave:

- **Redis has no backpressure.** PUBLISH appends to the subscriber's output buffer whatever the
  subscriber has not read; the buffer (and the server's memory) grows at
  ``(rate - subscriber speed) x frame size``. ``client-output-buffer-limit pubsub 32mb 8mb 60``
  (Redis's default) then closes the connection: at once when the counted buffer reaches the
  32 MiB hard limit, or when it has stayed over the 8 MiB soft limit for more than 60 s
  (``checkClientOutputBufferLimits``; ``redis.conf``). Everything in the buffer is lost, and so
  is everything published until the client has reconnected (``reconnect_delay``) and
  subscribed again; then the buffer grows again — a saw-tooth of losses. Memory stays bounded
  per subscriber; the data do not.
- **Kafka lets the consumer fall behind.** Records stay in the log; a slow group's lag (log end
  offset minus its position) and the topic's disk use grow, and nothing is lost while the
  unread records are retained (``retention.ms``, 7 days by default). A consumer that fell
  further behind than retention would lose the deleted records (see the data-volume
  experiment).

Modelling notes. The counted Redis output buffer excludes the ~272 KiB the kernel socket
buffers and Redis's static reply buffer hold (``socket-buffer``), as
``getClientOutputBufferMemoryUsage`` does. Buffers are sampled every ``sample.s`` seconds. The
Kafka consumers use ``enable.auto.commit=true`` (the default); the broker's
``group.initial.rebalance.delay.ms`` is 0 so the groups form at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from experiments.conservation import assert_run_conserved
from experiments.experiment import Experiment, Metric, Params, RunResult, Verdict
from experiments.plotting import axis_label, model_style, save_figure
from experiments.scenarios._same_workload import (
    MIB,
    comparable,
    parse_numbers,
    step_value,
    workload_messages,
)
from experiments.scenarios._verdicts import mean
from models.kafka import KafkaCluster
from models.kafka.loops import auto_commit
from models.redis_pubsub import OutputBufferLimit, RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.units import format_duration, format_size
from sim.workload import Workload, poisson

CHANNEL = "events"
OUTPUT_BUFFER_LIMIT = "output-buffer-limit"


def _workload(params: Params) -> Workload:
    """Poisson traffic, drawn in 1 s cells (the rates are low; fewer draws, same for both)."""
    workload = poisson(params["rate"], params["duration"], CHANNEL, params["message_size"])
    return replace(workload, chunk=1.0)


def _speeds(params: Params) -> list[float]:
    speeds = parse_numbers(params["consumer.speeds"], "consumer.speeds")
    if any(s <= 0 for s in speeds):
        raise ValueError("consumer.speeds: each speed must be a positive fraction of the rate")
    return speeds


def _label(speed: float) -> str:
    return f"{speed:g}x consumer"


def run_redis(params: Params, seed: int) -> tuple[list[Metric], dict[str, dict[str, np.ndarray]]]:
    """Subscribers at the given speeds; their counted output buffers sampled over time."""
    sim = Simulation(seed=seed)
    limit = params["client-output-buffer-limit"]
    server = RedisPubSub(sim, {"client-output-buffer-limit": limit})
    rate, duration = params["rate"], params["duration"]
    speeds = _speeds(params)
    subs = [Subscriber(server, f"consumer-{i}", [CHANNEL], service=1.0 / (speed * rate),
                       reconnect_delay=params["reconnect_delay"])
            for i, speed in enumerate(speeds)]
    batch = workload_messages(_workload(params), sim)
    server.feed(batch.t, np.zeros(len(batch), dtype=np.int64), batch.size,
                channel_names=[CHANNEL])
    ticks = np.arange(params["sample.s"], duration + 1e-9, params["sample.s"])
    buffers = np.zeros((len(subs), len(ticks)))
    for k, t in enumerate(ticks):
        sim.run(until=float(t))
        assert_run_conserved(sim)
        for i, sub in enumerate(subs):
            buffers[i, k] = server.output_buffer_bytes(sub.name) if sub.connected else 0
    trace = sim.trace
    published = len(batch)
    metrics: list[Metric] = [Metric("redis", "published", published, "messages")]
    series: dict[str, dict[str, np.ndarray]] = {}
    for i, (sub, speed) in enumerate(zip(subs, speeds, strict=True)):
        rid = trace.receivers.id(sub.name)
        delivered = int((trace.delivered["receiver"] == rid).sum())
        lost = int((trace.dropped["receiver"] == rid).sum())
        cuts = [t for t, reason in sub.disconnects if reason == OUTPUT_BUFFER_LIMIT]
        who = _label(speed)
        metrics += [
            Metric("redis", f"delivered ({who})", delivered, "messages"),
            Metric("redis", f"lost ({who})", lost, "messages"),
            Metric("redis", f"unread at end ({who})", published - delivered - lost, "messages"),
            Metric("redis", f"disconnects by output-buffer limit ({who})", len(cuts), "count"),
            Metric("redis", f"first disconnect ({who})", cuts[0] if cuts else np.nan, "s"),
            Metric("redis", f"peak output buffer ({who})", buffers[i].max() / MIB, "MiB"),
        ]
        series[f"redis/{who}"] = {"t": ticks, "buffer_mib": buffers[i] / MIB,
                                  "cuts": np.array(cuts)}
    return metrics, series


def run_kafka(params: Params, seed: int) -> tuple[list[Metric], dict[str, dict[str, np.ndarray]]]:
    """One consumer group per speed; lag per group and the topic's storage over time."""
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=3, config={"group.initial.rebalance.delay.ms": 0},
                           storage_sample_interval=params["sample.s"])
    cluster.create_topic(CHANNEL, partitions=1, replication_factor=3,
                         config={"retention.ms": params["retention.ms"]})
    rate, duration = params["rate"], params["duration"]
    speeds = _speeds(params)
    loops = [auto_commit(cluster, {"group.id": f"group-{i}", "client.id": "consumer-0",
                                   "auto.offset.reset": "earliest"},
                         CHANNEL, processing=1.0 / (speed * rate))
             for i, speed in enumerate(speeds)]
    batch = workload_messages(_workload(params), sim)
    cluster.producer({}).produce(CHANNEL, batch.t, batch.size)
    sim.run(until=duration)
    assert_run_conserved(sim)
    trace = sim.trace
    partition = cluster.partition(CHANNEL, 0)
    ticks = np.arange(params["sample.s"], duration + 1e-9, params["sample.s"])
    appended = trace.tables["appended"]
    in_log = np.searchsorted(np.sort(appended["t"]), ticks, side="right")
    storage = trace.tables["kafka_storage"]
    stored = step_value(storage["t"], storage["bytes"], ticks)
    sizes = np.zeros(int(trace.published["msg"].max()) + 1 if len(batch) else 0)
    sizes[trace.published["msg"]] = trace.published["size"]
    metrics: list[Metric] = [
        Metric("kafka", "published", len(batch), "messages"),
        Metric("kafka", "bytes appended to the log", sizes[appended["msg"]].sum() / MIB, "MiB"),
        Metric("kafka", "topic storage at end (one replica)",
               sum(cluster.storage_bytes().values()) / MIB, "MiB"),
        Metric("kafka", "records deleted by retention", len(trace.tables["log_deleted"]),
               "records"),
    ]
    series: dict[str, dict[str, np.ndarray]] = {"kafka/storage": {"t": ticks,
                                                                "storage_mib": stored / MIB}}
    mean_size = float(np.mean(batch.size)) if len(batch) else 0.0
    for loop, speed in zip(loops, speeds, strict=True):
        rid = loop.consumer.receiver
        mine = trace.delivered["receiver"] == rid
        done_t = np.sort(trace.delivered["t"][mine])
        delivered = int(mine.sum())
        lost = int((trace.dropped["receiver"] == rid).sum())
        lag = in_log - np.searchsorted(done_t, ticks, side="right")  # incl. the batch in hand
        who = _label(speed)
        position = loop.consumer.position((CHANNEL, 0)) or 0
        metrics += [
            Metric("kafka", f"delivered ({who})", delivered, "messages"),
            Metric("kafka", f"lost ({who})", lost, "messages"),
            Metric("kafka", f"unread at end ({who})", len(batch) - delivered - lost, "messages"),
            Metric("kafka", f"lag at end ({who})", partition.high_watermark - position,
                   "records"),
        ]
        series[f"kafka/{who}"] = {"t": ticks, "lag_records": lag.astype(np.float64),
                                  "lag_mib": lag * mean_size / MIB}
    return metrics, series


def run(params: Params, seed: int) -> RunResult:
    """Both models on the same messages (common random numbers)."""
    r_metrics, r_series = run_redis(params, seed)
    k_metrics, k_series = run_kafka(params, seed)
    return RunResult(metrics=r_metrics + k_metrics, series={**r_series, **k_series})


_DASHES = ("-", "--", "-.", ":")


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Redis output buffers and Kafka lag/storage over time; delivered vs lost per model."""
    results = comparable(results)  # a sweep: the first point's setting
    first = results[0]
    p = first.params
    speeds = _speeds(p)
    limit = OutputBufferLimit.parse(p["client-output-buffer-limit"])
    fig = Figure(figsize=(8.0, 7.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    redis = model_style("redis")
    for k, speed in enumerate(speeds):
        s = first.series[f"redis/{_label(speed)}"]
        top.plot(s["t"], s["buffer_mib"], color=model_style("redis" if k == 0 else
                                                            f"redis {speed:g}").color,
                 linestyle=_DASHES[k % 4], label=f"subscriber at {_label(speed)}")
        if len(s["cuts"]):
            top.plot(s["cuts"], np.full(len(s["cuts"]), 0.0), linestyle="none", marker="X",
                     markersize=9, color="black", clip_on=False,
                     label="disconnected (output-buffer limit)" if k == 0 else None)
    for value, text in ((limit.hard, "hard limit"), (limit.soft, "soft limit")):
        if value:
            top.axhline(value / MIB, color="0.3", linestyle=":", linewidth=1.2)
            top.annotate(f"{text} {value / MIB:g} MiB", (1.0, value / MIB),
                         xycoords=("axes fraction", "data"), xytext=(-3, 3),
                         textcoords="offset points", fontsize="small", color="0.3", ha="right")
    _mark_soft_windows(top, first, speeds, limit)
    top.set_ylabel(axis_label("counted output buffer", "MiB"))
    top.set_title(f"Redis Pub/Sub: client-output-buffer-limit {p['client-output-buffer-limit']}",
                  color=redis.color, fontsize="medium")
    top.grid(True, alpha=0.3)
    top.legend(fontsize="small", loc="upper left")
    kafka = model_style("kafka")
    storage = first.series["kafka/storage"]
    bottom.plot(storage["t"], storage["storage_mib"], color="0.35", linewidth=2.2,
                label="topic storage (one replica)")
    for k, speed in enumerate(speeds):
        s = first.series[f"kafka/{_label(speed)}"]
        bottom.plot(s["t"], s["lag_mib"], color=model_style("kafka" if k == 0 else
                                                            f"kafka {speed:g}").color,
                    linestyle=_DASHES[k % 4], label=f"lag of group at {_label(speed)}")
    bottom.set_ylabel(axis_label("bytes", "MiB"))
    bottom.set_xlabel(axis_label("simulated time", "s"))
    retention = format_duration(p["retention.ms"] / 1e3)
    bottom.set_title(f"Kafka: consumer lag and log size (retention.ms = {retention})",
                     color=kafka.color, fontsize="medium")
    bottom.grid(True, alpha=0.3)
    bottom.legend(fontsize="small", loc="upper left")
    fig.suptitle(f"Slow consumers: {p['rate']:g} msg/s of {format_size(p['message_size'])}")
    paths = save_figure(fig, out_dir, "slow_consumer_buffers")

    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    width = 0.38
    labels = []
    for i, speed in enumerate(speeds):
        who = _label(speed)
        labels.append(who)
        for j, model in enumerate(("redis", "kafka")):
            x = i + (j - 0.5) * width
            vals = [np.mean([r.value(model, f"{kind} ({who})") for r in results])
                    for kind in ("delivered", "lost", "unread at end")]
            color = model_style(model).color
            ax.bar(x, vals[0], width, color=color, label=f"{model}: delivered" if i == 0 else None)
            ax.bar(x, vals[1], width, bottom=vals[0], color="black", alpha=0.85, hatch="xx",
                   edgecolor=color, label=f"{model}: lost" if i == 0 else None)
            unread = "in output buffer" if model == "redis" else "unread, kept in the log"
            ax.bar(x, vals[2], width, bottom=vals[0] + vals[1], color="white", hatch="//",
                   edgecolor=color, label=f"{model}: {unread}" if i == 0 else None)
    ax.set_xticks(range(len(labels)), [f"{w}\n(processes {float(w.split('x')[0]) * 100:g}% "
                                       "of the rate)" for w in labels])
    ax.set_ylabel(axis_label("messages", "per receiver"))
    ax.set_title("What each receiver got by the end of the run")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.08))
    paths += save_figure(fig, out_dir, "slow_consumer_outcome")
    return paths


def _mark_soft_windows(ax, result: RunResult, speeds: list[float],
                       limit: OutputBufferLimit) -> None:
    """Arrows over the stretches a subscriber spent above the soft limit before a cut that the
    hard limit did not cause (the ``soft-seconds`` rule)."""
    if not limit.soft or not limit.soft_seconds:
        return
    for speed in speeds:
        s = result.series[f"redis/{_label(speed)}"]
        for cut in s["cuts"].tolist():
            before = (s["t"] < cut) & (s["t"] > cut - limit.soft_seconds - 5)
            over = s["buffer_mib"][before] * MIB >= limit.soft
            if not over.any() or s["buffer_mib"][before].max() * MIB >= 0.97 * limit.hard:
                continue
            start = float(s["t"][before][np.argmax(over)])
            y = limit.soft / MIB * 0.55
            ax.annotate("", (cut, y), xytext=(start, y),
                        arrowprops={"arrowstyle": "<->", "color": "0.25"})
            ax.annotate(f"over soft limit > {limit.soft_seconds} s", ((start + cut) / 2, y),
                        xytext=(0, 3), textcoords="offset points", ha="center",
                        fontsize="small", color="0.25")


def check(results: Sequence[RunResult]) -> None:
    """Redis cuts a slow subscriber (and loses messages) with memory bounded by the hard limit;
    Kafka loses nothing, and its slow groups' lag grows."""
    for r in results:
        p = r.params
        limit = OutputBufferLimit.parse(p["client-output-buffer-limit"])
        published = r.value("redis", "published")
        assert published == r.value("kafka", "published"), "both models get the same messages"
        cut_any = False
        for speed in _speeds(p):
            who = _label(speed)
            lost_r = r.value("redis", f"lost ({who})")
            cuts = r.value("redis", f"disconnects by output-buffer limit ({who})")
            peak = r.value("redis", f"peak output buffer ({who})") * MIB
            frame = p["message_size"] + 64
            if limit.hard:
                assert peak < limit.hard + frame, "the hard limit must bound each buffer"
            if cuts:
                cut_any = True
                assert lost_r > 0, "a disconnected subscriber must have lost messages"
                assert peak >= 0.5 * limit.soft, "a cut must come from a buffer near its limits"
            if speed >= 1.0:
                assert cuts == 0 and lost_r == 0, "a subscriber as fast as the producer keeps up"
            assert r.value("kafka", f"lost ({who})") == 0, "Kafka must lose nothing"
            # conservation: what was neither delivered nor lost is behind the consumer's
            # position (lag) or in the one fetch it is processing (max.poll.records = 500,
            # max.partition.fetch.bytes = 1 MiB, Kafka's defaults)
            in_hand = r.value("kafka", f"unread at end ({who})") - r.value(
                "kafka", f"lag at end ({who})")
            one_fetch = min(500, MIB // p["message_size"] + 1)
            assert 0 <= in_hand <= one_fetch, f"Kafka records unaccounted for at {who}"
            if speed < 0.9:
                lag = r.value("kafka", f"lag at end ({who})")
                expected_lag = published * (1 - speed)
                assert lag > 0.5 * expected_lag, (
                    f"the Kafka group at {who} must fall behind by about (1 - speed) x published")
        assert cut_any, "a slow Redis subscriber must be disconnected by the output-buffer limit"
        assert r.value("kafka", "records deleted by retention") == 0
        stored = r.value("kafka", "topic storage at end (one replica)")
        assert stored == r.value("kafka", "bytes appended to the log") > 0, (
            "Kafka keeps every record it appended")


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    redis_lost = mean(results, "redis", "lost (0.2x consumer)")
    kafka_lost = mean(results, "kafka", "lost (0.2x consumer)")
    lag = mean(results, "kafka", "lag at end (0.2x consumer)")
    return [Verdict("consumers slower than producers without losing data",
                    "kafka" if kafka_lost < redis_lost else "either",
                    f"a consumer at 0.2x the rate lost {redis_lost:.3g} messages with Redis "
                    f"(client-output-buffer-limit) and {kafka_lost:.3g} with Kafka, which ended "
                    f"{lag:.3g} records behind instead")]


EXPERIMENT = Experiment(
    name="slow-consumer",
    question="What happens when receivers process messages more slowly than the producer "
             "sends them?",
    expected="Redis buffers the backlog in the subscriber's output buffer until "
             "client-output-buffer-limit (pubsub 32mb 8mb 60) disconnects it, losing the "
             "buffered and following messages again and again, with memory bounded per "
             "subscriber; Kafka's lag and disk use grow and nothing is lost while retained.",
    params={"rate": 25.0, "message_size": 32768, "consumer.speeds": "0.8,0.2",
            "duration": 150.0, "client-output-buffer-limit": "pubsub 32mb 8mb 60",
            "reconnect_delay": 1.0, "retention.ms": 604_800_000, "sample.s": 0.5},
    quick={"rate": 50.0, "message_size": 131072, "duration": 10.0},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
