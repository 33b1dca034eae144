"""Retention: how much a Kafka log keeps, and what a consumer that falls behind it loses.

Kafka (``shared/reference/kafka.md`` §1.2, §4.3):

- Retention removes **whole segments**, oldest first, on a periodic check
  (``log.retention.check.interval.ms``, 5 min): by time once a segment's *newest* record is older
  than ``retention.ms`` (7 days), by size while the partition stays above ``retention.bytes``
  without going under it. So storage climbs between deletions and drops a segment (or several)
  at a time — a saw-tooth whose teeth are ``segment.bytes`` high, or more when the check is
  rare — and stays above the configured bound by up to a segment.
- A consumer whose position retention has deleted gets ``OFFSET_OUT_OF_RANGE`` at its next
  fetch and is reset by ``auto.offset.reset``: ``earliest`` jumps to the log start and silently
  loses exactly the deleted records it had not read (trace reason ``retention``); ``latest``
  jumps to the end and also skips the retained ones (reason ``offset-reset``).

Redis Pub/Sub keeps nothing (``shared/reference/redis-pubsub.md`` §0.1): its storage is 0 by
construction, and a subscriber that is away loses everything published meanwhile (reason
``disconnected``) however short the absence.

Storage set-ups (one partition each): ``kafka/retention.ms`` (checked every
``log.retention.check.interval.ms``), ``kafka/retention.ms, rare check`` (every
``rare_check_interval``), ``kafka/retention.bytes`` (and ``retention.ms``), ``redis``. Readers,
all fed the same messages: ``kafka/away, earliest`` and ``kafka/away, latest`` read from day 0,
close at ``away_from_day`` and come back ``away_days`` later, past retention; ``kafka/slow,
earliest`` processes ``slow_fraction`` of the produce rate; ``redis/away`` is away for the same
days. Metrics: ``storage_peak_bytes``, ``storage_final_bytes``, ``storage_steady_min_bytes``
(lowest once retention has been deleting for a while), ``produced_bytes``; per reader
``received``, ``missed``, ``lost_retention`` / ``lost_offset_reset`` / ``lost_disconnected``
(traced drops by reason), ``unread_at_end`` (missed for no reason yet: still behind),
``offset_resets``.

Compressed time: the Kafka durations are written as people write them (``"7d"``, ``"5min"``)
and divided by ``time_scale`` (real seconds per simulated second; 8640 makes a day 10 s), so two
weeks run in 140 simulated seconds. Rates and sizes are per *real* day. The retention check
runs every hour here rather than Kafka's 5 minutes: with segments that last about a day the two
draw the same curve, and the hourly check costs twelve times fewer simulation events
(``--set log.retention.check.interval.ms=5min`` to see). Client timeouts
(``session.timeout.ms``, ``group.initial.rebalance.delay.ms``) are not scaled. ``segment.bytes``
of 1 MiB is Kafka 4.x's minimum (KIP-1030); the model also accepts smaller teaching values,
which real 4.x brokers reject. The slow reader fetches about as much as it processes per poll
(``max.partition.fetch.bytes`` = 10 records): with time compressed and sizes not, a default
1 MiB fetch would hold days of records in the client. Not modelled:
``offsets.retention.minutes`` (7 days) — a real group empty for longer than that also loses its
committed offsets, and restarts by ``auto.offset.reset`` with the same outcome as here.
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
from experiments.plotting import axis_label, new_figure, save_figure
from experiments.scenarios._feeding import arrivals, produce_workload, scaled_ms
from experiments.scenarios._styles import distinct_styles
from experiments.scenarios._tally import deliveries_to, drops_to, publish_times, tally
from experiments.scenarios._verdicts import mean
from models.kafka import KafkaCluster
from models.kafka.loops import process_then_commit
from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.units import parse_size
from sim.workload import ProducerSpec, Workload

DAY = 86400.0
WARMUP = 5.0
"""Simulated seconds before the first message: every reader is subscribed and its group has its
first assignment (``group.initial.rebalance.delay.ms``, 3 s) when publishing starts, in both
models. Reported times are measured from the first message."""
TIME_TOPIC, SIZE_TOPIC = "events", "events-sized"
STORE_TIME = "kafka/retention.ms"
STORE_RARE = "kafka/retention.ms, rare check"
STORE_SIZE = "kafka/retention.bytes"
STORE_REDIS = "redis"
STORES = (STORE_TIME, STORE_RARE, STORE_SIZE, STORE_REDIS)
AWAY_EARLIEST = "kafka/away, earliest"
AWAY_LATEST = "kafka/away, latest"
SLOW = "kafka/slow, earliest"
REDIS_AWAY = "redis/away"
READERS = (AWAY_EARLIEST, AWAY_LATEST, SLOW, REDIS_AWAY)
_GROUP = MappingProxyType({AWAY_EARLIEST: "away-earliest", AWAY_LATEST: "away-latest",
                           SLOW: "slow"})


def day_s(params: Mapping[str, Any]) -> float:
    """Simulated seconds per real day."""
    return DAY / float(params["time_scale"])


def workload(params: Mapping[str, Any], topic: str = TIME_TOPIC) -> Workload:
    """``messages_per_day`` messages a day (``arrivals``: poisson or constant) for ``days``
    days, in compressed time."""
    rate = params["messages_per_day"] / day_s(params)
    spec = ProducerSpec("producer", topic, arrivals(params["arrivals"], rate),
                        params["message_size"])
    return Workload((spec,), params["days"] * day_s(params), "retention", chunk=day_s(params))


def _topic_config(params: Mapping[str, Any], by_size: bool) -> dict[str, Any]:
    scale = float(params["time_scale"])
    cfg = {"retention.ms": scaled_ms(params["retention.ms"], scale),
           "segment.ms": scaled_ms(params["segment.ms"], scale),
           "segment.bytes": parse_size(params["segment.bytes"])}
    if by_size:
        cfg["retention.bytes"] = parse_size(params["retention.bytes"])
    return cfg


def _cluster(sim: Simulation, params: Mapping[str, Any], check: Any) -> KafkaCluster:
    scale = float(params["time_scale"])
    return KafkaCluster(sim, brokers=1, config={
        "log.retention.check.interval.ms": scaled_ms(check, scale),
        "log.initial.task.delay.ms": scaled_ms("30s", scale)},
        storage_sample_interval=day_s(params) / 12.0)


def _storage(sim: Simulation, topic: str) -> tuple[np.ndarray, np.ndarray]:
    table = sim.trace.tables["kafka_storage"]
    mine = table["channel"] == sim.trace.channels.ids[topic]
    t, nbytes = table["t"][mine], table["bytes"][mine]
    order = np.argsort(t, kind="stable")
    return t[order], nbytes[order]


def _log_start_times(sim: Simulation, topic: str) -> tuple[np.ndarray, np.ndarray]:
    """At each storage sample, the publish time of the oldest retained record."""
    table = sim.trace.tables["kafka_storage"]
    mine = table["channel"] == sim.trace.channels.ids[topic]
    appended = sim.trace.tables["appended"]
    keep = appended["channel"] == sim.trace.channels.ids[topic]
    by_offset = np.full(int(appended["offset"][keep].max()) + 2, np.nan)
    sent = publish_times(sim.trace)
    by_offset[appended["offset"][keep]] = sent[appended["msg"][keep]]
    start = np.minimum(table["log_start"][mine], len(by_offset) - 1)
    return table["t"][mine], by_offset[start]


def run_kafka(params: Mapping[str, Any], seed: int
              ) -> tuple[list[Metric], dict[str, dict[str, np.ndarray]]]:
    """Storage of three retention set-ups; three consumers that fall behind retention."""
    day = day_s(params)
    producer = {"linger.ms": int(params["linger.ms"]), "batch.size": 1 << 20}
    sim = Simulation(seed=seed)
    cluster = _cluster(sim, params, params["log.retention.check.interval.ms"])
    cluster.create_topic(TIME_TOPIC, 1, 1, _topic_config(params, by_size=False))
    cluster.create_topic(SIZE_TOPIC, 1, 1, _topic_config(params, by_size=True))
    produce_workload(cluster, workload(params, TIME_TOPIC), producer, start=WARMUP)
    produce_workload(cluster, workload(params, SIZE_TOPIC), producer, start=WARMUP)
    rare = Simulation(seed=seed)
    rare_cluster = _cluster(rare, params, params["rare_check_interval"])
    rare_cluster.create_topic(TIME_TOPIC, 1, 1, _topic_config(params, by_size=False))
    produce_workload(rare_cluster, workload(params, TIME_TOPIC), producer, start=WARMUP)

    away_from = WARMUP + params["away_from_day"] * day
    back_at = away_from + params["away_days"] * day
    rate = params["messages_per_day"] / day
    for reader, reset in ((AWAY_EARLIEST, "earliest"), (AWAY_LATEST, "latest")):
        cfg = {"group.id": _GROUP[reader], "client.id": "c", "auto.offset.reset": reset}
        process_then_commit(cluster, cfg, TIME_TOPIC, processing=0.001, until=away_from)
        sim.call_at(back_at, lambda cfg=cfg: process_then_commit(
            cluster, cfg, TIME_TOPIC, processing=0.001))
    # time is compressed, sizes are not: a default 1 MiB fetch would hold days of records, so
    # the slow reader fetches about as much as it processes per poll (10 records)
    slow_cfg = {"group.id": _GROUP[SLOW], "client.id": "c", "auto.offset.reset": "earliest",
                "max.poll.records": 10,
                "max.partition.fetch.bytes": 10 * int(params["message_size"])}
    process_then_commit(cluster, slow_cfg, TIME_TOPIC,
                        processing=1.0 / (params["slow_fraction"] * rate))
    end = WARMUP + params["days"] * day + 1.0
    sim.run(until=end)
    assert_run_conserved(sim)
    rare.run(until=end)

    metrics: list[Metric] = []
    series: dict[str, dict[str, np.ndarray]] = {}
    byte_rate = params["messages_per_day"] * params["message_size"]  # per real day
    for store, s, topic in ((STORE_TIME, sim, TIME_TOPIC), (STORE_RARE, rare, TIME_TOPIC),
                            (STORE_SIZE, sim, SIZE_TOPIC)):
        t, nbytes = _storage(s, topic)
        settled = t >= t[-1] - (params["days"] - 1.5 * _retention_days(params)) * day
        metrics += [
            Metric(store, "storage_peak_bytes", nbytes.max(), "bytes"),
            Metric(store, "storage_final_bytes", nbytes[-1], "bytes"),
            Metric(store, "storage_steady_min_bytes", nbytes[settled].min(), "bytes"),
            Metric(store, "produced_bytes", byte_rate * params["days"], "bytes"),
        ]
        series[store] = {"t": (t - WARMUP) / day, "bytes": nbytes}
    t, oldest = _log_start_times(sim, TIME_TOPIC)
    series["log_start"] = {"t": (t - WARMUP) / day, "oldest": (oldest - WARMUP) / day}

    sent = publish_times(sim.trace)
    for reader in (AWAY_EARLIEST, AWAY_LATEST, SLOW):
        name = f"{_GROUP[reader]}/c"
        msg, t_got = deliveries_to(sim.trace, sim.trace.receivers.ids[name])
        metrics += _reader_metrics(reader, sim, name)
        series[reader] = {"t": (t_got - WARMUP) / day, "publish_t": (sent[msg] - WARMUP) / day}
    return metrics, series


def _retention_days(params: Mapping[str, Any]) -> float:
    return scaled_ms(params["retention.ms"], 1.0) / 1000.0 / DAY


def _reader_metrics(reader: str, sim: Simulation, name: str) -> list[Metric]:
    """What the reader called ``name`` in the trace got and lost, by reason."""
    rid = sim.trace.receivers.ids[name]
    msg, _ = deliveries_to(sim.trace, rid)
    counts = tally(msg)
    published = int((sim.trace.published["channel"] == sim.trace.channels.ids[TIME_TOPIC]).sum())
    lost = 0
    reasons = {"retention": 0, "offset-reset": 0, "disconnected": 0}
    for reason in reasons:
        reasons[reason] = len(drops_to(sim.trace, rid, reason))
        lost += reasons[reason]
    resets = [e for e in sim.trace.events_of("offset-reset") if e.who == name]
    return [
        Metric(reader, "published", published, "messages"),
        Metric(reader, "received", counts.unique, "messages"),
        Metric(reader, "duplicates", counts.duplicates, "messages"),
        Metric(reader, "missed", published - counts.unique, "messages"),
        Metric(reader, "lost_retention", reasons["retention"], "messages"),
        Metric(reader, "lost_offset_reset", reasons["offset-reset"], "messages"),
        Metric(reader, "lost_disconnected", reasons["disconnected"], "messages"),
        Metric(reader, "unread_at_end", published - counts.unique - lost, "messages"),
        Metric(reader, "offset_resets", len(resets), "resets"),
    ]


def run_redis(params: Mapping[str, Any], seed: int
              ) -> tuple[list[Metric], dict[str, dict[str, np.ndarray]]]:
    """A subscriber away for the same days; the server's only buffers are per client."""
    day = day_s(params)
    sim = Simulation(seed=seed)
    server = RedisPubSub(sim)
    sub = Subscriber(server, "away", [TIME_TOPIC], service=0.001, reconnect_delay=None)
    sub.go_offline(at=WARMUP + params["away_from_day"] * day,
                   duration=params["away_days"] * day)
    sim.call_at(WARMUP, server.publish_workload, workload(params))
    sim.run(until=WARMUP + params["days"] * day + 1.0)
    assert_run_conserved(sim)
    sent = publish_times(sim.trace)
    rid = sim.trace.receivers.ids["away"]
    msg, t_got = deliveries_to(sim.trace, rid)
    memory = sim.trace.tables["redis_memory"]
    metrics = [
        Metric(STORE_REDIS, "storage_peak_bytes", 0, "bytes"),  # no log: nothing is stored
        Metric(STORE_REDIS, "storage_final_bytes", 0, "bytes"),
        Metric(STORE_REDIS, "output_buffer_peak_bytes",
               memory["output_buffers"].max(initial=0), "bytes"),
        *_reader_metrics(REDIS_AWAY, sim, "away"),
    ]
    series = {STORE_REDIS: {"t": np.array([0.0, params["days"]]), "bytes": np.zeros(2)},
              REDIS_AWAY: {"t": (t_got - WARMUP) / day, "publish_t": (sent[msg] - WARMUP) / day}}
    return metrics, series


