"""Consumer groups: partitions shared out among consumers, idle members, rebalance pauses — and
Redis, where every subscriber gets every message.

Kafka (``shared/reference/kafka.md`` §4.2): "each partition goes to exactly one member of each
group", so a group shares the work of a topic and its throughput grows with its members up to
the number of partitions; "consumers beyond the partition count sit idle". Membership changes
rebalance the group: a member that joins or leaves (LeaveGroup on ``close()``) starts one at
once; a member that crashes is noticed only when its session times out
(``session.timeout.ms``, 45 s since 3.0), and until then its partitions are read by nobody.
With the default assignors (``range, cooperative-sticky``) the group uses the eager protocol:
every member revokes all its partitions when it rejoins, so the whole group pauses for the
rebalance.

Redis Pub/Sub (``shared/reference/redis-pubsub.md`` §0.3, §2) has no groups: PUBLISH appends a
copy to every subscriber's output buffer, so each subscriber must handle the full stream and
adding subscribers adds copies, not capacity; a subscriber joining, leaving or crashing does not
disturb the others.

Two parts, each through both models with the same workload and seed:

- *scaling*: one topic of ``partitions`` partitions fed faster than any group can process
  (``processing_ms`` per record per member); groups of each size in ``group_sizes`` read it
  side by side; Redis runs the same sizes of subscriber sets with the same service time. Those
  subscribers fall behind the stream, so their output buffers grow (metric
  ``output_buffer_peak_*``); ``client-output-buffer-limit pubsub 32mb 8mb 60`` would cut them
  in a run much longer than the default 20 s — Kafka's consumers just lag;
- *dynamics*: a group of ``dynamic_members`` members; one more joins at ``join_at``, one leaves
  at ``leave_at``, one crashes at ``crash_at``; Redis subscribers do the same.

Metrics, per receiver count ``c``: ``throughput_c_receivers`` (distinct messages processed per
second in ``[window_from, duration)``), ``idle_c_receivers``, ``copies_per_message_c_receivers``
and, for Redis, ``output_buffer_peak_c_receivers``. Per membership event (join, leave, crash),
Kafka: ``*_rebalance_starts_after_s`` (how long until the coordinator starts a rebalance: a
crash waits for the session timeout), ``*_rebalance_s`` (until the new generation), and
``*_partition_stall_max_s`` (longest time a partition had no live consumer, from the group's
assigned / revoked events and the crash); Redis: ``*_others_max_gap_s`` (longest gap between
deliveries to a subscriber that stayed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from experiments.conservation import assert_run_conserved
from experiments.experiment import Experiment, Metric, RunResult, Verdict
from experiments.plotting import axis_label, model_style, save_figure
from experiments.scenarios._feeding import arrivals, produce_workload
from experiments.scenarios._tally import longest_gap, per_bin, tally
from experiments.scenarios._verdicts import mean
from models.kafka import KafkaCluster
from models.kafka.loops import process_then_commit
from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.trace import Trace
from sim.workload import ProducerSpec, Workload

TOPIC = "events"
DYNAMIC = "dynamic"
EVENTS = ("join", "leave", "crash")


def group_sizes(params: Mapping[str, Any]) -> list[int]:
    """``"1,2,3,6,8"`` -> ``[1, 2, 3, 6, 8]`` (sorted, distinct, each >= 1)."""
    sizes = sorted({int(x) for x in str(params["group_sizes"]).split(",") if x.strip()})
    if not sizes or sizes[0] < 1:
        raise ValueError(f"group_sizes must list positive integers, not {params['group_sizes']!r}")
    return sizes


def workload(kind: str, rate: float, duration: float, size: int) -> Workload:
    """``rate`` messages per second (``kind``: poisson or constant) for ``duration``."""
    spec = ProducerSpec("producer", TOPIC, arrivals(kind, rate), size)
    return Workload((spec,), duration, "consumer-groups", chunk=1.0)


def _kafka_config(params: Mapping[str, Any], group: str, member: str) -> dict[str, Any]:
    return {"group.id": group, "client.id": member, "auto.offset.reset": "earliest",
            "max.poll.records": int(params["max.poll.records"]),
            "session.timeout.ms": int(params["session.timeout.ms"]),
            "partition.assignment.strategy": [
                s.strip() for s in str(params["partition.assignment.strategy"]).split(",")]}


def _batch_s(params: Mapping[str, Any]) -> float:
    """Longest time a member spends on one poll's records (deliveries are traced at its end)."""
    return params["max.poll.records"] * params["processing_ms"] / 1000.0


