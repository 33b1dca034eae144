"""Data volume: message rate and size grow in phases past what the receiver can take in.

One producer sends Poisson traffic in phases of ``phase.s`` seconds; phase k sends
``rates[k]`` msg/s of ``sizes[k]`` bytes, so the volume (MiB/s) steps up. One receiver takes in
at most ``receiver.MiBps``: in Redis a subscriber behind a network link of that bandwidth (the
server-side output buffer holds what the link has not carried yet); in Kafka a consumer whose
processing costs ``size / receiver.MiBps`` seconds per record. After the last phase the run
goes on for ``drain.s`` seconds with no traffic, so each receiver can catch up.

What it demonstrates, as the real systems behave:

- **Redis: memory bounded, data lost under pressure.** Once the volume exceeds what the
  subscriber takes in, its output buffer grows until ``client-output-buffer-limit pubsub
  32mb 8mb 60`` (the default) disconnects it; it reconnects after ``reconnect_delay`` and the
  cycle repeats. The server's memory for the subscriber never exceeds ~32 MiB (plus socket
  buffers) whatever the volume; the excess is dropped, and the more the volume exceeds the
  receiver, the larger the fraction lost.
- **Kafka: storage grows with volume x retention, nothing lost while retained.** Every record
  is appended to the log; retention deletes whole segments once their newest record is older
  than ``retention.ms`` (checked every ``log.retention.check.interval.ms``), so the disk holds
  about ``retention.ms x volume`` (plus up to a segment): it steps up with each phase. The
  consumer falls behind while the volume exceeds it and catches up later; it loses records
  only if it falls more than ``retention.ms`` behind (then they are deleted before it reads
  them: trace reason ``retention``).

Compressed time. Kafka's defaults (``retention.ms`` 7 days, ``segment.bytes`` 1 GiB,
``log.retention.check.interval.ms`` 5 min) would show no deletion in a simulated minute, so
the topic uses ``retention.ms`` = 20 s, ``segment.bytes`` = 8 MiB and a 1 s retention check
(and the first check after 1 s, ``log.initial.task.delay.ms``). The shape is what carries
over: storage ~ ingress x retention, and loss only when a consumer's lag exceeds retention.
Redis's limits are its real defaults (their 60 s soft window is not compressed, so at these
volumes the 32 MiB hard limit is what cuts). Message sizes are large (16-256 KiB) so that the
volume is reached with few records: the Kafka model's cost is per produce request.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import simpy
from matplotlib.figure import Figure

from experiments.conservation import assert_run_conserved
from experiments.experiment import Experiment, Metric, Params, RunResult, Verdict
from experiments.plotting import axis_label, model_style, save_figure
from experiments.scenarios._same_workload import (
    MIB,
    comparable,
    parse_numbers,
    publish_times,
    step_value,
    workload_messages,
)
from experiments.scenarios._verdicts import mean
from models.kafka import KafkaCluster
from models.kafka.consumer import Consumer
from models.redis_pubsub import OutputBufferLimit, RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.arrivals import Poisson
from sim.network import Link
from sim.trace import REASON_CODE
from sim.units import format_duration, format_size
from sim.workload import ProducerSpec, Workload

CHANNEL = "events"
RECEIVER = "receiver"
SAMPLE = 0.5
"""Seconds between samples of the Redis output buffer."""


def phases(params: Params) -> list[tuple[float, int]]:
    """(rate msg/s, size bytes) of each phase."""
    rates = parse_numbers(params["rates"], "rates")
    sizes = [int(s) for s in parse_numbers(params["sizes"], "sizes")]
    if len(rates) != len(sizes):
        raise ValueError(f"rates and sizes need one entry per phase: {len(rates)} rates, "
                         f"{len(sizes)} sizes")
    if any(r <= 0 for r in rates) or any(s <= 0 for s in sizes):
        raise ValueError("rates and sizes must be positive")
    return list(zip(rates, sizes, strict=True))


def _workload(params: Params) -> Workload:
    """One producer spec per phase (each sends only during its phase)."""
    step = params["phase.s"]
    specs = tuple(ProducerSpec(f"phase-{k}", CHANNEL, Poisson(rate), size, start=k * step,
                               stop=(k + 1) * step)
                  for k, (rate, size) in enumerate(phases(params)))
    return Workload(specs, step * len(specs), "growing volume", chunk=1.0)


def _phase_of(t: np.ndarray, params: Params) -> np.ndarray:
    return np.minimum((t // params["phase.s"]).astype(np.int64), len(phases(params)) - 1)


def _end(params: Params) -> float:
    return params["phase.s"] * len(phases(params)) + params["drain.s"]


def run_redis(params: Params, seed: int) -> tuple[list[Metric], dict[str, dict[str, np.ndarray]]]:
    """The subscriber behind a link of ``receiver.MiBps``; its output buffer over time."""
    sim = Simulation(seed=seed)
    server = RedisPubSub(sim)
    link = Link(latency=server.config.latency, bandwidth=params["receiver.MiBps"] * MIB)
    sub = Subscriber(server, RECEIVER, [CHANNEL], link=link,
                     reconnect_delay=params["reconnect_delay"])
    batch = workload_messages(_workload(params), sim)
    server.feed(batch.t, np.zeros(len(batch), dtype=np.int64), batch.size,
                channel_names=[CHANNEL])
    end = _end(params)
    ticks = np.arange(SAMPLE, end + 1e-9, SAMPLE)
    buffered = np.zeros(len(ticks))
    for k, t in enumerate(ticks):
        sim.run(until=float(t))
        assert_run_conserved(sim)
        buffered[k] = server.output_buffer_bytes(RECEIVER) if sub.connected else 0
    trace = sim.trace
    sent = publish_times(trace)
    cuts = [t for t, reason in sub.disconnects if reason == "output-buffer-limit"]
    metrics = [Metric("redis", "peak output buffer", buffered.max() / MIB, "MiB"),
               Metric("redis", "disconnects by output-buffer limit", len(cuts), "count")]
    metrics += _per_phase("redis", params, batch.t, sent[trace.delivered["msg"]],
                          sent[trace.dropped["msg"]])
    lost_t = np.sort(trace.dropped["t"])
    series = {"redis": {"t": ticks, "buffer_mib": buffered / MIB,
                        "lost": np.searchsorted(lost_t, ticks, side="right").astype(float),
                        "cuts": np.array(cuts)}}
    return metrics, series


def _reader(sim: Simulation, consumer: Consumer, bytes_per_s: float, until: float):
    """The Kafka receiver: poll, spend ``size / bytes_per_s`` on each record, repeat; a record
    counts as delivered when its processing is done (as ``models.kafka.loops`` traces it)."""
    consumer.subscribe([CHANNEL])
    delivered = sim.trace.delivered
    while sim.now < until:
        records = yield consumer.poll(timeout_ms=100)
        if not records:
            continue
        msg = np.concatenate([r.msg for r in records.values()])
        size = np.concatenate([r.size for r in records.values()])
        done = sim.now + np.cumsum(size / bytes_per_s)
        yield sim.timeout(float(done[-1]) - sim.now)
        delivered.extend(msg=msg, receiver=consumer.receiver, via=-1, t=done)


def run_kafka(params: Params, seed: int) -> tuple[list[Metric], dict[str, dict[str, np.ndarray]]]:
    """The consumer at ``receiver.MiBps``; the topic's storage and the consumer's lag."""
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=3, storage_sample_interval=SAMPLE, config={
        "log.retention.check.interval.ms": 1000, "log.initial.task.delay.ms": 1000,
        "group.initial.rebalance.delay.ms": 0})
    cluster.create_topic(CHANNEL, partitions=1, replication_factor=3, config={
        "retention.ms": params["retention.ms"], "segment.bytes": params["segment.bytes"]})
    consumer = Consumer(cluster, {"group.id": "group-0", "client.id": RECEIVER,
                                  "auto.offset.reset": "earliest"}, trace_on_poll=False)
    end = _end(params)
    process: simpy.Process = sim.process(
        _reader(sim, consumer, params["receiver.MiBps"] * MIB, end))
    batch = workload_messages(_workload(params), sim)
    cluster.producer({}).produce(CHANNEL, batch.t, batch.size)
    sim.run(until=end)
    assert_run_conserved(sim)
    del process
    trace = sim.trace
    sent = publish_times(trace)
    storage = trace.tables["kafka_storage"]
    ticks = np.arange(SAMPLE, end + 1e-9, SAMPLE)
    stored = step_value(storage["t"], storage["bytes"], ticks)
    sizes = np.zeros(len(sent))
    sizes[trace.published["msg"]] = trace.published["size"]
    appended = trace.tables["appended"]
    in_t = np.sort(appended["t"])
    in_cum = np.concatenate(([0.0], np.cumsum(sizes[appended["msg"]][np.argsort(appended["t"])])))
    done_order = np.argsort(trace.delivered["t"])
    done_t = trace.delivered["t"][done_order]
    done_cum = np.concatenate(([0.0], np.cumsum(sizes[trace.delivered["msg"]][done_order])))
    lost_t = np.sort(trace.dropped["t"])
    lost_bytes = np.concatenate(([0.0], np.cumsum(sizes[trace.dropped["msg"]][
        np.argsort(trace.dropped["t"])])))
    lag = (in_cum[np.searchsorted(in_t, ticks, side="right")]
           - done_cum[np.searchsorted(done_t, ticks, side="right")]
           - lost_bytes[np.searchsorted(lost_t, ticks, side="right")])
    behind = trace.delivered["t"] - sent[trace.delivered["msg"]]
    metrics = [
        Metric("kafka", "peak topic storage (one replica)", stored.max() / MIB, "MiB"),
        Metric("kafka", "peak consumer lag", lag.max() / MIB, "MiB"),
        Metric("kafka", "max send-to-processed delay", behind.max() if len(behind) else 0.0,
               "s"),
        Metric("kafka", "records deleted by retention", len(trace.tables["log_deleted"]),
               "records"),
        Metric("kafka", "lost to retention", int((trace.dropped["reason"]
                                                  == REASON_CODE["retention"]).sum()),
               "messages"),
        Metric("kafka", "unread at end (log end - consumer position)",
               cluster.partition(CHANNEL, 0).high_watermark
               - (consumer.position((CHANNEL, 0)) or 0), "records"),
    ]
    step = params["phase.s"]
    for k in range(len(phases(params))):
        window = (ticks > k * step) & (ticks <= (k + 1) * step)
        metrics.append(Metric("kafka", f"peak storage in phase {k + 1}",
                              stored[window].max() / MIB if window.any() else 0.0, "MiB"))
    metrics += _per_phase("kafka", params, batch.t, sent[trace.delivered["msg"]],
                          sent[trace.dropped["msg"]])
    sent_cum = in_cum[np.searchsorted(in_t, ticks, side="right")]
    before = in_cum[np.searchsorted(in_t, ticks - params["retention.ms"] / 1e3, side="right")]
    series = {"kafka": {"t": ticks, "storage_mib": stored / MIB, "lag_mib": lag / MIB,
                        "window_mib": (sent_cum - before) / MIB,
                        "lost": np.searchsorted(lost_t, ticks, side="right").astype(float)}}
    return metrics, series


def _per_phase(model: str, params: Params, sent: np.ndarray, delivered_sent: np.ndarray,
               lost_sent: np.ndarray) -> list[Metric]:
    """Published, delivered and lost per phase (by the time each message was sent)."""
    n = len(phases(params))
    count = np.bincount(_phase_of(sent, params), minlength=n)
    got = np.bincount(_phase_of(delivered_sent, params), minlength=n)
    lost = np.bincount(_phase_of(lost_sent, params), minlength=n)
    out = []
    for k in range(n):
        out += [Metric(model, f"published in phase {k + 1}", int(count[k]), "messages"),
                Metric(model, f"delivered from phase {k + 1}", int(got[k]), "messages"),
                Metric(model, f"lost from phase {k + 1}", int(lost[k]), "messages"),
                Metric(model, f"lost fraction of phase {k + 1}",
                       lost[k] / count[k] if count[k] else 0.0, "fraction")]
    return out


def run(params: Params, seed: int) -> RunResult:
    """Both models on the same messages (common random numbers)."""
    r_metrics, r_series = run_redis(params, seed)
    k_metrics, k_series = run_kafka(params, seed)
    volume = [Metric("workload", f"volume of phase {k + 1}", rate * size / MIB, "MiB/s")
              for k, (rate, size) in enumerate(phases(params))]
    return RunResult(metrics=volume + r_metrics + k_metrics, series={**r_series, **k_series})


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Volume, Redis memory and losses, Kafka storage and lag over time; loss per phase."""
    results = comparable(results)  # a sweep: the first point's setting
    first = results[0]
    p = first.params
    ph = phases(p)
    step = p["phase.s"]
    limit = OutputBufferLimit.parse(RedisPubSub(Simulation()).config.client_output_buffer_limit)
    fig = Figure(figsize=(8.5, 8.5), layout="constrained")
    vol, red, kaf = fig.subplots(3, 1, sharex=True)
    edges = [k * step for k in range(len(ph) + 1)]
    volumes = [rate * size / MIB for rate, size in ph]
    vol.stairs(volumes, edges, color="0.3", linewidth=2, label="offered volume")
    vol.axhline(p["receiver.MiBps"], color="black", linestyle=":",
                label=f"receiver takes in {p['receiver.MiBps']:g} MiB/s")
    for k, (rate, size) in enumerate(ph):
        vol.annotate(f"{rate:g}/s x {format_size(size)}", ((k + 0.5) * step, volumes[k]),
                     xytext=(0, 4), textcoords="offset points", ha="center", fontsize="small")
    vol.set_ylabel(axis_label("volume", "MiB/s"))
    vol.set_title("Workload", fontsize="medium")
    vol.set_ylim(0, max(volumes) * 1.25)
    vol.legend(fontsize="small", loc="upper left")
    r = first.series["redis"]
    style = model_style("redis")
    (buffer_line,) = red.plot(r["t"], r["buffer_mib"], color=style.color)
    red.axhline(limit.hard / MIB, color="0.3", linestyle=":", linewidth=1.2)
    red.annotate(f"hard limit {limit.hard / MIB:g} MiB", (1.0, limit.hard / MIB),
                 xycoords=("axes fraction", "data"), xytext=(-3, 3), textcoords="offset points",
                 fontsize="small", color="0.3", ha="right")
    red.set_ylabel(axis_label("counted output buffer", "MiB"))
    red.set_ylim(0, limit.hard / MIB * 1.35)
    lost = red.twinx()
    (lost_line,) = lost.plot(r["t"], r["lost"], color="black", linestyle="--")
    lost.set_ylabel(axis_label("messages lost", "cumulative"))
    lost.set_ylim(0, max(1.0, float(r["lost"].max())) * 1.35)
    red.set_title("Redis Pub/Sub: memory bounded by client-output-buffer-limit, excess lost",
                  color=style.color, fontsize="medium")
    red.legend([buffer_line, lost_line], ["counted output buffer (left)",
                                          "messages lost, cumulative (right)"],
               fontsize="small", loc="upper left")
    k = first.series["kafka"]
    style = model_style("kafka")
    kaf.plot(k["t"], k["storage_mib"], color=style.color, linewidth=2,
             label="topic storage (one replica)")
    kaf.plot(k["t"], k["lag_mib"], color=model_style("kafka lag").color, linestyle="--",
             label="consumer lag")
    kaf.plot(k["t"], k["window_mib"], color="0.45", linestyle=":",
             label="bytes sent in the last retention.ms")
    kaf.set_ylabel(axis_label("bytes", "MiB"))
    kaf.set_xlabel(axis_label("simulated time", "s"))
    kaf.set_title(f"Kafka: storage grows with volume (retention.ms = "
                  f"{format_duration(p['retention.ms'] / 1e3)}, segment.bytes = "
                  f"{format_size(p['segment.bytes'])})", color=style.color, fontsize="medium")
    kaf.legend(fontsize="small", loc="upper left")
    for ax in (vol, red, kaf):
        ax.grid(True, alpha=0.3)
        for x in edges[1:]:
            ax.axvline(x, color="0.85", linewidth=0.8, zorder=0)
    fig.suptitle("Growing data volume")
    paths = save_figure(fig, out_dir, "data_volume_timeline")

    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    width = 0.38
    for j, model in enumerate(("redis", "kafka")):
        fractions = np.array([[res.value(model, f"lost fraction of phase {i + 1}")
                               for i in range(len(ph))] for res in results])
        err = fractions.std(axis=0, ddof=1) if len(results) > 1 else None
        bars = ax.bar(np.arange(len(ph)) + (j - 0.5) * width, 100 * fractions.mean(axis=0),
                      width, yerr=None if err is None else 100 * err,
                      color=model_style(model).color, label=model, capsize=3)
        ax.bar_label(bars, fmt="%.0f%%", fontsize="small", color=model_style(model).color)
    ax.set_xticks(range(len(ph)), [f"phase {i + 1}\n{v:.3g} MiB/s" for i, v in
                                   enumerate(volumes)])
    ax.set_ylabel(axis_label("messages lost", "% of the phase"))
    ax.set_ylim(0, 105)
    ax.set_title(f"Loss by phase (receiver takes in {p['receiver.MiBps']:g} MiB/s)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    paths += save_figure(fig, out_dir, "data_volume_loss")
    return paths


def check(results: Sequence[RunResult]) -> None:
    """Redis memory stays bounded and loses once the volume exceeds the receiver; Kafka keeps
    what it retains and its storage grows with the volume."""
    for r in results:
        p = r.params
        limit = OutputBufferLimit()
        ph = phases(p)
        assert r.value("redis", "peak output buffer") * MIB < limit.hard + max(
            s for _, s in ph), "the output-buffer hard limit must bound Redis's memory"
        n = len(ph)
        over = [k for k, (rate, size) in enumerate(ph) if rate * size > 1.15 * p[
            "receiver.MiBps"] * MIB]
        under = [k for k, (rate, size) in enumerate(ph) if rate * size < 0.8 * p[
            "receiver.MiBps"] * MIB]
        assert over and under, "need phases well under and well over the receiver's capacity"
        assert r.value("redis", "disconnects by output-buffer limit") >= 1, (
            "the overloaded subscriber must be disconnected by the output-buffer limit")
        # at the end a receiver may still be reading (a slow receiver, a short drain): Kafka's
        # consumer until it reaches the log end, Redis's subscriber for at most the time its
        # link needs to carry a full output buffer
        settled = {"kafka": r.value("kafka", "unread at end (log end - consumer position)") == 0,
                   "redis": p["drain.s"] > (limit.hard + MIB) / (p["receiver.MiBps"] * MIB) + 1}
        for k in range(n):
            pub = r.value("redis", f"published in phase {k + 1}")
            assert pub == r.value("kafka", f"published in phase {k + 1}"), "same messages"
            for model in ("redis", "kafka"):
                got = r.value(model, f"delivered from phase {k + 1}")
                lost = r.value(model, f"lost from phase {k + 1}")
                assert got + lost <= pub, f"{model}: more delivered or lost than sent"
                if settled[model]:
                    assert got + lost == pub, (
                        f"{model}: every message of phase {k + 1} delivered or lost by the end")
        for k in under:
            if k < min(over):
                assert r.value("redis", f"lost from phase {k + 1}") == 0, (
                    "Redis loses nothing while the receiver keeps up")
        for k in over:
            excess = 1 - p["receiver.MiBps"] * MIB / (ph[k][0] * ph[k][1])
            assert r.value("redis", f"lost fraction of phase {k + 1}") > 0.5 * excess, (
                "Redis must drop much of what exceeds the receiver")
        # Kafka: loses only to retention, and only if the consumer fell retention.ms behind;
        # the disk holds more as the volume grows
        lost_k = sum(r.value("kafka", f"lost from phase {k + 1}") for k in range(n))
        assert lost_k == r.value("kafka", "lost to retention"), "Kafka loses only to retention"
        if r.value("kafka", "max send-to-processed delay") < 0.9 * p["retention.ms"] / 1e3:
            assert lost_k == 0, "Kafka must lose nothing while the consumer is within retention"

        peaks = [r.value("kafka", f"peak storage in phase {k + 1}") for k in range(n)]
        assert peaks[-1] > 2 * peaks[0] > 0, "Kafka storage must grow with the data volume"
        assert r.value("kafka", "records deleted by retention") > 0, "retention must act"


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    peak = mean(results, "redis", "peak output buffer")
    lost = max(mean(results, "redis", f"lost fraction of phase {k}") for k in (1, 2, 3, 4)
               if not np.isnan(mean(results, "redis", f"lost fraction of phase {k}")))
    storage = mean(results, "kafka", "peak topic storage (one replica)")
    return [Verdict("memory that stays bounded whatever the volume",
                    "redis",
                    f"Redis output buffers peaked at {peak:.3g} MiB but it lost {lost:.0%} of the "
                    f"heaviest phase; Kafka lost nothing but its storage rose to {storage:.3g} MiB "
                    "(disk, bounded by retention)")]


EXPERIMENT = Experiment(
    name="data-volume",
    question="As message rate and size grow past what a receiver takes in, what happens to "
             "broker memory and storage, and what is lost?",
    expected="Redis's memory for the subscriber stays under the 32 MiB output-buffer hard "
             "limit while it repeatedly disconnects it and drops the excess (more as the "
             "volume grows); Kafka's storage grows to about retention.ms x volume, its "
             "consumer falls behind and catches up, and nothing is lost while retained.",
    params={"rates": "16,32,48,80", "sizes": "65536,131072,262144,262144", "phase.s": 20.0,
            "drain.s": 20.0, "receiver.MiBps": 16.0, "reconnect_delay": 1.0,
            "retention.ms": 15_000, "segment.bytes": 8 * 1024 * 1024},
    quick={"rates": "20,100", "sizes": "32768,262144", "phase.s": 6.0, "drain.s": 6.0,
           "retention.ms": 6_000},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
