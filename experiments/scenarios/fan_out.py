"""Fan-out: one stream of messages to many receivers, and (Redis) many pattern subscriptions.

A Poisson stream of ``rate`` PUBLISHes / records goes to N receivers that each want every
message: N connections SUBSCRIBEd to one channel in Redis, N consumer groups of one consumer
each on a one-partition topic (RF 3) in Kafka. Separately, Redis is run with one subscriber
and M glob patterns held by another client that match none of the channels.

What it demonstrates, as the real systems behave:

- **Redis's fan-out runs inside PUBLISH on the single main thread.** PUBLISH appends a frame
  to every subscriber's output buffer and then tests the channel against *every* pattern
  (``pubsubPublishMessageInternal`` in ``src/pubsub.c``: O(N + M)). Its cost here is
  ``command-cost`` + N x ``delivery-cost`` + M x ``pattern-match-cost`` (0.65 µs, 0.9 µs,
  0.24 µs, fitted to published figures), so the server's CPU utilisation and PUBLISH's
  round-trip time grow linearly with subscribers and patterns, and the last subscriber of a
  PUBLISH waits for all the copies before it. At 10 000 subscribers and 100 msg/s the main
  thread is ~90 % busy.
- **In Kafka each group costs the brokers its own fetches.** Every group long-polls the
  partition on its own (``fetch.min.bytes`` 1, ``fetch.max.wait.ms`` 500): each group sends
  about one fetch request per produce batch and reads every byte once, so the brokers serve
  N x the requests and N x the bytes; nothing is done per group when a record is appended,
  and a group's latency does not depend on how many other groups there are.

Size. The defaults run 1, 10, 100 and 1000 receivers and 0-1000 patterns; 10 000 subscribers
or patterns only with ``--set subscribers=1,10,100,1000,10000`` (or ``patterns=...``): slow,
because connecting a subscriber to the simulated Redis costs time proportional to the
clients already connected (see the report) and each pattern compiles a matcher. Kafka groups
are simulated up to ``kafka.groups.max`` (100: each group costs the simulation a fetch loop);
above it the Kafka points are left out. The model has no broker CPU or network limit, so its
per-group figures would be the same at any count (push-vs-pull's tests check one group
stands for many); a real broker would eventually saturate its network (N x bytes out).

Modelling notes. Subscribers read instantly (no processing) and Kafka consumers process in
zero time, so the latencies are the systems' own. The broker's
``group.initial.rebalance.delay.ms`` is 0 and traffic starts after a 0.5 s warm-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, NullLocator

from experiments.conservation import assert_run_conserved
from experiments.experiment import Experiment, Metric, Params, RunResult, Verdict
from experiments.plotting import axis_label, model_style, plot_model, save_figure
from experiments.scenarios._same_workload import (
    MIB,
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
from models.redis_pubsub.frames import message_frame_size
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.workload import Workload, poisson

CHANNEL = "events"
WARMUP = 0.5


def _workload(params: Params) -> Workload:
    return poisson(params["rate"], params["duration"], CHANNEL, params["message_size"])


def _counts(params: Params, key: str) -> list[int]:
    counts = [int(x) for x in parse_numbers(params[key], key)]
    if any(c < 0 for c in counts) or (key == "subscribers" and any(c < 1 for c in counts)):
        raise ValueError(f"{key}: counts must be positive")
    return counts


def kafka_counts(params: Params) -> list[int]:
    """The receiver counts Kafka is simulated at (those up to ``kafka.groups.max``)."""
    return [n for n in _counts(params, "subscribers") if n <= params["kafka.groups.max"]]


def _ms(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q) * 1e3) if len(x) else float("nan")


def run_redis(params: Params, seed: int, subscribers: int, patterns: int,
              flush_interval: float | None = None) -> dict[str, float | np.ndarray]:
    """``subscribers`` on the channel and ``patterns`` non-matching globs on another client.

    ``flush_interval`` (default: the whole run) is how often the model's batch engine settles
    deliveries while traffic flows — bookkeeping, not Redis behaviour: any value gives the same
    trace up to float rounding (tested), and each settling pass walks every connection, so
    with 1000 subscribers fewer passes make the run several times faster.
    """
    sim = Simulation(seed=seed)
    latency = params["latency.ms"] / 1e3
    server = RedisPubSub(sim, {"latency": latency})
    server.flush_interval = flush_interval or max(server.flush_interval, params["duration"])
    for i in range(subscribers):
        Subscriber(server, f"sub-{i}", [CHANNEL], reconnect_delay=None)
    if patterns:
        Subscriber(server, "pattern-holder", (), [f"other.{i}.*" for i in range(patterns)],
                   reconnect_delay=None)
    sim.run(until=WARMUP)
    assert_run_conserved(sim)
    busy0 = server.busy_time
    batch = workload_messages(_workload(params), sim)
    server.feed(batch.t + WARMUP, np.zeros(len(batch), dtype=np.int64), batch.size,
                channel_names=[CHANNEL])
    trace = sim.trace
    owed = len(batch) * subscribers
    end = WARMUP + params["duration"]
    run_until(sim, lambda: len(trace.delivered) >= owed, end + 0.01, end + 60.0, step=0.25)
    executed = trace.tables["redis_publish"]
    sent = trace.published
    order = np.argsort(executed["msg"])
    done = executed["t"][order][np.searchsorted(executed["msg"][order], sent["msg"])]
    publish_rtt = done + latency - sent["t"]
    frames = message_frame_size(len(CHANNEL), batch.size.astype(np.int64))
    return {"publish_rtt": publish_rtt, "e2e": delivery_latencies(trace),
            "cpu": (server.busy_time - busy0) / params["duration"],
            "cpu_per_publish": (server.busy_time - busy0) / max(len(batch), 1),
            "bytes_out": float(np.sum(frames)) * subscribers / params["duration"],
            "delivered": len(trace.delivered), "owed": owed}


def run_kafka(params: Params, seed: int, groups: int) -> dict[str, float | np.ndarray]:
    """``groups`` consumer groups of one consumer each; per-group fetches and bytes read."""
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=3, latency=params["latency.ms"] / 1e3,
                           config={"group.initial.rebalance.delay.ms": 0})
    cluster.create_topic(CHANNEL, partitions=1, replication_factor=3)
    loops = [auto_commit(cluster, {"group.id": f"group-{g}", "client.id": "consumer-0",
                                   "auto.offset.reset": "earliest"}, CHANNEL, processing=0.0)
             for g in range(groups)]
    sim.run(until=WARMUP)
    assert_run_conserved(sim)
    fetches0 = [loop.consumer.stats["fetches"] for loop in loops]
    batch = workload_messages(_workload(params), sim)
    cluster.producer({}).produce(CHANNEL, batch.t + WARMUP, batch.size)
    trace = sim.trace
    owed = len(batch) * groups
    end = WARMUP + params["duration"]
    run_until(sim, lambda: len(trace.delivered) >= owed, end + 0.01, end + 60.0, step=0.25)
    fetches = np.array([loop.consumer.stats["fetches"] - f0
                        for loop, f0 in zip(loops, fetches0, strict=True)], dtype=np.float64)
    sizes = np.zeros(int(trace.published["msg"].max()) + 1 if len(batch) else 0)
    sizes[trace.published["msg"]] = trace.published["size"]
    read = sizes[trace.delivered["msg"]].sum()
    window = sim.now - WARMUP
    return {"e2e": delivery_latencies(trace), "fetches_per_group": fetches.mean() / window,
            "fetches_total": fetches.sum() / window,
            "bytes_per_group": read / groups, "bytes_out": read / params["duration"],
            "delivered": len(trace.delivered), "owed": owed}


def run(params: Params, seed: int) -> RunResult:
    """Every receiver count (and pattern count for Redis) on the same messages."""
    metrics: list[Metric] = []
    for n in _counts(params, "subscribers"):
        r = run_redis(params, seed, n, 0)
        at = f"@ {n} subscribers"
        metrics += [
            Metric("redis", f"PUBLISH p50 round trip {at}", _ms(r["publish_rtt"], 50), "ms"),
            Metric("redis", f"PUBLISH p99 round trip {at}", _ms(r["publish_rtt"], 99), "ms"),
            Metric("redis", f"end-to-end p50 {at}", _ms(r["e2e"], 50), "ms"),
            Metric("redis", f"end-to-end p99 {at}", _ms(r["e2e"], 99), "ms"),
            Metric("redis", f"server cpu utilisation {at}", r["cpu"], "fraction of one core"),
            Metric("redis", f"cpu per PUBLISH {at}", r["cpu_per_publish"] * 1e6, "µs"),
            Metric("redis", f"bytes out per second {at}", r["bytes_out"] / MIB, "MiB/s"),
            Metric("redis", f"delivered fraction {at}", r["delivered"] / r["owed"], "fraction"),
        ]
    for m in _counts(params, "patterns"):
        r = run_redis(params, seed, 1, m)
        at = f"@ {m} patterns"
        metrics += [
            Metric("redis", f"PUBLISH p50 round trip {at}", _ms(r["publish_rtt"], 50), "ms"),
            Metric("redis", f"PUBLISH p99 round trip {at}", _ms(r["publish_rtt"], 99), "ms"),
            Metric("redis", f"server cpu utilisation {at}", r["cpu"], "fraction of one core"),
            Metric("redis", f"cpu per PUBLISH {at}", r["cpu_per_publish"] * 1e6, "µs"),
        ]
    if kafka_counts(params):
        sizes = workload_messages(_workload(params), Simulation(seed=seed)).size
        metrics.append(Metric("kafka", "bytes published", float(sizes.sum()) / MIB, "MiB"))
    for g in kafka_counts(params):
        k = run_kafka(params, seed, g)
        at = f"@ {g} subscribers"
        metrics += [
            Metric("kafka", f"end-to-end p50 {at}", _ms(k["e2e"], 50), "ms"),
            Metric("kafka", f"end-to-end p99 {at}", _ms(k["e2e"], 99), "ms"),
            Metric("kafka", f"fetch requests per group per second {at}",
                   k["fetches_per_group"], "requests/s"),
            Metric("kafka", f"fetch requests per second, all groups {at}",
                   k["fetches_total"], "requests/s"),
            Metric("kafka", f"bytes read per group {at}", k["bytes_per_group"] / MIB, "MiB"),
            Metric("kafka", f"bytes out per second {at}", k["bytes_out"] / MIB, "MiB/s"),
            Metric("kafka", f"delivered fraction {at}", k["delivered"] / k["owed"], "fraction"),
        ]
    return RunResult(metrics=metrics)


def _series(results: Sequence[RunResult], model: str, stat: str, counts: list[int],
            unit: str) -> tuple[list[int], np.ndarray, np.ndarray | None]:
    """``stat`` at each count: mean and spread over the runs that have it (counts that no run
    has are left out)."""
    mean, spread = mean_and_spread(results, model, [f"{stat} @ {c} {unit}" for c in counts])
    keep = np.isfinite(mean)
    return ([c for c, k in zip(counts, keep, strict=True) if k], mean[keep],
            None if spread is None else spread[keep])


def _all_counts(results: Sequence[RunResult]) -> tuple[list[int], list[int], list[int]]:
    """Subscriber, pattern and Kafka group counts over these runs (a sweep splits them)."""
    subs = sorted({c for r in results for c in _counts(r.params, "subscribers")})
    pats = sorted({c for r in results for c in _counts(r.params, "patterns")})
    groups = sorted({c for r in results for c in kafka_counts(r.params)})
    return subs, pats, groups


def _percentile_line(ax: Axes, model: str, stat: str, x: list[int], y: np.ndarray,
                     err: np.ndarray | None, label: str) -> None:
    """A p50 (hollow markers, thin) or p99 (filled) line in the model's colour, so that both
    stay visible where they coincide."""
    style = model_style(model)
    if "p50" in stat:
        ax.errorbar(x, y, yerr=err, color=style.color, marker=style.marker, markersize=10,
                    markerfacecolor="none", linestyle=style.linestyle, linewidth=1.0,
                    label=label)
    else:
        plot_model(ax, model, x, y, yerr=err, label=label)


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Latency vs receivers and vs patterns; where the work goes (Redis CPU, Kafka fetches)."""
    results = comparable(results, ("subscribers", "patterns", "kafka.groups.max"))
    p = results[0].params
    subs, pats, groups = _all_counts(results)
    fig = Figure(figsize=(11.0, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    lines = (("redis", "PUBLISH p50 round trip", "redis PUBLISH p50", subs),
             ("redis", "PUBLISH p99 round trip", "redis PUBLISH p99 (= end-to-end p99)", subs),
             ("kafka", "end-to-end p50", "kafka end-to-end p50", groups),
             ("kafka", "end-to-end p99", "kafka end-to-end p99", groups))
    for model, stat, label, counts in lines:
        if counts:
            x, y, err = _series(results, model, stat, counts, "subscribers")
            _percentile_line(left, model, stat, x, y, err, label)
    log_axes(left)
    left.set_xlabel(axis_label("subscribers (Redis) / consumer groups (Kafka)", ""))
    left.set_ylabel(axis_label("latency", "ms"))
    left.set_title("Latency vs fan-out", fontsize="medium")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize="small")
    for stat in ("PUBLISH p50 round trip", "PUBLISH p99 round trip"):
        x, y, err = _series(results, "redis", stat, pats, "patterns")
        _percentile_line(right, "redis", stat, x, y, err, f"redis {stat.split()[1]}")
    right.set_xscale("symlog", linthresh=10)
    right.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    right.xaxis.set_minor_locator(NullLocator())
    right.set_ylim(bottom=0)
    right.set_xlabel(axis_label("non-matching patterns (PSUBSCRIBE), with 1 subscriber", ""))
    right.set_ylabel(axis_label("PUBLISH round trip", "ms"))
    right.set_title("Redis: every PUBLISH tests every pattern", fontsize="medium")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize="small", loc="upper left")
    fig.suptitle(f"Fan-out at {p['rate']:g} msg/s of {p['message_size']} B "
                 f"(Redis PUBLISH is O(subscribers + patterns))")
    paths = save_figure(fig, out_dir, "fan_out_latency")

    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    a, b, c = fig.subplots(1, 3)
    x, y, err = _series(results, "redis", "server cpu utilisation", subs, "subscribers")
    plot_model(a, "redis", x, 100 * y, yerr=None if err is None else 100 * err,
               label="vs subscribers")
    shown = [m for m in pats if m > 0]
    if shown:
        x, y, err = _series(results, "redis", "server cpu utilisation", shown, "patterns")
        plot_model(a, "redis patterns", x, 100 * y, yerr=None if err is None else 100 * err,
                   label="vs patterns (1 subscriber)")
    a.set_title("Redis main thread", fontsize="medium")
    a.set_ylabel(axis_label("CPU utilisation", "% of one core"))
    a.set_xlabel(axis_label("subscribers or patterns", ""))
    if groups:
        x, y, err = _series(results, "kafka", "fetch requests per second, all groups", groups,
                            "subscribers")
        plot_model(b, "kafka", x, y, yerr=err, label="all groups")
        x, y, err = _series(results, "kafka", "fetch requests per group per second", groups,
                            "subscribers")
        plot_model(b, "kafka per group", x, y, yerr=err, label="per group")
    b.set_title("Kafka brokers: fetch requests served", fontsize="medium")
    b.set_ylabel(axis_label("fetch requests", "per second"))
    b.set_xlabel(axis_label("consumer groups", ""))
    for model, counts in (("redis", subs), ("kafka", groups)):
        if counts:
            x, y, err = _series(results, model, "bytes out per second", counts, "subscribers")
            plot_model(c, model, x, y, yerr=err)
    c.set_title("Bytes sent to receivers", fontsize="medium")
    c.set_ylabel(axis_label("bytes out", "MiB/s"))
    c.set_xlabel(axis_label("subscribers / consumer groups", ""))
    for ax in (a, b, c):
        log_axes(ax)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Where the fan-out work goes")
    paths += save_figure(fig, out_dir, "fan_out_work")
    return paths