# -- scaling ------------------------------------------------------------------------------------

def run_scaling_kafka(params: Mapping[str, Any], seed: int) -> tuple[list[Metric], dict]:
    """Groups of each size side by side on one topic; throughput in the measuring window."""
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=3)
    cluster.create_topic(TOPIC, int(params["partitions"]), 3)
    wl = workload(params["arrivals"], params["rate"], params["duration"],
                  params["message_size"])
    produce_workload(cluster, wl, {"linger.ms": int(params["linger.ms"])})
    sizes = group_sizes(params)
    loops = {}
    for c in sizes:
        for i in range(c):
            loops[c, i] = process_then_commit(cluster, _kafka_config(params, f"g{c}", f"m{i}"),
                                              TOPIC, processing=params["processing_ms"] / 1000)
    sim.run(until=params["duration"] + _batch_s(params) + 1.0)
    assert_run_conserved(sim)
    lo, hi = params["window_from"], params["duration"]
    d = sim.trace.delivered
    inside = (d["t"] >= lo) & (d["t"] < hi)
    metrics, shares = [], {}
    for c in sizes:
        ids = [sim.trace.receivers.ids[f"g{c}/m{i}"] for i in range(c)]
        per = np.array([np.count_nonzero(inside & (d["receiver"] == r)) for r in ids])
        idle = sum(1 for i in range(c) if not loops[c, i].consumer.assignment())
        mine = np.isin(d["receiver"], ids)
        counts = tally(d["msg"][mine])
        metrics += [
            Metric("kafka", f"throughput_{c}_receivers", per.sum() / (hi - lo), "msg/s"),
            Metric("kafka", f"idle_{c}_receivers", idle, "consumers"),
            Metric("kafka", f"copies_per_message_{c}_receivers",
                   counts.deliveries / max(counts.unique, 1), "copies"),
        ]
        shares[c] = per / max(per.sum(), 1)
    return metrics, {f"kafka/share_{c}": {"share": s} for c, s in shares.items()}


def run_scaling_redis(params: Mapping[str, Any], seed: int) -> tuple[list[Metric], dict]:
    """Sets of subscribers of each size, each subscriber with the same service time."""
    metrics, series = [], {}
    service = params["processing_ms"] / 1000.0
    lo, hi = params["window_from"], params["duration"]
    for c in group_sizes(params):
        sim = Simulation(seed=seed)
        server = RedisPubSub(sim)
        for i in range(c):
            Subscriber(server, f"s{i}", [TOPIC], service=service, reconnect_delay=None)
        server.publish_workload(workload(params["arrivals"], params["rate"],
                                         params["duration"], params["message_size"]))
        sim.run(until=params["duration"] + 1.0)
        assert_run_conserved(sim)
        d = sim.trace.delivered
        inside = (d["t"] >= lo) & (d["t"] < hi)
        per = np.array([np.count_nonzero(inside & (d["receiver"] == r))
                        for r in range(len(sim.trace.receivers.names))])
        distinct = len(np.unique(d["msg"][inside]))
        counts = tally(d["msg"])
        metrics += [
            Metric("redis", f"throughput_{c}_receivers", distinct / (hi - lo), "msg/s"),
            Metric("redis", f"idle_{c}_receivers", int(np.sum(per == 0)), "subscribers"),
            Metric("redis", f"copies_per_message_{c}_receivers",
                   counts.deliveries / max(counts.unique, 1), "copies"),
            Metric("redis", f"output_buffer_peak_{c}_receivers",
                   sim.trace.tables["redis_memory"]["output_buffers"].max(initial=0), "bytes"),
        ]
        series[f"redis/share_{c}"] = {"share": per / max(distinct, 1)}
    return metrics, series


# -- dynamics -----------------------------------------------------------------------------------

def event_times(params: Mapping[str, Any]) -> dict[str, float]:
    """When a member joins, leaves and crashes (validated to be in that order, in the run)."""
    times = {e: float(params[f"{e}_at"]) for e in EVENTS}
    if not 0 < times["join"] < times["leave"] < times["crash"] < params["dynamic_duration"]:
        raise ValueError("need 0 < join_at < leave_at < crash_at < dynamic_duration")
    if int(params["dynamic_members"]) < 3:
        raise ValueError("dynamic_members must be at least 3 (m1 leaves, m2 crashes)")
    return times


