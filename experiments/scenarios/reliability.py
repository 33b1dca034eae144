"""Reliability: what acks, replication, min.insync.replicas and unclean election buy when
brokers fail — and what Redis Pub/Sub loses to the same failures.

One run sweeps a grid of Kafka configurations — ``acks`` × replication factor ×
``min.insync.replicas`` × ``unclean.leader.election.enable`` × fault rate — through the same
workload and the same fault schedule, and puts Redis Pub/Sub beside them (the same crashes, a
subscriber that reconnects after ``reconnect_delay``). Each configuration is one row of the loss
table: acknowledged records lost (never delivered, or gone from the log), records written
twice (``duplicated``) and delivered more than once (``redelivered``: producer duplicates and
the consumer's at-least-once replays), p99 end-to-end latency (send → first delivery).

The faults (``fault_rates`` episodes per second, evenly spaced, broker ``i mod 3`` in episode
``i``, so each hits the leader of one of the three partitions): a broker first loses its links
to the other brokers for ``isolation_short`` seconds (even episodes) or ``isolation_long``
(odd ones, longer than ``replica.lag.time.max.ms``, so its followers drop out of the ISR and
it carries on alone), then crashes and restarts ``downtime`` seconds later. What each setting
does about it (kafka.md §2.3, §3):

- ``acks=0``/``acks=1`` acknowledge before replication: what the isolated leader acknowledged
  and its followers never got is lost when a follower takes over (``acks-0``/``acks-1``).
- ``acks=all`` waits for the ISR: with a short isolation nothing commits until the crash and
  the producer retries at the new leader; after a long one the leader has shrunk the ISR to
  itself. With ``min.insync.replicas=2`` it then refuses writes (``NotEnoughReplicas``,
  retried); with 1 it commits alone, and when it dies a clean election waits for it (the
  partition is offline) while an unclean one elects a stale follower and loses committed
  records (``unclean-election``).
- RF=1: a crash makes the partition unavailable until the restart; the log survives (a process
  crash keeps the page cache; disk loss is not modelled).
- Redis Pub/Sub stores nothing: what is published while the server is down, or before the
  subscriber has reconnected and subscribed again, is gone.
- ``redis sentinel``: the same crashes hit a primary with one replica watched by Sentinel
  (``down-after-milliseconds`` = ``down_after``, 5 s here as in the Sentinel docs' example
  configuration; Redis's default is 30 s, longer than ``downtime``, and would never fail
  over). The replica is promoted ``down_after`` + ``failover_delay`` after each crash, its
  clients are killed (``CLIENT KILL TYPE pubsub``), the readers — one Sentinel-aware reader
  that starts on the primary (the measured one, as for plain Redis) and one on the replica —
  reconnect to the new primary, and the old primary comes back as a replica; episode ``i``
  crashes whichever server is the primary then. A failover shortens the outage when
  ``down_after + failover_delay < downtime`` — but what is published in between is still lost.

Consumers: one group, one at-least-once consumer (process, then commit). The producer is
idempotent exactly when Kafka makes it so by default (``acks=all``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from experiments.conservation import assert_run_conserved
from experiments.experiment import Experiment, Metric, RunResult, UsageError, Verdict
from experiments.plotting import axis_label, model_style, save_figure
from models.kafka.cluster import KafkaCluster
from models.kafka.loops import process_then_commit
from models.kafka.network import broker_name
from models.redis_pubsub import RedisPubSub, Sentinel
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.arrivals import Constant
from sim.faults import Fault, FaultSchedule
from sim.workload import ProducerSpec, Workload

BROKERS = 3
TOPIC = "events"


# ---- the grid -------------------------------------------------------------------------------

def _words(params, key: str) -> list[str]:
    words = str(params[key]).replace(",", " ").split()
    if not words:
        raise UsageError(f"parameter {key!r} needs at least one value")
    return words


def configurations(params) -> list[dict]:
    """Every Kafka configuration of the grid (``min.insync.replicas`` above the replication
    factor and unclean election with one replica are left out: they mean nothing)."""
    out = []
    for acks in _words(params, "acks"):
        if acks not in ("0", "1", "all", "-1"):
            raise UsageError(f"acks must be 0, 1 or all, not {acks!r}")
        for rf in (int(w) for w in _words(params, "replication")):
            if not 1 <= rf <= BROKERS:
                raise UsageError(f"replication must be within 1..{BROKERS}, not {rf}")
            for isr in (int(w) for w in _words(params, "min_isr")):
                if isr > rf:
                    continue
                for unclean in _words(params, "unclean"):
                    flag = unclean.lower() in ("true", "yes", "1", "on")
                    if flag and rf == 1:
                        continue
                    out.append({"acks": "all" if acks == "-1" else acks, "rf": rf,
                                "min_isr": isr, "unclean": flag})
    return out


def label(cfg: dict) -> str:
    """``kafka acks=all rf=3 isr=2 clean``: a configuration as a model name."""
    election = "unclean" if cfg["unclean"] else "clean"
    return f"kafka acks={cfg['acks']} rf={cfg['rf']} isr={cfg['min_isr']} {election}"


def episodes(params, rate: float) -> list[tuple[str, float, float, float]]:
    """``(broker, isolated_at, crash_at, restart_at)`` for each fault episode."""
    duration = float(params["duration"])
    warmup = float(params["warmup"])
    n = round(rate * duration)
    out = []
    for i in range(n):
        start = warmup + (i + 0.5) * duration / n
        isolation = float(params["isolation_long" if i % 2 else "isolation_short"])
        crash = start + isolation
        out.append((broker_name(i % BROKERS), start, crash, crash + float(params["downtime"])))
    return out


def _workload(params) -> Workload:
    rate = float(params["rate"])
    producer = ProducerSpec("producer", TOPIC, Constant(rate, offset=0.37 / rate),
                            params["message_size"])
    return Workload((producer,), params["duration"], "reliability")


# ---- one Kafka configuration ----------------------------------------------------------------

def run_kafka(params, seed: int, cfg: dict, rate: float) -> dict[str, float]:
    sim = Simulation(seed=seed)
    cluster = KafkaCluster(sim, brokers=BROKERS)
    cluster.create_topic(TOPIC, partitions=BROKERS, replication_factor=cfg["rf"],
                         config={"min.insync.replicas": cfg["min_isr"],
                                 "unclean.leader.election.enable": cfg["unclean"]})
    batch = _workload(params).generate(sim)
    producer = cluster.producer({"client.id": "producer", "acks": cfg["acks"],
                                 "enable.idempotence": cfg["acks"] == "all"})
    # the consumer joins its group first; records are sent from ``warmup`` on
    bulk = producer.produce(TOPIC, batch.t + float(params["warmup"]), batch.size,
                            partitions=np.arange(len(batch.t)) % BROKERS)  # round robin
    process_then_commit(cluster, {"group.id": "readers", "client.id": "reader",
                                  "auto.offset.reset": "earliest"}, TOPIC,
                        poll_timeout_ms=1000.0)
    faults = []
    for broker, isolated, crash, restart in episodes(params, rate):
        peers = [broker_name(b) for b in range(BROKERS) if broker_name(b) != broker]
        faults += [Fault(isolated, "cut", (broker, p)) for p in peers]
        faults += [Fault(crash, "crash", broker), Fault(restart, "restart", broker)]
        faults += [Fault(restart, "heal", (broker, p)) for p in peers]
    FaultSchedule(tuple(faults)).attach(sim, cluster)
    sim.run(until=_end(params))
    assert_run_conserved(sim)
    trace = sim.trace
    acked_msgs = bulk.msg[~np.isnan(bulk.acked_at)]
    delivered = trace.delivered
    got, first = np.unique(delivered["msg"], return_index=True)
    in_log = np.concatenate([p.log.columns()["msg"] for p in cluster.all_partitions()])
    gone = np.setdiff1d(acked_msgs, in_log)  # no later reader will ever find them
    lost = np.union1d(gone, np.setdiff1d(acked_msgs, got))
    appended = trace.table("appended")
    truncated = trace.table("truncated")
    kept = _surviving(appended, truncated)
    _, counts = np.unique(kept, return_counts=True)
    sent_at = np.full(int(bulk.msg.max()) + 1, np.nan)
    sent_at[bulk.msg] = bulk.times
    latency = delivered["t"][first] - sent_at[got]
    return {
        "published": len(bulk), "acked": len(acked_msgs), "failed": bulk.failed,
        "lost": len(lost), "lost_fraction": len(lost) / max(len(acked_msgs), 1),
        "lost_from_log": len(gone), "undelivered": len(np.setdiff1d(acked_msgs, got)),
        "duplicated": int((counts - 1).sum()),
        "redelivered": int(len(delivered) - len(got)),
        "latency_p99": float(np.quantile(latency, 0.99)) if len(latency) else float("nan"),
        "elections": cluster.controller.elections,
        "unclean_elections": cluster.controller.unclean_elections,
    }


def _surviving(appended, truncated) -> np.ndarray:
    """Message ids of the ``appended`` rows no leader change truncated."""
    msg = appended["msg"]
    if not len(truncated) or not len(msg):
        return msg
    gone = set(zip(truncated["msg"].tolist(), truncated["partition"].tolist(),
                   truncated["offset"].tolist(), strict=True))
    keep = [(m, p, o) not in gone for m, p, o in zip(
        msg.tolist(), appended["partition"].tolist(), appended["offset"].tolist(), strict=True)]
    return msg[np.array(keep, dtype=bool)]


# ---- Redis beside it -----------------------------------------------------------------------

def run_redis(params, seed: int, rate: float) -> dict[str, float]:
    sim = Simulation(seed=seed)
    server = RedisPubSub(sim)
    Subscriber(server, "reader", [TOPIC], reconnect_delay=float(params["reconnect_delay"]))
    schedule = FaultSchedule(tuple(
        f for _b, _i, crash, restart in episodes(params, rate)
        for f in (Fault(crash, "crash", server.name), Fault(restart, "restart", server.name))))
    schedule.attach(sim, server)
    sim.run(until=float(params["warmup"]))
    server.publish_workload(_workload(params))
    sim.run(until=_end(params))
    assert_run_conserved(sim)
    pub = sim.trace.published
    outage = np.zeros(len(pub), dtype=bool)
    for _b, _i, crash, restart in episodes(params, rate):
        outage |= (pub["t"] >= crash) & (pub["t"] < restart)
    delivered = sim.trace.delivered
    return _reader_outcome(pub, delivered["msg"], delivered["t"], outage)


def run_sentinel(params, seed: int, rate: float) -> dict[str, float]:
    """Redis with a replica and Sentinel under the same crashes (see the module docstring)."""
    sim = Simulation(seed=seed)
    servers = [RedisPubSub(sim, name="redis-a"), RedisPubSub(sim, name="redis-b")]
    servers[1].replicaof(servers[0])
    sentinel = Sentinel(sim, servers[0], down_after=float(params["down_after"]),
                        failover_delay=float(params["failover_delay"]))
    delay = float(params["reconnect_delay"])
    sentinel.subscriber("reader", [TOPIC], reconnect_delay=delay)
    sentinel.subscriber("replica-reader", [TOPIC], on=servers[1], reconnect_delay=delay)
    crashes = episodes(params, rate)
    window = float(params["down_after"]) + float(params["failover_delay"])
    failover = window < float(params["downtime"])
    faults = []
    for i, (_b, _i, crash, restart) in enumerate(crashes):
        name = servers[i % 2 if failover else 0].name  # the primary at that time
        faults += [Fault(crash, "crash", name), Fault(restart, "restart", name)]
    FaultSchedule(tuple(faults)).attach(sim, sentinel)
    sim.run(until=float(params["warmup"]))
    sentinel.publish_workload(_workload(params))
    sim.run(until=_end(params))
    assert_run_conserved(sim)
    trace = sim.trace
    pub = trace.published
    mine = trace.delivered["receiver"] == trace.receivers.id("reader")
    gap = np.zeros(len(pub), dtype=bool)
    for _b, _i, crash, restart in crashes:
        gap |= (pub["t"] >= crash) & (pub["t"] < (crash + window if failover else restart))
    return _reader_outcome(pub, trace.delivered["msg"][mine], trace.delivered["t"][mine], gap,
                           failovers=len(sentinel.failovers))


def _reader_outcome(pub, msg: np.ndarray, t: np.ndarray, down: np.ndarray,
                    **counts: int) -> dict[str, float]:
    """A Redis reader's row: its deliveries (``msg``, ``t``) against everything published
    (``pub``), ``down`` marking what was published while the server could not take it;
    ``counts`` (such as ``failovers``) join the row after ``published_while_down``."""
    got, first = np.unique(msg, return_index=True)
    lost = np.setdiff1d(pub["msg"], got)
    sent_at = dict(zip(pub["msg"].tolist(), pub["t"].tolist(), strict=True))
    latency = t[first] - np.array([sent_at[m] for m in got.tolist()])
    return {
        "published": len(pub), "acked": len(pub), "failed": 0,
        "lost": len(lost), "lost_fraction": len(lost) / max(len(pub), 1),
        "published_while_down": int(down.sum()), **counts,
        "duplicated": 0, "redelivered": int(len(msg) - len(got)),
        "latency_p99": float(np.quantile(latency, 0.99)) if len(latency) else float("nan"),
    }


def _end(params) -> float:
    return float(params["warmup"]) + float(params["duration"]) + float(params["drain"])


_UNITS = {"lost_fraction": "fraction", "latency_p99": "s", "elections": "count",
          "unclean_elections": "count", "failovers": "count"}


def run(params, seed: int) -> RunResult:
    metrics: list[Metric] = []
    for rate in (float(w) for w in _words(params, "fault_rates")):
        suffix = f" faults={rate:g}/s"
        for name, values in [("redis" + suffix, run_redis(params, seed, rate)),
                             ("redis sentinel" + suffix, run_sentinel(params, seed, rate))] + [
                (label(cfg) + suffix, run_kafka(params, seed, cfg, rate))
                for cfg in configurations(params)]:
            metrics += [Metric(name, k, v, _UNITS.get(k, "messages")) for k, v in values.items()]
    return RunResult(metrics=metrics)


# ---- reading the results --------------------------------------------------------------------

def table(result: RunResult) -> list[dict]:
    """The loss table of one run: one row per model and fault rate."""
    rows: dict[str, dict] = {}
    for m in result.metrics:
        rows.setdefault(m.model, {"model": m.model})[m.metric] = m.value
    return list(rows.values())


def _rows(results: Sequence[RunResult], pick) -> list[dict]:
    return [row for r in results for row in table(r) if pick(row["model"])]


def _faulty(model: str) -> bool:
    return not model.endswith(" faults=0/s")


def plot(results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    first = results[0]
    rows = table(first)
    rates = sorted({row["model"].rsplit(" faults=", 1)[1] for row in rows},
                   key=lambda r: float(r.removesuffix("/s")))
    fig = Figure(figsize=(11.0, 0.32 * len(rows) + 1.6), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    names = [row["model"] for row in rows]
    y = np.arange(len(rows))
    colours = [_colour(n) for n in names]
    for ax, key, what, unit in (
            (axes[0], "lost", "acknowledged, then lost", "messages"),
            (axes[1], "redelivered", "delivered again (retries, replays)", "messages"),
            (axes[2], "latency_p99", "p99 send → first delivery", "s")):
        values = np.array([row.get(key, np.nan) for row in rows], dtype=float)
        ax.barh(y, np.nan_to_num(values), color=colours)
        for yi, v in zip(y, values, strict=True):
            if np.isfinite(v):
                ax.text(v, yi, f" {v:.3g}", va="center", fontsize="x-small")
        ax.set_title(what, fontsize="medium")
        ax.set_xlabel(axis_label(key.replace("_", " "), unit))
        if key == "latency_p99":
            ax.set_xscale("log")
        else:
            ax.set_xlim(0, max(1.0, float(np.nanmax(values)) * 1.2))
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, names, fontsize="x-small")
    axes[0].invert_yaxis()
    p = first.params
    fig.suptitle(f"Reliability under broker faults (fault episodes per second: "
                 f"{', '.join(r.removesuffix('/s') for r in rates)}; {p['rate']:g} msg/s for "
                 f"{p['duration']:g} s; darker blue = stronger acks)")
    return save_figure(fig, out_dir, "reliability_loss_table")


_ACKS_COLOURS = {"0": "#9ecae1", "1": "#3182bd", "all": "#08306b"}


def _colour(model: str) -> str:
    """Redis in its colour; Kafka in darker blues as ``acks`` gets stronger."""
    if model.startswith("kafka acks="):
        return _ACKS_COLOURS[model.split()[1].split("=")[1]]
    return model_style(model.split(" faults=")[0]).color


def _get(row_set: list[dict], model_start: str) -> list[dict]:
    return [r for r in row_set if r["model"].startswith(model_start)]


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([row[key] for row in rows]))


def check(results: Sequence[RunResult]) -> None:
    faulty = _rows(results, _faulty)
    assert faulty, "the check needs a fault rate above 0"
    for row in _get(faulty, "kafka acks=all rf=3 isr=2 clean"):
        assert row["lost"] == 0, f"{row['model']}: acks=all, RF=3, min ISR 2 lost records"
        assert row["duplicated"] == 0, "the idempotent producer wrote a record twice"
    for start in ("kafka acks=all rf=3 isr=1 clean", "kafka acks=all rf=3 isr=2 unclean"):
        for row in _get(faulty, start):
            assert row["lost"] == 0, f"{row['model']}: lost acknowledged records"
    lossy = [r["lost"] for r in _get(faulty, "kafka acks=1 rf=3")]
    assert lossy and all(v > 0 for v in lossy), "acks=1 must lose under leader crashes"
    unclean = [r["lost_from_log"] for r in _get(faulty, "kafka acks=all rf=3 isr=1 unclean")]
    assert unclean and all(v > 0 for v in unclean), "an unclean election must lose records"
    for row in _get(faulty, "redis faults="):
        assert row["lost"] >= row["published_while_down"] > 0, (
            "Redis must lose at least what was published while it was down")
    for row in _get(faulty, "redis sentinel"):
        assert row["lost"] >= row["published_while_down"] > 0, (
            "Redis with Sentinel must lose at least what was published before the promotion")
    for row in _rows(results, lambda m: not _faulty(m)):
        assert row["lost"] == 0, f"{row['model']} lost records without any fault"


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    faulty = _rows(results, _faulty)
    safe = _get(faulty, "kafka acks=all rf=3 isr=2 clean")
    redis = _get(faulty, "redis faults=")
    fast = _get(faulty, "kafka acks=1 rf=3 isr=1 clean")
    out = []
    if safe and redis:
        k, r = _mean(safe, "lost_fraction"), _mean(redis, "lost_fraction")
        out.append(Verdict(
            "acknowledged messages must survive a broker crash",
            "kafka" if k < r else "either",
            f"under the same broker crashes Kafka with acks=all, RF=3, min.insync.replicas=2 "
            f"lost {k:.2%} of acknowledged records, Redis Pub/Sub {r:.2%} of messages"))
    sentinel = _get(faulty, "redis sentinel")
    if sentinel and redis:
        r = _mean(redis, "lost_fraction")
        rs, n = _mean(sentinel, "lost_fraction"), _mean(sentinel, "failovers")
        out.append(Verdict(
            "a replica with Sentinel makes Redis Pub/Sub lose nothing",
            "kafka",
            f"with a replica and Sentinel ({n:g} failovers a run) Redis Pub/Sub still lost "
            f"{rs:.2%} of messages (alone: {r:.2%}): everything published between the crash "
            f"and the promotion, and until the subscribers were back, is gone"))
    if fast and safe:
        k1, lat1 = _mean(fast, "lost_fraction"), _mean(fast, "latency_p99")
        lat_all = _mean(safe, "latency_p99")
        out.append(Verdict(
            "durability is worth waiting for replication (acks=all rather than acks=1)",
            "kafka",
            f"acks=1 lost {k1:.2%} of acknowledged records to leader failover, acks=all none; "
            f"p99 latency {lat1:.3g} s vs {lat_all:.3g} s under the same faults"))
    return out


EXPERIMENT = Experiment(
    name="reliability",
    question="Which Kafka settings lose acknowledged messages when brokers fail, and what "
             "does Redis Pub/Sub lose to the same failures?",
    expected="acks=all with RF=3, min.insync.replicas=2 and clean elections loses nothing; "
             "acks=1 loses what an isolated leader acknowledged, an unclean election loses "
             "committed records, and Redis loses whatever is published while it is down.",
    params={"rate": 5.0, "message_size": 100, "warmup": 5.0, "duration": 400.0,
            "drain": 200.0,
            "acks": "0 1 all", "replication": "1 3", "min_isr": "1 2",
            "unclean": "false true", "fault_rates": "0 0.01",
            "isolation_short": 10.0, "isolation_long": 50.0, "downtime": 10.0,
            "reconnect_delay": 1.0, "down_after": 5.0, "failover_delay": 2.0},
    quick={"rate": 10.0, "duration": 60.0, "drain": 150.0, "fault_rates": "0.033",
           "acks": "1 all", "replication": "3"},
    run=run,
    plot=plot,
    check=check,
    verdicts=verdicts,
)
