"""Delivery guarantees under consumer crashes: lost vs duplicated, by where the commit sits.

Kafka (``shared/reference/kafka.md`` §4.3-4.4): a restarted consumer resumes from its group's
committed offset, so the guarantee is decided by when the application commits —

- read → **commit** → process: *at-most-once*; a crash while processing loses the rest of the
  batch, which is already committed (never a duplicate);
- read → process → **commit**: *at-least-once*; a crash replays what was processed since the
  last commit (duplicates, nothing lost);
- ``enable.auto.commit=true``: ``poll()`` commits the previous polls' positions every
  ``auto.commit.interval.ms`` (5 s); with each batch processed before the next poll this is
  at-least-once, and a crash replays up to an interval's worth of records — more duplicates the
  longer the interval.

Redis Pub/Sub (``shared/reference/redis-pubsub.md`` §2): "at-most-once ... Once the message is
sent by the Redis server, there's no chance of it being sent again": a crashed subscriber loses
what was in its buffers and everything published until it has reconnected and subscribed again,
and never receives anything twice.

The same crash times (drawn once per seed) hit one consumer per Kafka variant (each its own
group on one topic, restarting ``restart_s`` later with the same ``client.id``; the new member
is assigned the partitions once the old one's ``session.timeout.ms`` has expired) and the Redis
subscriber (reconnecting and resubscribing ``restart_s`` later). Lost and duplicated are counted
after every consumer has caught up.

Metrics per variant: ``processed`` (distinct), ``lost`` (published, never processed),
``duplicated`` (processed more than once), both also per crash, and
``traced_client_crash_drops`` (the model's own account of losses, trace reason
``client-crash``). ``max.poll.records`` is 50 rather than Kafka's 500 so that a batch takes
under a second and the commit discipline, not the batch size, decides what a crash costs;
``session.timeout.ms`` is 10 s rather than 45 s so that three crashes fit in two minutes (it
decides how long a crash stalls the group, not what is lost or duplicated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from experiments.conservation import assert_run_conserved
from experiments.experiment import Experiment, Metric, RunResult, Verdict
from experiments.plotting import axis_label, new_figure, save_figure
from experiments.scenarios._feeding import arrivals, produce_workload, run_until_caught_up
from experiments.scenarios._styles import distinct_styles
from experiments.scenarios._tally import deliveries_to, drops_to, publish_times, tally
from experiments.scenarios._verdicts import mean
from models.kafka import KafkaCluster
from models.kafka.loops import auto_commit, commit_before_process, process_then_commit
from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.faults import FaultSchedule
from sim.workload import ProducerSpec, Workload

TOPIC = "events"
REDIS = "redis"
BEFORE = "kafka/commit-before"
AFTER = "kafka/commit-after"


def auto_intervals(params: Mapping[str, Any]) -> list[int]:
    """``"1000,5000,10000"`` -> ``[1000, 5000, 10000]`` (ms, sorted, distinct, each >= 1)."""
    values = sorted({int(x) for x in str(params["auto.commit.interval.ms"]).split(",")
                     if x.strip()})
    if not values or values[0] < 1:
        raise ValueError("auto.commit.interval.ms must list positive integers (ms), not "
                         f"{params['auto.commit.interval.ms']!r}")
    return values


def auto_name(interval_ms: int) -> str:
    """The variant name of auto-commit every ``interval_ms``."""
    return f"kafka/auto-commit {interval_ms / 1000:g}s"


def variants(params: Mapping[str, Any]) -> list[str]:
    """Every variant, Redis first, then Kafka by increasing replay window."""
    return [REDIS, BEFORE, AFTER, *(auto_name(i) for i in auto_intervals(params))]


def crash_times(params: Mapping[str, Any], seed: int) -> np.ndarray:
    """``crashes`` crash times, one in each of ``crashes`` equal slices of the middle 80 % of
    the run, from the seed's ``faults/crashes`` stream (the same for every variant)."""
    n = int(params["crashes"])
    if n < 1:
        raise ValueError("crashes must be at least 1")
    lo, hi = 0.1 * params["duration"], 0.9 * params["duration"]
    edges = np.linspace(lo, hi, n + 1)
    rng = Simulation(seed=seed).rng("faults/crashes")
    return np.sort(rng.uniform(edges[:-1], edges[1:]))