def run(params: Mapping[str, Any], seed: int) -> RunResult:
    """One replication: the Kafka runs and the Redis run on the same workload and seed."""
    if not 0 < params["away_from_day"] < params["away_from_day"] + params["away_days"] \
            < params["days"]:
        raise ValueError("need 0 < away_from_day < away_from_day + away_days < days")
    if not 0 < params["slow_fraction"] < 1:
        raise ValueError("slow_fraction must lie in (0, 1)")
    k_metrics, k_series = run_kafka(params, seed)
    r_metrics, r_series = run_redis(params, seed)
    return RunResult(metrics=k_metrics + r_metrics, series={**k_series, **r_series})


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Storage over time; each reader's position against the retained window; losses."""
    first = results[0]
    p = first.params
    styles = {**distinct_styles(STORES), **distinct_styles(READERS)}
    mb = 1024.0 * 1024.0
    retention_days = _retention_days(p)
    fig, ax = new_figure(
        f"Retention: storage of one partition ({p['messages_per_day'] * p['message_size'] / mb:.2g}"
        f" MiB/day, segment.bytes={parse_size(p['segment.bytes']) / mb:g} MiB)",
        axis_label("time", "days"), axis_label("stored", "MiB"), size=(8.0, 4.8))
    for store in STORES:
        s = first.series[store]
        style = styles[store]
        label = {STORE_TIME: f"retention.ms={p['retention.ms']}, check every "
                             f"{p['log.retention.check.interval.ms']}",
                 STORE_RARE: f"retention.ms={p['retention.ms']}, check every "
                             f"{p['rare_check_interval']}",
                 STORE_SIZE: f"retention.bytes={p['retention.bytes']} (+ retention.ms)",
                 STORE_REDIS: "nothing stored (0 B)"}[store]
        shown = s["t"] >= 0
        ax.plot(s["t"][shown], s["bytes"][shown] / mb, color=style.color,
                linestyle=style.linestyle, label=f"{store.split('/')[0]}: {label}",
                drawstyle="steps-post",
                linewidth=1.6 if store != STORE_REDIS else 2.5)
    week = retention_days * p["messages_per_day"] * p["message_size"] / mb
    ax.axhline(week, color="0.3", linestyle=":", linewidth=1)
    ax.annotate(f"{retention_days:g} days of data", (0.01, week), xycoords=("axes fraction",
                "data"), xytext=(0, 3), textcoords="offset points", fontsize="small")
    cap = parse_size(p["retention.bytes"]) / mb
    ax.axhline(cap, color="0.3", linestyle=":", linewidth=1)
    ax.annotate("retention.bytes", (0.01, cap), xycoords=("axes fraction", "data"),
                xytext=(0, 3), textcoords="offset points", fontsize="small")
    ax.legend(loc="upper left", fontsize="small")
    ax.set_ylim(bottom=-0.3)
    paths = save_figure(fig, out_dir, "retention_storage")

    fig = Figure(figsize=(8.0, 7.0), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    log_start = first.series["log_start"]
    shown = log_start["t"] >= 0
    log_t, oldest = log_start["t"][shown], log_start["oldest"][shown]
    for ax, reader in zip(axes, READERS, strict=True):
        s = first.series[reader]
        style = styles[reader]
        if reader != REDIS_AWAY:
            ax.fill_between(log_t, oldest, log_t, color="0.87", step="post",
                            label="retained in the log")
        else:
            ax.text(0.5, 0.5, "nothing retained", transform=ax.transAxes, ha="center",
                    fontsize="medium", color="0.3")
        ax.plot(s["t"], s["publish_t"], linestyle="none", marker=style.marker, markersize=2,
                color=style.color, label="a record/message processed", rasterized=True)
        if reader != SLOW:
            ax.axvspan(p["away_from_day"], p["away_from_day"] + p["away_days"],
                       facecolor="none", edgecolor="0.55", hatch="//", linewidth=0,
                       label="reader away")
        lost = (first.value(reader, "lost_retention") + first.value(reader, "lost_offset_reset")
                + first.value(reader, "lost_disconnected"))
        unread = first.value(reader, "unread_at_end")
        more = f", {unread:.0f} not read yet" if unread else ""
        ax.set_title(f"{reader}: lost {lost:.0f} of {first.value(reader, 'published'):.0f}"
                     f"{more}", fontsize="medium", color=style.color)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="x-small", markerscale=3)
    for ax in axes[2:]:
        ax.set_xlabel(axis_label("time", "days"))
    for ax in axes[::2]:
        ax.set_ylabel(axis_label("publish time of what it reads", "days"))
    fig.suptitle("Retention: readers that fall behind the retained window lose the rest\n"
                 f"(retention.ms={p['retention.ms']}, auto.offset.reset as named)")
    paths += save_figure(fig, out_dir, "retention_readers")

    fig, ax = new_figure("", "reader", axis_label("missed", "messages"), size=(7.5, 4.2))
    reasons = (("lost_retention", "lost: retention", "#6baed6", None),
               ("lost_offset_reset", "lost: offset-reset", "#08306b", None),
               ("lost_disconnected", "lost: disconnected", "#d62728", None),
               ("unread_at_end", "not read yet at the end", "white", "//"))
    bottom = np.zeros(len(READERS))
    for metric, label, color, hatch in reasons:
        values = np.array([np.mean([r.value(m, metric) for r in results]) for m in READERS])
        some = np.flatnonzero(values > 0)
        ax.bar(some, values[some], bottom=bottom[some], label=label, color=color,
               hatch=hatch, edgecolor="0.4" if hatch else color)
        bottom += values
    ax.set_xticks(range(len(READERS)), [m.replace(", ", "\n") for m in READERS])
    ax.set_ylim(0, 1.3 * bottom.max())
    ax.legend(loc="upper left", fontsize="small", ncols=2)
    ax.set_title(f"Retention: what each reader lost, by trace reason (mean of {len(results)} "
                 f"run{'s' if len(results) > 1 else ''})")
    paths += save_figure(fig, out_dir, "retention_losses")
    return paths


