"""Replay: a receiver that joins late, or rewinds, and the history each system can give it.

Kafka keeps what was produced until retention removes it (``retention.ms``, 7 days by default;
``shared/reference/kafka.md`` §1.2), so a consumer that starts late reads the retained history
when its group has no committed offset and ``auto.offset.reset=earliest`` ("earliest goes to the
log start offset", §4.3), and any consumer can rewind with ``seek()`` — here to the offsets
``offsetsForTimes`` gives for a past moment — and read it again ("Rewinding to reprocess is an
essential feature", §4.3). With ``auto.offset.reset=latest`` (Kafka's default) a late consumer
starts at the end, like a Redis subscriber.

Redis Pub/Sub stores nothing: "a message goes only to the subscriptions that exist when PUBLISH
executes ... It is never queued for later, persisted or replayed" (``shared/reference/
redis-pubsub.md`` §0.1, §2), so a subscriber that SUBSCRIBEs late gets exactly what is
published after its SUBSCRIBE, and there is nothing to rewind to.

Receivers (each processes ``processing_ms`` per message, in Kafka with a commit after each
batch):

- ``redis/late`` — SUBSCRIBEs at ``join_at``;
- ``kafka/late earliest`` and ``kafka/late latest`` — new consumer groups subscribing at
  ``join_at`` with ``auto.offset.reset`` earliest / latest (their first assignment comes after
  ``group.initial.rebalance.delay.ms``);
- ``kafka/seek-back`` — consumes from the start, and at ``seek_at`` seeks every partition back
  to the offset of ``seek_to`` (``offsetsForTimes``) and reprocesses from there.

Metrics per receiver: ``received`` (distinct messages), ``duplicates``, ``missed`` (published,
never received); ``history_available`` — what was published before it joined (for the
seek-back consumer: in the rewound window) — and how much of it it got (``history_received``,
``history_fraction``; for seek-back: got a second time); ``first_live_delivery_s`` — from
joining (or seeking) to the first delivery of a message published after that moment, which for
Kafka includes the group's first assignment and reading the backlog.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from experiments.conservation import assert_run_conserved
from experiments.experiment import Experiment, Metric, RunResult, Verdict
from experiments.plotting import axis_label, save_figure
from experiments.scenarios._feeding import (
    arrivals,
    kafka_ms,
    offset_for_time,
    produce_workload,
    run_until_caught_up,
)
from experiments.scenarios._styles import distinct_styles
from experiments.scenarios._tally import (
    deliveries_to,
    per_bin,
    publish_times,
    receiver_ids,
    tally,
)
from experiments.scenarios._verdicts import mean
from models.kafka import KafkaCluster
from models.kafka.loops import process_then_commit
from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.workload import ProducerSpec, Workload

TOPIC = "events"
REDIS_LATE = "redis/late"
KAFKA_EARLIEST = "kafka/late earliest"
KAFKA_LATEST = "kafka/late latest"
KAFKA_SEEK = "kafka/seek-back"
RECEIVERS = (REDIS_LATE, KAFKA_EARLIEST, KAFKA_LATEST, KAFKA_SEEK)
_GROUPS = MappingProxyType({KAFKA_EARLIEST: "late-earliest", KAFKA_LATEST: "late-latest",
                            KAFKA_SEEK: "replayer"})


def workload(params: Mapping[str, Any]) -> Workload:
    """``rate`` messages per second (``arrivals``: poisson or constant) for ``duration``."""
    spec = ProducerSpec("producer", TOPIC, arrivals(params["arrivals"], float(params["rate"])),
                        params["message_size"])
    return Workload((spec,), params["duration"], "replay")


def _validate(params: Mapping[str, Any]) -> None:
    duration, join_at = params["duration"], params["join_at"]
    if not 0 < join_at < duration:
        raise ValueError(f"join_at ({join_at}) must lie inside the run (0, {duration})")
    if not 0 <= params["seek_to"] < params["seek_at"] < duration:
        raise ValueError("need 0 <= seek_to < seek_at < duration")


def run_redis(params: Mapping[str, Any], seed: int) -> Simulation:
    """The late Redis subscriber (SUBSCRIBE at ``join_at``)."""
    sim = Simulation(seed=seed)
    server = RedisPubSub(sim)
    service = params["processing_ms"] / 1000.0
    sim.call_at(params["join_at"],
                lambda: Subscriber(server, REDIS_LATE, [TOPIC], service=service,
                                   reconnect_delay=None))
    server.publish_workload(workload(params))
    sim.run(until=params["duration"] + 2.0)
    assert_run_conserved(sim)
    return sim


def run_kafka(params: Mapping[str, Any], seed: int) -> Simulation:
    """Three consumer groups on one topic: two start late, one rewinds."""
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=3, config={
        "group.initial.rebalance.delay.ms": int(params["group.initial.rebalance.delay.ms"])})
    cluster.create_topic(TOPIC, partitions=int(params["partitions"]), replication_factor=3,
                         config={"retention.ms": round(kafka_ms(params["retention.ms"]))})
    produce_workload(cluster, workload(params), {"linger.ms": int(params["linger.ms"])})
    processing = params["processing_ms"] / 1000.0
    loops = {}

    def consumer(receiver: str, reset: str) -> None:
        cfg = {"group.id": _GROUPS[receiver], "client.id": "c", "auto.offset.reset": reset}
        loops[receiver] = process_then_commit(cluster, cfg, TOPIC, processing=processing)

    consumer(KAFKA_SEEK, "earliest")
    sim.call_at(params["join_at"], consumer, KAFKA_EARLIEST, "earliest")
    sim.call_at(params["join_at"], consumer, KAFKA_LATEST, "latest")

    def rewind() -> None:
        c = loops[KAFKA_SEEK].consumer
        for tp in sorted(c.assignment()):
            c.seek(tp, offset_for_time(cluster.partition(*tp), params["seek_to"]))

    sim.call_at(params["seek_at"], rewind)
    run_until_caught_up(sim, loops.values(), params["duration"] + 1.0, 4 * params["duration"],
                        batch_s=500 * processing)
    return sim


def _receiver_metrics(model: str, sent: np.ndarray, got_msg: np.ndarray, start: float,
                      history: np.ndarray, got_t: np.ndarray) -> list[Metric]:
    """``history``: the message ids this receiver could only get from stored history."""
    counts = tally(got_msg)
    published = int(np.isfinite(sent).sum())
    history_got = np.isin(history, got_msg)
    if model == KAFKA_SEEK:  # history = the rewound window; "got" = got again
        ids, n = np.unique(got_msg, return_counts=True)
        history_got = np.isin(history, ids[n >= 2])
    live = got_t[sent[got_msg] >= start]
    catch_up = float(live.min() - start) if len(live) else float("nan")
    return [
        Metric(model, "published", published, "messages"),
        Metric(model, "received", counts.unique, "messages"),
        Metric(model, "duplicates", counts.duplicates, "messages"),
        Metric(model, "history_available", len(history), "messages"),
        Metric(model, "history_received", int(history_got.sum()), "messages"),
        Metric(model, "history_fraction", history_got.mean() if len(history) else 0.0,
               "fraction"),
        Metric(model, "missed", published - counts.unique, "messages"),
        Metric(model, "first_live_delivery_s", catch_up, "s"),
    ]


def run(params: Mapping[str, Any], seed: int) -> RunResult:
    """One replication: the Redis run and the Kafka run on the same workload and seed."""
    _validate(params)
    metrics: list[Metric] = []
    series: dict[str, dict[str, np.ndarray]] = {}
    rsim = run_redis(params, seed)
    ksim = run_kafka(params, seed)
    for sim, receivers in ((rsim, [REDIS_LATE]),
                           (ksim, [KAFKA_EARLIEST, KAFKA_LATEST, KAFKA_SEEK])):
        sent = publish_times(sim.trace)
        names = [r if r == REDIS_LATE else f"{_GROUPS[r]}/c" for r in receivers]
        for model, rid in zip(receivers, receiver_ids(sim.trace, names), strict=True):
            msg, t = deliveries_to(sim.trace, rid)
            if model == KAFKA_SEEK:
                start = params["seek_at"]
                window = (sent >= params["seek_to"]) & (sent < params["seek_at"])
            else:
                start = params["join_at"]
                window = sent < start
            metrics += _receiver_metrics(model, sent, msg, start, np.flatnonzero(window), t)
            series[model] = {"publish_t": sent[msg], "receive_t": t,
                             "all_publish_t": sent}
    return RunResult(metrics=metrics, series=series)


_TITLES = MappingProxyType({
    REDIS_LATE: "redis/late: SUBSCRIBE at {join:g} s, gets only what follows",
    KAFKA_EARLIEST: "kafka/late earliest: joins at {join:g} s, reads the retained history",
    KAFKA_LATEST: "kafka/late latest: joins at {join:g} s, starts at the end when assigned",
    KAFKA_SEEK: "kafka/seek-back: at {seek:g} s seeks back to {seek_to:g} s, reads it again",
})


def _title(model: str, p: Mapping[str, Any]) -> str:
    return _TITLES[model].format(join=p["join_at"], seek=p["seek_at"], seek_to=p["seek_to"])


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Per receiver, what it got against the publish timeline; and when it got it."""
    first = results[0]
    p = first.params
    styles = distinct_styles(RECEIVERS)
    bin_s = max(p["duration"] / 60.0, 0.5)
    fig = Figure(figsize=(7.5, 1.9 * len(RECEIVERS) + 0.8), layout="constrained")
    axes = fig.subplots(len(RECEIVERS), 1, sharex=True, sharey=True)
    for ax, model in zip(axes, RECEIVERS, strict=True):
        s = first.series[model]
        color = styles[model].color
        edges, published = per_bin(s["all_publish_t"], 0.0, p["duration"], bin_s)
        _, got = per_bin(s["publish_t"], 0.0, p["duration"], bin_s)
        ax.fill_between(edges, got / bin_s, step="post", color=color, alpha=0.5,
                        label="received, by publish time")
        ax.step(edges, published / bin_s, where="post", color="0.15", linestyle="--",
                label="published")
        if model == KAFKA_SEEK:
            ax.axvspan(p["seek_to"], p["seek_at"], color="0.88", zorder=0,
                       label="rewound window (received twice)")
            ax.axvline(p["seek_at"], color="black", linewidth=1.2, label="seek()")
        else:
            ax.axvline(p["join_at"], color="black", linewidth=1.2, label="joins")
        ax.set_title(_title(model, p), fontsize="medium", color=color, loc="left")
        ax.set_ylabel(axis_label("rate", "msg/s"))
        ax.set_ylim(0, 2.6 * p["rate"])
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="x-small", ncols=4)
    axes[-1].set_xlabel(axis_label("publish time of the message", "s"))
    fig.suptitle("Replay: what each late or rewinding receiver got, by publish time")
    paths = save_figure(fig, out_dir, "replay_received_by_publish_time")

    fig = Figure(figsize=(8.0, 6.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    end = max(float(first.series[m]["receive_t"].max(initial=0.0)) for m in RECEIVERS)
    for ax, model in zip(axes, RECEIVERS, strict=True):
        s = first.series[model]
        style = styles[model]
        ax.plot([0, end], [0, end], color="0.6", linewidth=1, label="live (no delay)")
        ax.plot(s["receive_t"], s["publish_t"], linestyle="none", marker=style.marker,
                markersize=2, color=style.color, label="a delivery", rasterized=True)
        moment = p["seek_at"] if model == KAFKA_SEEK else p["join_at"]
        ax.axvline(moment, color="black", linewidth=0.8, linestyle=":",
                   label="seek()" if model == KAFKA_SEEK else "joins")
        ax.set_title(model, fontsize="medium", color=style.color)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="x-small", markerscale=3)
    for ax in axes[2:]:
        ax.set_xlabel(axis_label("receive time", "s"))
    for ax in axes[::2]:
        ax.set_ylabel(axis_label("publish time", "s"))
    fig.suptitle("Replay: when each message was received vs when it was published\n"
                 "(steep runs: stored history, read as fast as the consumer can process it; "
                 "the diagonal: live)")
    paths += save_figure(fig, out_dir, "replay_receive_vs_publish")
    return paths


def check(results: Sequence[RunResult]) -> None:
    """Redis gives a late subscriber no history; Kafka serves all of it (earliest) or rewinds."""
    for r in results:
        v = r.value
        assert v(REDIS_LATE, "history_received") == 0, "Redis has no history to give"
        assert v(REDIS_LATE, "duplicates") == 0
        assert v(REDIS_LATE, "received") == v(REDIS_LATE, "published") - v(
            REDIS_LATE, "history_available"), "a late Redis subscriber gets all that follows"
        assert v(KAFKA_EARLIEST, "history_available") > 0
        assert v(KAFKA_EARLIEST, "history_received") == v(KAFKA_EARLIEST, "history_available"), (
            "auto.offset.reset=earliest must serve the whole retained history")
        assert v(KAFKA_EARLIEST, "missed") == 0
        assert v(KAFKA_LATEST, "history_received") == 0, "latest starts at the end"
        assert v(KAFKA_LATEST, "missed") >= v(KAFKA_LATEST, "history_available")
        assert v(KAFKA_SEEK, "missed") == 0
        assert v(KAFKA_SEEK, "history_fraction") >= 0.95, "seek() replays the rewound window"


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    redis = mean(results, REDIS_LATE, "history_fraction")
    kafka = mean(results, KAFKA_EARLIEST, "history_fraction")
    return [Verdict("late joiners and replay of past messages",
                    "kafka" if kafka > redis else "either",
                    f"a receiver joining late got {redis:.0%} of the earlier messages from Redis "
                    f"Pub/Sub and {kafka:.0%} from Kafka (auto.offset.reset=earliest)")]

EXPERIMENT = Experiment(
    name="replay",
    question="What can a receiver that joins late, or rewinds, get of what was published "
             "before?",
    expected="A late Redis subscriber gets only what is published after its SUBSCRIBE (no "
             "history, nothing to rewind); a late Kafka consumer with auto.offset.reset=earliest "
             "reads the whole retained history, one with latest starts at the end, and seek() "
             "replays any retained window.",
    params={"arrivals": "poisson", "rate": 200.0, "duration": 60.0, "join_at": 40.0,
            "seek_at": 50.0, "seek_to": 10.0,
            "processing_ms": 1.0, "message_size": 1000, "partitions": 3, "linger.ms": 100,
            "retention.ms": "7d", "group.initial.rebalance.delay.ms": 3000},
    quick={"rate": 50.0, "duration": 20.0, "join_at": 12.0, "seek_at": 15.0, "seek_to": 4.0},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