def ownership(trace: Trace, group: str, end: float
              ) -> dict[tuple[str, int], list[tuple[float, float, str]]]:
    """Who consumed each partition when: ``{(topic, partition): [(start, stop, member)]}``.

    From the group's ``assigned`` / ``revoked`` events and the members' ``crash`` events; a
    crashed member stops consuming at once, though the coordinator still counts it a member
    until its session times out.
    """
    holding: dict[tuple[str, int], tuple[float, str]] = {}
    out: dict[tuple[str, int], list[tuple[float, float, str]]] = {}
    crashed_ids = {e.detail.get("member"): e.t for e in trace.events_of("crash")
                   if e.who.startswith(f"{group}/")}
    for e in trace.events:
        if e.who != group and not (e.kind == "crash" and e.who.startswith(f"{group}/")):
            continue
        if e.kind == "assigned":
            for tp in e.detail["partitions"]:
                holding[tuple(tp)] = (e.t, e.detail["member"])
        elif e.kind in ("revoked", "crash"):
            member = e.detail.get("member")
            for tp, (start, who) in list(holding.items()):
                if who == member and (e.kind == "crash" or tuple(tp) in {
                        tuple(x) for x in e.detail["partitions"]}):
                    out.setdefault(tp, []).append((start, e.t, who))
                    del holding[tp]
    for tp, (start, who) in holding.items():
        out.setdefault(tp, []).append((start, crashed_ids.get(who, end), who))
    return {tp: sorted(spans) for tp, spans in sorted(out.items())}


def unowned_gaps(spans: list[tuple[float, float, str]], start: float, end: float
                 ) -> list[tuple[float, float]]:
    """The stretches of ``[start, end]`` not covered by any of ``spans``."""
    gaps, at = [], start
    for a, b, _ in sorted(spans):
        if a > at:
            gaps.append((at, min(a, end)))
        at = max(at, b)
    if at < end:
        gaps.append((at, end))
    return [(a, b) for a, b in gaps if b > a]


def run_dynamic_kafka(params: Mapping[str, Any], seed: int) -> tuple[list[Metric], dict]:
    """A group that gains, loses and crashes a member; rebalance timings and partition stalls."""
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=3)
    cluster.create_topic(TOPIC, int(params["partitions"]), 3)
    duration = params["dynamic_duration"]
    wl = workload(params["arrivals"], params["dynamic_rate"], duration,
                  params["message_size"])
    produce_workload(cluster, wl, {"linger.ms": int(params["linger.ms"])})
    times = event_times(params)
    n = int(params["dynamic_members"])
    processing = params["processing_ms"] / 1000.0
    # member m1 leaves (close(): commit, LeaveGroup); m2 crashes (no commit, no LeaveGroup)
    loops = [process_then_commit(cluster, _kafka_config(params, DYNAMIC, f"m{i}"), TOPIC,
                                 processing=processing,
                                 crash_at=[times["crash"]] if i == 2 else ())
             for i in range(n)]
    sim.call_at(times["join"], lambda: loops.append(process_then_commit(
        cluster, _kafka_config(params, DYNAMIC, f"m{n}"), TOPIC, processing=processing)))
    sim.call_at(times["leave"], loops[1].stop)
    sim.run(until=duration + _batch_s(params) + 1.0)
    assert_run_conserved(sim)

    trace = sim.trace
    spans = ownership(trace, DYNAMIC, duration)
    first = min(a for s in spans.values() for a, _, _ in s)
    starts = [e for e in trace.events_of("rebalance") if e.who == DYNAMIC]
    done = [e for e in trace.events_of("generation") if e.who == DYNAMIC]
    bounds = [times["join"], times["leave"], times["crash"], duration]
    metrics: list[Metric] = []
    for k, event in enumerate(EVENTS):
        lo, hi = bounds[k], bounds[k + 1]
        began = next((e.t for e in starts if e.t >= lo), float("nan"))
        ended = next((e.t for e in done if e.t >= began), float("nan"))
        stalls = [b - a for s in spans.values() for a, b in unowned_gaps(s, first, duration)
                  if lo <= a < hi]
        metrics += [
            Metric("kafka", f"{event}_rebalance_starts_after_s", began - lo, "s"),
            Metric("kafka", f"{event}_rebalance_s", ended - began, "s"),
            Metric("kafka", f"{event}_partition_stall_max_s", max(stalls, default=0.0), "s"),
        ]
    series = {"kafka/dynamic": _delivery_series(trace, DYNAMIC + "/", duration),
              "kafka/ownership": {f"{tp[0]}-{tp[1]}": np.array(
                  [(a, b, int(who.split("-")[0][1:])) for a, b, who in s], dtype=float)
                  for tp, s in spans.items()},
              "kafka/rebalances": {"start": np.array([e.t for e in starts]),
                                   "end": np.array([e.t for e in done])}}
    return metrics, series


