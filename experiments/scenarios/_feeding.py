"""Putting one workload into both models, and Kafka settings written the way people write them.

Private helpers of the replay, retention, consumer-groups and delivery-guarantees experiments
(the registry skips ``_`` modules).

- :func:`workload_messages` draws a workload through :meth:`sim.workload.Workload.feed`, the
  same cursor :meth:`models.redis_pubsub.RedisPubSub.publish_workload` uses, so a Kafka run and a
  Redis run with the same seed get identical send times and sizes (common random numbers).
- :func:`produce_workload` sends those messages through a Kafka producer's bulk path.
- :func:`arrivals` gives the arrival process an experiment's ``arrivals`` parameter names.
- :func:`kafka_ms` reads a Kafka ``*.ms`` setting given as a number of milliseconds (Kafka's
  unit) or as a duration string (``"7d"``, ``"5min"``); :func:`scaled_ms` compresses it by a
  time scale, for experiments that replay days of retention in a minute of simulated time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.arrivals import ArrivalProcess, Constant, Poisson
from sim.simulation import Simulation
from sim.units import parse_duration
from sim.workload import MessageBatch, Workload

_BARE_NUMBER = re.compile(r"^\s*[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?\s*$")


ARRIVALS = ("poisson", "constant")


def arrivals(kind: str, rate: float) -> ArrivalProcess:
    """``"poisson"``: independent exponential gaps (replications then differ, and confidence
    intervals mean something); ``"constant"``: one message every ``1/rate`` s, half a period
    off the whole-second grid so that no send ties with a scheduled moment (a join, a crash) —
    a tie Redis would resolve by arrival order."""
    if kind == "poisson":
        return Poisson(rate)
    if kind == "constant":
        return Constant(rate, offset=0.5 / rate)
    raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}, not {kind!r}")


def kafka_ms(value: Any) -> float:
    """Milliseconds of a Kafka ``*.ms`` setting: a number (or a bare-number string) is already
    milliseconds, as in Kafka's own configs; ``"7d"``, ``"5min"``, ``"500ms"`` are durations.
    ``-1`` (Kafka's "no limit") is kept as -1."""
    if isinstance(value, bool):
        raise ValueError(f"a Kafka .ms setting must be a number or a duration, not {value!r}")
    if isinstance(value, int | float) or _BARE_NUMBER.match(str(value)):
        ms = float(value)
    else:
        ms = parse_duration(str(value)) * 1000.0
    if ms == -1:
        return -1.0
    if not math.isfinite(ms) or ms < 0:
        raise ValueError(f"a Kafka .ms setting must be >= 0 or -1, not {value!r}")
    return ms


def scaled_ms(value: Any, time_scale: float) -> int:
    """A Kafka ``*.ms`` setting compressed ``time_scale`` times (``"7d"`` at 8640 → 70 000 ms).

    The result is a whole number of milliseconds, at least 1 (Kafka configs are integers);
    ``-1`` stays ``-1``.
    """
    if not time_scale > 0:
        raise ValueError(f"time_scale must be positive, not {time_scale!r}")
    ms = kafka_ms(value)
    if ms == -1:
        return -1
    return max(1, round(ms / time_scale))


def workload_messages(workload: Workload, sim: Simulation) -> MessageBatch:
    """Every message of ``workload`` for the run ``sim``, drawn exactly as
    ``RedisPubSub.publish_workload`` draws them (the same feed and random streams)."""
    return workload.feed(sim).take(workload.duration)


def produce_workload(cluster: Any, workload: Workload, producer_config: Mapping[str, Any],
                     topic: str | None = None, start: float | None = None
                     ) -> tuple[Any, MessageBatch]:
    """Send ``workload`` (one target: the topic) through a new producer's bulk path, its time 0
    being ``start`` (default: now). Returns the ``BulkSend`` and the messages (send times
    relative to ``start``)."""
    topic = topic or workload.targets[0]
    if len(workload.targets) != 1:
        raise ValueError(f"one topic per workload here, not {workload.targets}")
    messages = workload_messages(workload, cluster.sim)
    producer = cluster.producer(dict(producer_config))
    start = float(cluster.env.now) if start is None else float(start)
    bulk = producer.produce(topic, messages.t + start, messages.size)
    return bulk, messages


def run_until_caught_up(sim: Simulation, loops: Any, until: float, limit: float,
                        batch_s: float) -> None:
    """Run to ``until``, then on in 1 s steps while any loop's consumer still has lag (up to
    ``limit``), then ``batch_s`` more so that a batch in hand finishes (``models.kafka.loops``
    traces a batch's deliveries when its processing ends)."""
    sim.run(until=until)
    while sim.now < limit and any(
            loop.consumer is not None and sum(loop.consumer.lag().values()) for loop in loops):
        sim.run(until=sim.now + 1.0)
    sim.run(until=sim.now + batch_s + 0.5)


def offset_for_time(partition: Any, t: float) -> int:
    """Kafka's ``offsetsForTimes`` for one partition: the earliest retained offset whose record
    timestamp is at or after ``t`` (the high watermark if there is none)."""
    cols = partition.log.columns()
    offsets, stamps = cols["offset"], cols["timestamp"]
    below_hw = offsets < partition.high_watermark
    offsets, stamps = offsets[below_hw], stamps[below_hw]
    later = np.flatnonzero(stamps >= t)
    return int(offsets[later[0]]) if len(later) else int(partition.high_watermark)