def workload(params: Mapping[str, Any]) -> Workload:
    """``rate`` messages per second (``arrivals``: poisson or constant) for ``duration``."""
    spec = ProducerSpec("producer", TOPIC, arrivals(params["arrivals"], float(params["rate"])),
                        params["message_size"])
    return Workload((spec,), params["duration"], "delivery-guarantees", chunk=1.0)


def run_kafka(params: Mapping[str, Any], seed: int, crashes: np.ndarray) -> Simulation:
    """One group per commit discipline on one topic, each consumer crashing at ``crashes``."""
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=3)
    cluster.create_topic(TOPIC, int(params["partitions"]), 3)
    produce_workload(cluster, workload(params), {"linger.ms": int(params["linger.ms"])})
    base = {"client.id": "worker", "auto.offset.reset": "earliest",
            "session.timeout.ms": int(params["session.timeout.ms"]),
            "max.poll.records": int(params["max.poll.records"])}
    options = {"processing": params["processing_ms"] / 1000.0, "crash_at": crashes.tolist(),
               "restart_after": float(params["restart_s"])}
    loops = [commit_before_process(cluster, {**base, "group.id": "commit-before"}, TOPIC,
                                   **options),
             process_then_commit(cluster, {**base, "group.id": "commit-after"}, TOPIC,
                                 **options)]
    for interval in auto_intervals(params):
        loops.append(auto_commit(cluster, {**base, "group.id": f"auto-{interval}",
                                           "auto.commit.interval.ms": interval}, TOPIC,
                                 **options))
    batch_s = params["max.poll.records"] * params["processing_ms"] / 1000.0
    run_until_caught_up(sim, loops, params["duration"] + 1.0, 10 * params["duration"], batch_s)
    return sim


def run_redis(params: Mapping[str, Any], seed: int, crashes: np.ndarray) -> Simulation:
    """The subscriber crashes at ``crashes`` and comes back ``restart_s`` later."""
    sim = Simulation(seed=seed)
    server = RedisPubSub(sim)
    Subscriber(server, "worker", [TOPIC], service=params["processing_ms"] / 1000.0,
               reconnect_delay=None)
    schedule = FaultSchedule()
    for t in crashes.tolist():
        schedule = schedule + FaultSchedule.outage("worker", t, float(params["restart_s"]))
    schedule.attach(sim, server)
    server.publish_workload(workload(params))
    sim.run(until=params["duration"] + 2.0)
    assert_run_conserved(sim)
    return sim


def _metrics(model: str, sim: Simulation, receiver: str, crashes: int
             ) -> tuple[list[Metric], dict[str, np.ndarray]]:
    trace = sim.trace
    rid = trace.receivers.ids[receiver]
    msg, _ = deliveries_to(trace, rid)
    counts = tally(msg)
    sent = publish_times(trace)
    published = np.flatnonzero(np.isfinite(sent))
    ids, n = np.unique(msg, return_counts=True)
    lost = np.setdiff1d(published, ids)
    dropped = drops_to(trace, rid, "client-crash")
    metrics = [
        Metric(model, "published", len(published), "messages"),
        Metric(model, "processed", counts.unique, "messages"),
        Metric(model, "lost", len(lost), "messages"),
        Metric(model, "duplicated", counts.duplicates, "messages"),
        Metric(model, "lost_per_crash", len(lost) / crashes, "messages"),
        Metric(model, "duplicated_per_crash", counts.duplicates / crashes, "messages"),
        Metric(model, "traced_client_crash_drops", len(dropped), "messages"),
    ]
    return metrics, {"lost_t": sent[lost], "duplicated_t": sent[ids[n > 1]]}