def _delivery_series(trace: Trace, prefix: str, duration: float) -> dict[str, np.ndarray]:
    d = trace.delivered
    out = {}
    for name, r in trace.receivers.ids.items():
        if name.startswith(prefix):
            t, counts = per_bin(d["t"][d["receiver"] == r], 0.0, duration, 2.0)
            out["t"] = t
            out[name[len(prefix):]] = counts / 2.0
    return out


def run_dynamic_redis(params: Mapping[str, Any], seed: int) -> tuple[list[Metric], dict]:
    """The same membership story with Redis subscribers: nobody else notices."""
    sim = Simulation(seed=seed)
    server = RedisPubSub(sim)
    times = event_times(params)
    n = int(params["dynamic_members"])
    service = params["processing_ms"] / 1000.0
    subs = [Subscriber(server, f"m{i}", [TOPIC], service=service, reconnect_delay=None)
            for i in range(n)]
    sim.call_at(times["join"], lambda: subs.append(
        Subscriber(server, f"m{n}", [TOPIC], service=service, reconnect_delay=None)))
    sim.call_at(times["leave"], lambda: server.kill_client("m1", "disconnected"))
    sim.call_at(times["crash"], lambda: subs[2].crash())
    duration = params["dynamic_duration"]
    server.publish_workload(workload(params["arrivals"], params["dynamic_rate"], duration,
                                     params["message_size"]))
    sim.run(until=duration + 1.0)
    assert_run_conserved(sim)
    trace = sim.trace
    d = trace.delivered
    t0 = trace.delivered["t"][d["receiver"] == trace.receivers.ids["m0"]]
    bounds = [times["join"], times["leave"], times["crash"], duration]
    metrics = []
    for k, event in enumerate(EVENTS):  # m0 stays throughout: does it notice anything?
        gap = longest_gap(t0, bounds[k], bounds[k + 1])[0]
        metrics.append(Metric("redis", f"{event}_others_max_gap_s", gap, "s"))
    spans = {}
    for name, r in trace.receivers.ids.items():
        t = d["t"][d["receiver"] == r]
        spans[name] = np.array([t.min(), t.max()]) if len(t) else np.array([np.nan, np.nan])
    return metrics, {"redis/receiving": spans}


def run(params: Mapping[str, Any], seed: int) -> RunResult:
    """One replication: both parts, both models."""
    metrics: list[Metric] = []
    series: dict[str, Any] = {}
    for part in (run_scaling_kafka, run_scaling_redis, run_dynamic_kafka, run_dynamic_redis):
        m, s = part(params, seed)
        metrics += m
        series.update(s)
    return RunResult(metrics=metrics, series=series)


# -- figures and check --------------------------------------------------------------------------