def check(results: Sequence[RunResult]) -> None:
    """Redis's PUBLISH cost and latency grow linearly with subscribers and patterns; each Kafka
    group reads every byte, and its fetch rate and latency do not depend on how many groups
    there are (so the brokers' load is N x one group's).

    Each run is judged on its own counts; the comparisons across counts need two or more (the
    quick size has three receiver counts and two pattern counts).
    """
    cfg = RedisPubSub(Simulation()).config
    for r in results:
        p = r.params
        subs, pats, groups = _counts(p, "subscribers"), _counts(p, "patterns"), kafka_counts(p)
        for n in subs:
            at = f"@ {n} subscribers"
            assert r.value("redis", f"delivered fraction {at}") == 1.0, "Redis lost nothing"
            expected = (cfg.command_cost + n * cfg.delivery_cost) * 1e6
            got = r.value("redis", f"cpu per PUBLISH {at}")
            assert abs(got / expected - 1) < 0.01, (
                "PUBLISH must cost command-cost + subscribers x delivery-cost")
            assert r.value("redis", f"PUBLISH p50 round trip {at}") > expected / 1e3, (
                "PUBLISH cannot answer before its fan-out is done")
        for m in pats:
            expected = (cfg.command_cost + cfg.delivery_cost + m * cfg.pattern_match_cost) * 1e6
            got = r.value("redis", f"cpu per PUBLISH @ {m} patterns")
            assert abs(got / expected - 1) < 0.01, "every PUBLISH must test every pattern"
        if len(subs) >= 2:
            lo, hi = f"@ {subs[0]} subscribers", f"@ {subs[-1]} subscribers"
            assert r.value("redis", f"PUBLISH p50 round trip {hi}") > r.value(
                "redis", f"PUBLISH p50 round trip {lo}") + 0.5 * (subs[-1] - subs[0]) * \
                cfg.delivery_cost * 1e3, "PUBLISH latency must grow with subscribers"
            util = [r.value("redis", f"server cpu utilisation @ {n} subscribers") for n in subs]
            assert all(b > a for a, b in pairwise(util)), "Redis CPU must grow with subscribers"
        if len(pats) >= 2:
            assert r.value("redis", f"PUBLISH p50 round trip @ {pats[-1]} patterns") > r.value(
                "redis", f"PUBLISH p50 round trip @ {pats[0]} patterns"), (
                "PUBLISH latency must grow with patterns")
        # Kafka: every group fetches and reads every byte itself
        for g in groups:
            at = f"@ {g} subscribers"
            assert r.value("kafka", f"delivered fraction {at}") == 1.0, "Kafka lost nothing"
            assert r.value("kafka", f"bytes read per group {at}") == r.value(
                "kafka", "bytes published"), "each group reads every byte once"
            assert r.value("kafka", f"fetch requests per group per second {at}") > 0
        if len(groups) >= 2:
            first = f"@ {groups[0]} subscribers"
            for g in groups[1:]:
                at = f"@ {g} subscribers"
                for stat in ("fetch requests per group per second", "end-to-end p99"):
                    assert abs(r.value("kafka", f"{stat} {at}")
                               / r.value("kafka", f"{stat} {first}") - 1) < 0.1, (
                        f"a Kafka group's {stat} must not depend on the number of groups")


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    counts = sorted({int(m.metric.rsplit("@ ", 1)[1].split()[0]) for r in results
                     for m in r.metrics if m.model == "redis"
                     and m.metric.startswith("end-to-end p99 @ ")
                     and m.metric.endswith("subscribers")})
    if not counts:
        return []
    n = counts[-1]
    redis = mean(results, "redis", f"end-to-end p99 @ {n} subscribers")
    kafka = mean(results, "kafka", "end-to-end p99 @ 1 subscribers")
    return [Verdict("pushing each message to many live subscribers at once",
                    "redis" if redis < kafka else "kafka",
                    f"with {n} subscribers Redis delivered every copy within {redis:.3g} ms "
                    f"(p99), while one Kafka group alone already waits {kafka:.3g} ms (p99)")]


EXPERIMENT = Experiment(
    name="fan-out",
    question="How do broker work and latency grow with the number of receivers of each "
             "message (and, for Redis, with the number of pattern subscriptions)?",
    expected="Redis's PUBLISH costs command-cost + N x delivery-cost + M x pattern-match-cost "
             "on its single thread, so CPU utilisation and PUBLISH latency grow linearly with "
             "subscribers N and patterns M; each Kafka consumer group costs the brokers its "
             "own fetch requests and bytes (total N x per group) while its latency is "
             "independent of the number of groups.",
    params={"subscribers": "1,10,100,1000", "patterns": "0,10,100,1000",
            "kafka.groups.max": 100, "rate": 100.0, "duration": 1.0, "message_size": 100,
            "latency.ms": 0.1},
    quick={"subscribers": "1,10,100", "patterns": "0,1000", "kafka.groups.max": 10,
           "duration": 0.5},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