def run(params: Mapping[str, Any], seed: int) -> RunResult:
    """One replication: the same crash times through every Kafka variant and Redis."""
    crashes = crash_times(params, seed)
    n = len(crashes)
    ksim = run_kafka(params, seed, crashes)
    rsim = run_redis(params, seed, crashes)
    metrics, series = [], {"crashes": {"t": crashes}}
    groups = {BEFORE: "commit-before", AFTER: "commit-after",
              **{auto_name(i): f"auto-{i}" for i in auto_intervals(params)}}
    for model in variants(params):
        sim, receiver = (rsim, "worker") if model == REDIS else (ksim,
                                                                 f"{groups[model]}/worker")
        m, s = _metrics(model, sim, receiver, n)
        metrics += m
        series[model] = s
    return RunResult(metrics=metrics, series=series)


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Lost vs duplicated per variant; duplicates against the auto-commit interval; where in
    the publish timeline the losses and duplicates fall."""
    first = results[0]
    p = first.params
    names = variants(p)
    styles = distinct_styles(names)
    n = len(results)

    def stats(model: str, metric: str) -> tuple[float, float]:
        values = np.array([r.value(model, metric) for r in results], dtype=float)
        return float(values.mean()), float(values.std(ddof=1)) if n > 1 else 0.0

    fig, ax = new_figure(f"Delivery guarantees: {p['crashes']} consumer crashes at "
                         f"{p['rate']:g} msg/s (mean ± sd of {n} run{'s' if n > 1 else ''})",
                         "", axis_label("messages per run", "messages"), size=(9.0, 4.6))
    x = np.arange(len(names))
    for k, (metric, hatch, label) in enumerate((("lost", None, "lost"),
                                                 ("duplicated", "//", "duplicated"))):
        means, errs = zip(*(stats(m, metric) for m in names), strict=True)
        ax.bar(x + (k - 0.5) * 0.38, means, width=0.38, yerr=errs, capsize=3,
               color=[styles[m].color for m in names], hatch=hatch, edgecolor="white",
               label=label)
    for container in ax.containers:
        if hasattr(container, "datavalues"):
            ax.bar_label(container, labels=[f"{v:.0f}" if v else "" for v in
                                            container.datavalues], fontsize="x-small",
                         padding=2)
    ax.set_xticks(x, [m.replace("/", "\n", 1) for m in names], fontsize="small")
    handles = [ax.bar(0, 0, color="0.5", label="lost"),
               ax.bar(0, 0, color="0.5", hatch="//", edgecolor="white", label="duplicated")]
    ax.legend(handles=handles, loc="upper left")
    paths = save_figure(fig, out_dir, "delivery_guarantees_lost_vs_duplicated")

    intervals = auto_intervals(p)
    fig, ax = new_figure("Delivery guarantees: replays after a crash vs auto.commit.interval.ms",
                         axis_label("auto.commit.interval.ms", "s"),
                         axis_label("duplicated per crash", "messages"), size=(9.0, 4.2))
    means, errs = zip(*(stats(auto_name(i), "duplicated_per_crash") for i in intervals),
                      strict=True)
    seconds = np.array(intervals) / 1000.0
    ax.errorbar(seconds, means, yerr=errs, color=styles[auto_name(intervals[-1])].color,
                marker="s", linestyle="--", capsize=3, label="kafka: auto-commit")
    ax.plot(seconds, p["rate"] * seconds, color="0.5", linestyle=":",
            label="rate × interval (one interval of records)")
    for model in (AFTER, BEFORE, REDIS):
        mean, _ = stats(model, "duplicated_per_crash")
        ax.axhline(mean, color=styles[model].color, linestyle=styles[model].linestyle,
                   label=f"{model} (any interval)")
    ax.set_ylim(bottom=-0.05 * max(max(means), 1.0))
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    paths += save_figure(fig, out_dir, "delivery_guarantees_auto_commit_interval")

    fig = Figure(figsize=(9.0, 0.75 * len(names) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    for row, model in enumerate(names):
        s = first.series[model]
        ax.plot(s["lost_t"], np.full(len(s["lost_t"]), row + 0.15), linestyle="none",
                marker="|", markersize=9, color="#d62728",
                label="lost" if row == 0 else None)
        ax.plot(s["duplicated_t"], np.full(len(s["duplicated_t"]), row - 0.15),
                linestyle="none", marker="|", markersize=9, color="#1f77b4",
                label="duplicated" if row == 0 else None)
    for t in first.series["crashes"]["t"]:
        ax.axvline(t, color="black", linestyle="--", linewidth=1)
    ax.plot([], [], color="black", linestyle="--", label="crash")
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, p["duration"])
    ax.set_xlabel(axis_label("publish time of the message", "s"))
    ax.set_title(f"Delivery guarantees: which messages were lost or processed twice "
                 f"(restart after {p['restart_s']:g} s)")
    ax.grid(True, alpha=0.3, axis="x")
    ax.legend(loc="upper right", bbox_to_anchor=(1.0, -0.12), ncols=3, fontsize="small",
              markerscale=1.5)
    paths += save_figure(fig, out_dir, "delivery_guarantees_timeline")
    return paths


def check(results: Sequence[RunResult]) -> None:
    """At-most-once never duplicates; at-least-once never loses; longer auto-commit intervals
    replay more; Redis loses and never duplicates. Invariants per run, effects over the runs."""
    p = results[0].params
    for r in results:
        v = r.value
        for model in (REDIS, BEFORE):
            assert v(model, "duplicated") == 0, f"{model} is at-most-once: no duplicates"
            assert v(model, "lost") == v(model, "traced_client_crash_drops"), (
                f"{model}: every lost message must be traced as a client-crash drop")
        for model in (AFTER, *(auto_name(i) for i in auto_intervals(p))):
            assert v(model, "lost") == 0, f"{model} is at-least-once: nothing lost"

    def total(model: str, metric: str) -> float:
        return sum(r.value(model, metric) for r in results)

    assert total(REDIS, "lost") > 0, "a crashed Redis subscriber loses messages"
    assert total(BEFORE, "lost") > 0, "commit-before-process loses the batch in hand"
    assert total(AFTER, "duplicated") > 0, "process-then-commit replays after a crash"
    intervals = auto_intervals(p)
    if len(intervals) > 1:
        assert total(auto_name(intervals[-1]), "duplicated") > total(
            auto_name(intervals[0]), "duplicated"), (
            "a longer auto.commit.interval.ms replays more after a crash")
    assert total(auto_name(intervals[-1]), "duplicated") > total(AFTER, "duplicated")


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    redis_lost = mean(results, "redis", "lost_per_crash")
    after_lost = mean(results, AFTER, "lost_per_crash")
    after_dup = mean(results, AFTER, "duplicated_per_crash")
    return [Verdict("no message lost when a receiver crashes (at-least-once)",
                    "kafka" if after_lost < redis_lost else "either",
                    f"per crash, Redis Pub/Sub lost {redis_lost:.3g} messages; Kafka with "
                    f"commit-after-process lost {after_lost:.3g} and redelivered {after_dup:.3g} "
                    "(so processing must be idempotent)")]

EXPERIMENT = Experiment(
    name="delivery-guarantees",
    question="Under consumer crashes, what is lost and what is processed twice with "
             "commit-before-processing, commit-after-processing and auto-commit in Kafka, and "
             "with a Redis subscriber?",
    expected="Committing before processing (at-most-once) loses the rest of the batch in hand "
             "and never duplicates; committing after processing (at-least-once) loses nothing "
             "and replays what was processed since the last commit; auto-commit replays more "
             "the longer auto.commit.interval.ms; a Redis subscriber loses what was buffered and "
             "published while it was down and never gets a duplicate.",
    params={"arrivals": "poisson", "rate": 50.0, "duration": 120.0, "crashes": 3, "restart_s": 1.0,
            "processing_ms": 16.0, "partitions": 3, "message_size": 500, "linger.ms": 100,
            "max.poll.records": 50, "session.timeout.ms": 10000,
            "auto.commit.interval.ms": "1000,5000,10000"},
    quick={"duration": 45.0, "crashes": 2, "session.timeout.ms": 6000,
           "auto.commit.interval.ms": "1000,10000"},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