def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """Throughput and shares against group size; a timeline of the membership story."""
    first = results[0]
    p = first.params
    sizes = group_sizes(p)
    mu = 1000.0 / p["processing_ms"]
    fig = Figure(figsize=(11.0, 4.3), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1.1, 1.0))
    for model in ("kafka", "redis"):
        style = model_style(model)
        values = np.array([[r.value(model, f"throughput_{c}_receivers") for c in sizes]
                           for r in results])
        label = {"kafka": "kafka: one consumer group", "redis": "redis: subscribers"}[model]
        left.errorbar(sizes, values.mean(axis=0), yerr=values.std(axis=0), label=label,
                      color=style.color, marker=style.marker, linestyle=style.linestyle,
                      capsize=3)
    left.plot(sizes, [min(c, p["partitions"]) * mu for c in sizes], color="0.5",
              linestyle=":", label=f"min(receivers, partitions) × {mu:g} msg/s")
    left.axhline(p["rate"], color="0.3", linewidth=0.8)
    left.annotate(f"produced: {p['rate']:g} msg/s", (sizes[0], p["rate"]), xytext=(0, -12),
                  textcoords="offset points", fontsize="small")
    left.axvline(p["partitions"], color="0.3", linewidth=0.8, linestyle="--")
    left.annotate(f"{p['partitions']} partitions", (p["partitions"], 0), xytext=(3, 3),
                  textcoords="offset points", fontsize="small")
    left.set_xticks(sizes)
    left.set_ylim(0, p["rate"] * 1.15)
    left.set_title("Distinct messages processed per second")
    left.set_xlabel(axis_label("receivers (group members / subscribers)", ""))
    left.set_ylabel(axis_label("throughput", "msg/s"))
    left.grid(True, alpha=0.3)
    left.legend(loc="center left", fontsize="small")

    c = sizes[-1]
    x = np.arange(c)
    for k, model in enumerate(("kafka", "redis")):
        style = model_style(model)
        share = first.series[f"{model}/share_{c}"]["share"]
        right.bar(x + (k - 0.5) * 0.4, share * 100, width=0.4, color=style.color,
                  label={"kafka": "kafka: share of the group's records",
                         "redis": "redis: share of all messages"}[model])
    idle = first.value("kafka", f"idle_{c}_receivers")
    right.set_title(f"Who handles what, {c} receivers ({idle:.0f} Kafka members idle)")
    right.set_xticks(x, [f"#{i}" for i in x])
    right.set_xlabel("receiver")
    right.set_ylabel(axis_label("messages it processed", "%"))
    right.set_ylim(0, 125)
    right.grid(True, alpha=0.3, axis="y")
    right.legend(loc="upper right", fontsize="small")
    fig.suptitle(f"Consumer groups vs subscribers: {p['partitions']} partitions, each receiver "
                 f"processes {mu:g} msg/s")
    paths = save_figure(fig, out_dir, "consumer_groups_scaling")
    paths += _plot_dynamics(first, out_dir)
    return paths


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _member_colour(name: str) -> str:
    return _PALETTE[int(name.lstrip("m")) % len(_PALETTE)]