def check(results: Sequence[RunResult]) -> None:
    """Saw-tooth within a segment of the bound; losses exactly by retention / reset; Redis 0."""
    for r in results:
        p, v = r.params, r.value
        seg = parse_size(p["segment.bytes"])
        week = _retention_days(p) * p["messages_per_day"] * p["message_size"]
        assert v(STORE_TIME, "storage_peak_bytes") <= week + 2 * seg, "time retention bound"
        assert v(STORE_TIME, "storage_steady_min_bytes") >= week - 2 * seg, (
            "time retention must keep about retention.ms worth of data")
        assert v(STORE_TIME, "storage_final_bytes") < v(STORE_TIME, "produced_bytes")
        assert v(STORE_RARE, "storage_peak_bytes") > v(STORE_TIME, "storage_peak_bytes"), (
            "a rarer retention check lets storage overshoot further")
        cap = parse_size(p["retention.bytes"])
        assert v(STORE_SIZE, "storage_peak_bytes") <= cap + 2 * seg
        assert v(STORE_SIZE, "storage_peak_bytes") < v(STORE_TIME, "storage_peak_bytes")
        assert v(STORE_REDIS, "storage_peak_bytes") == 0
        for reader in (AWAY_EARLIEST, AWAY_LATEST, SLOW):
            assert v(reader, "duplicates") == 0
            assert v(reader, "lost_retention") > 0, f"{reader} must lose to retention"
            assert v(reader, "offset_resets") >= 1
        for reader in (AWAY_EARLIEST, AWAY_LATEST):
            assert v(reader, "unread_at_end") == 0, f"{reader}: every miss has a reason"
        assert v(SLOW, "unread_at_end") > 0, "the slow reader is still behind at the end"
        assert v(AWAY_EARLIEST, "lost_offset_reset") == 0
        assert v(AWAY_LATEST, "lost_offset_reset") > 0, "latest skips the retained records too"
        assert v(AWAY_LATEST, "missed") > v(AWAY_EARLIEST, "missed")
        assert v(REDIS_AWAY, "missed") == v(REDIS_AWAY, "lost_disconnected") > 0
        assert v(REDIS_AWAY, "unread_at_end") == 0
        assert v(REDIS_AWAY, "missed") > v(AWAY_EARLIEST, "missed"), (
            "Redis loses the whole absence, Kafka only what retention deleted")


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    peak = mean(results, "kafka/retention.ms", "storage_peak_bytes")
    produced = mean(results, "kafka/retention.ms", "produced_bytes")
    lost = mean(results, "kafka/away, earliest", "lost_retention")
    return [Verdict("bounded storage while keeping recent history",
                    "kafka",
                    f"retention.ms kept storage at most {peak / 2**20:.3g} MiB of "
                    f"{produced / 2**20:.3g} MiB produced; a reader away longer than retention "
                    f"lost {lost:.3g} records (reason: retention) - Redis keeps nothing at all")]