def _plot_dynamics(first: RunResult, out_dir: Path) -> list[Path]:
    p = first.params
    times = event_times(p)
    fig = Figure(figsize=(10.0, 8.5), layout="constrained")
    top, mid, bottom = fig.subplots(3, 1, sharex=True, height_ratios=(1.0, 1.1, 0.7))
    kafka = first.series["kafka/dynamic"]
    for name in sorted(k for k in kafka if k != "t"):
        top.step(kafka["t"], kafka[name], where="post", color=_member_colour(name), label=name,
                 linewidth=1.2)
    rebalances = first.series["kafka/rebalances"]
    for a, b in zip(rebalances["start"], rebalances["end"], strict=False):
        top.axvspan(a, b, color="0.85", zorder=0)
    top.axvspan(0, 0, color="0.85", label="rebalance")
    top.set_ylabel(axis_label("processed", "msg/s, 2 s bins"))
    top.set_ylim(0, 1.25 * max(max(kafka[n].max() for n in kafka if n != "t"), 1.0))
    top.set_title("kafka: records processed by each member of the group "
                  f"({p['partition.assignment.strategy']})", fontsize="medium", loc="left")
    owners = first.series["kafka/ownership"]
    for row, spans in enumerate(owners.values()):
        for a, b, who in spans:
            mid.broken_barh([(a, b - a)], (row - 0.4, 0.8), color=_PALETTE[int(who) % 7])
    mid.set_yticks(range(len(owners)), list(owners))
    mid.set_ylabel("partition")
    mid.set_title("kafka: which member consumes each partition (colour = member; blank = "
                  "nobody)", fontsize="medium", loc="left")
    stall = first.value("kafka", "crash_partition_stall_max_s")
    mid.annotate(f"no consumer for {stall:.0f} s:\nsession.timeout.ms={p['session.timeout.ms']}",
                 (times["crash"], len(owners) / 2 - 0.5), xytext=(6, 0),
                 textcoords="offset points", fontsize="small", va="center",
                 bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    redis = first.series["redis/receiving"]
    names = sorted(redis)
    for row, name in enumerate(names):
        a, b = redis[name]
        bottom.broken_barh([(a, b - a)], (row - 0.4, 0.8), color=_member_colour(name))
    bottom.set_yticks(range(len(names)), names)
    bottom.set_ylabel("subscriber")
    bottom.set_title(f"redis: when each subscriber receives — every one gets all "
                     f"{p['dynamic_rate']:g} msg/s, nobody else is disturbed",
                     fontsize="medium", loc="left")
    labels = {"join": f"m{int(p['dynamic_members'])} joins", "leave": "m1 leaves",
              "crash": "m2 crashes"}
    for ax in (top, mid, bottom):
        ax.grid(True, alpha=0.3, axis="x")
        for t in times.values():
            ax.axvline(t, color="black", linewidth=1.0, linestyle="--")
    top.grid(True, alpha=0.3)
    for event, t in times.items():
        top.annotate(labels[event], (t, 1.0), xycoords=("data", "axes fraction"),
                     xytext=(3, -12), textcoords="offset points", fontsize="small")
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    bottom.set_xlabel(axis_label("time", "s"))
    fig.suptitle("Consumer groups: a member joins, one leaves, one crashes")
    return save_figure(fig, out_dir, "consumer_groups_membership")


def check(results: Sequence[RunResult]) -> None:
    """Kafka shares up to the partition count, idles the rest, pauses on membership changes
    and stalls a crashed member's partitions for the session timeout; Redis copies to all."""
    for r in results:
        p, v = r.params, r.value
        mu = 1000.0 / p["processing_ms"]
        parts = int(p["partitions"])
        for c in group_sizes(p):
            expect = min(c, parts) * mu
            assert abs(v("kafka", f"throughput_{c}_receivers") - expect) <= 0.1 * expect, (
                f"a group of {c} should process about {expect:g} msg/s")
            assert v("kafka", f"idle_{c}_receivers") == max(0, c - parts)
            assert v("kafka", f"copies_per_message_{c}_receivers") == 1.0
            assert abs(v("redis", f"throughput_{c}_receivers") - mu) <= 0.1 * mu, (
                "Redis subscribers all process the same messages: no load sharing")
            assert v("redis", f"copies_per_message_{c}_receivers") == c
            assert v("redis", f"idle_{c}_receivers") == 0
        session = p["session.timeout.ms"] / 1000.0
        assert v("kafka", "crash_rebalance_starts_after_s") >= session - 3.5, (
            "a crash is noticed only when the session times out")
        assert v("kafka", "crash_partition_stall_max_s") >= session - 3.5
        for event in ("join", "leave"):  # members hear of it at their next heartbeat (3 s)
            assert v("kafka", f"{event}_rebalance_starts_after_s") < 1.0
            assert v("kafka", f"{event}_partition_stall_max_s") <= 3.0 + 1.5
            assert v("kafka", f"{event}_partition_stall_max_s") < v(
                "kafka", "crash_partition_stall_max_s")
        for event in EVENTS:
            assert v("redis", f"{event}_others_max_gap_s") <= 1.0, (
                "other Redis subscribers never notice a membership change")


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    counts = sorted({int(m.metric.rsplit("_", 2)[1]) for r in results for m in r.metrics
                     if m.metric.startswith("throughput_") and m.model == "kafka"})
    if not counts:
        return []
    c = counts[-1]
    kafka = mean(results, "kafka", f"throughput_{c}_receivers")
    redis = mean(results, "redis", f"throughput_{c}_receivers")
    copies = mean(results, "redis", f"copies_per_message_{c}_receivers")
    return [Verdict("several workers sharing one stream's load",
                    "kafka" if kafka > redis else "either",
                    f"{c} receivers together handled {kafka:.3g} msg/s as a Kafka consumer group "
                    f"vs {redis:.3g} msg/s as Redis subscribers, which each got every message "
                    f"({copies:.3g} copies per message)")]

EXPERIMENT = Experiment(
    name="consumer-groups",
    question="How do a Kafka consumer group's members share a topic's partitions as the group "
             "grows, joins, leaves and crashes, compared with Redis subscribers?",
    expected="A group's throughput grows with its members up to the number of partitions, "
             "members beyond it sit idle, joins and leaves cause short rebalance pauses and a "
             "crashed member's partitions stall for about session.timeout.ms; every Redis "
             "subscriber gets every message (copies = subscribers), so adding subscribers adds "
             "no capacity, and membership changes disturb nobody.",
    params={"arrivals": "poisson", "partitions": 6, "rate": 600.0, "processing_ms": 20.0,
            "group_sizes": "1,2,3,6,8",
            "duration": 20.0, "window_from": 5.0, "max.poll.records": 100,
            "message_size": 1000, "linger.ms": 100, "session.timeout.ms": 45000,
            "partition.assignment.strategy": "range,cooperative-sticky",
            "dynamic_rate": 40.0, "dynamic_members": 3, "join_at": 10.0, "leave_at": 25.0,
            "crash_at": 40.0, "dynamic_duration": 100.0},
    quick={"rate": 360.0, "group_sizes": "1,6,8", "duration": 8.0, "window_from": 4.0,
           "session.timeout.ms": 6000, "dynamic_rate": 20.0, "join_at": 5.0, "leave_at": 10.0,
           "crash_at": 15.0, "dynamic_duration": 28.0},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