EXPERIMENT = Experiment(
    name="retention",
    question="How much does a Kafka log keep under time and size retention, and what does a "
             "consumer that falls behind it lose (Redis keeping nothing)?",
    expected="Kafka storage rises and drops a whole segment at a time (a saw-tooth) and stays "
             "within about a segment of retention.ms' worth of data or retention.bytes, "
             "overshooting more with a rarer log.retention.check.interval.ms; a consumer whose "
             "position retention deleted loses exactly the deleted records (earliest) or also "
             "the retained ones (latest); Redis stores 0 bytes and an absent subscriber loses "
             "everything published meanwhile.",
    params={"arrivals": "poisson", "time_scale": 8640.0, "days": 14.0, "messages_per_day": 200.0,
            "message_size": 5000, "retention.ms": "7d", "retention.bytes": "3mb",
            "segment.bytes": "1mb", "segment.ms": "7d",
            "log.retention.check.interval.ms": "1h", "rare_check_interval": "2d",
            "away_from_day": 2.0, "away_days": 9.0, "slow_fraction": 0.25, "linger.ms": 500},
    quick={"days": 7.0, "messages_per_day": 100.0, "message_size": 10000,
           "retention.ms": "3d", "retention.bytes": "2mb", "away_from_day": 1.0,
           "away_days": 4.0},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
