"""What a workload file describes, once parsed: a :class:`WorkloadFile`.

A :class:`WorkloadFile` is frozen data, whichever file format it came from (TOML or
OpenMessaging Benchmark YAML):

- ``workload`` — the :class:`sim.workload.Workload` (producers, arrivals, sizes, keys), fed
  unchanged to every model;
- ``topics`` — one :class:`TopicSpec` per target (Kafka partitions, replication factor and
  topic config; Redis uses only the name, as a channel);
- ``groups`` — the receivers, as :class:`GroupSpec` s: a consumer group in Kafka, a subscribing
  application of ``consumers`` connections in Redis;
- ``redis`` / ``kafka`` — model settings by the systems' own names;
- ``warmup`` (excluded from latency and rate statistics, as OMB does), ``find_max_rate``
  (search the highest sustainable rate instead of replaying the given one) and ``backlog``
  (OMB's ``consumerBacklogSizeGB``: receivers pause until that many bytes pile up).

Times: ``workload.duration`` is the whole run — warm-up, backlog build-up, then the measured
part (:attr:`WorkloadFile.measured_duration`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sim.arrivals import ArrivalProcess, Constant, OnOff, Poisson
from sim.distributions import Distribution
from sim.workload import ProducerSpec, Workload

Settings = tuple[tuple[str, Any], ...]
"""Model settings as ``((name, value), ...)``: frozen, hashable and picklable."""

KAFKA_KINDS: tuple[str, ...] = ("broker", "topic", "producer", "consumer")


class WorkloadFileError(ValueError):
    """A malformed workload file: one message naming the file and the field.

    ``str(err)`` is ``"<file>: <field>: <what is wrong>"``, e.g.
    ``"1-topic.yaml: producerRate: must be a number >= 0, got 'fast'"``.
    """

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")


class FieldError(ValueError):
    """Raised by the parsers for one field; the loader adds the file name."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


def settings(mapping: Mapping[str, Any] | None) -> Settings:
    """A mapping as frozen :data:`Settings` (insertion order kept)."""
    return tuple((str(k), v) for k, v in (mapping or {}).items())


@dataclass(frozen=True)
class TopicSpec:
    """A target: a Kafka topic (partitions, replication factor, topic config) or a Redis
    channel (only the name matters). ``None`` uses the broker's ``num.partitions`` and
    ``default.replication.factor``."""

    name: str
    partitions: int | None = None
    replication_factor: int | None = None
    config: Settings = ()


@dataclass(frozen=True)
class GroupSpec:
    """Receivers of ``targets`` that together are owed every message sent to them.

    Kafka: a consumer group ``name`` of ``consumers`` consumers (``client.id`` ``c0``, ``c1``…)
    sharing the partitions. Redis Pub/Sub cannot share one channel among connections, so the
    group is an application of ``consumers`` connections that split the *channels* among
    them (connection ``j`` subscribes to ``targets[j::consumers]``; with more connections than
    channels the extra ones stay idle, as Kafka consumers beyond the partition count do).
    ``service`` is the time a consumer spends on each message (``None``: none).
    Receivers are named ``"<group>/c<j>"`` in both models.
    """

    name: str
    targets: tuple[str, ...]
    consumers: int = 1
    service: Distribution | None = None

    def receiver_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}/c{j}" for j in range(self.consumers))


@dataclass(frozen=True)
class Backlog:
    """OMB's backlog test: after the warm-up the receivers pause until ``size`` bytes are owed
    to them (counted once per group), then resume and drain; drained means at most
    ``max(1000, (1 - drain_ratio) × size / message size)`` messages are still owed."""

    size: int
    drain_ratio: float = 1.0


@dataclass(frozen=True)
class WorkloadFile:
    """A parsed workload file (see the module docstring)."""

    workload: Workload
    topics: tuple[TopicSpec, ...]
    groups: tuple[GroupSpec, ...]
    redis: Settings = ()
    kafka: tuple[tuple[str, Settings], ...] = ()
    brokers: int = 3
    warmup: float = 0.0
    find_max_rate: bool = False
    backlog: Backlog | None = None
    source: str = ""
    format: str = "toml"
    extra: Settings = ()
    """Fields of the source file kept for the report but not simulated (OMB payload files,
    randomized payloads: they matter only for compression, which is not modelled)."""

    # ------------------------------------------------------------ derived facts

    @property
    def name(self) -> str:
        return self.workload.name

    def kafka_settings(self, kind: str) -> dict[str, Any]:
        """The Kafka settings of one kind (``broker``, ``topic``, ``producer``, ``consumer``)."""
        return dict(dict(self.kafka).get(kind, ()))

    @property
    def redis_settings(self) -> dict[str, Any]:
        return dict(self.redis)

    def topic(self, name: str) -> TopicSpec:
        for t in self.topics:
            if t.name == name:
                return t
        raise KeyError(name)

    def owed_byte_rate(self) -> float:
        """Bytes per second owed to the receivers while every producer sends (each message
        once per group subscribed to its target)."""
        total = 0.0
        for p in self.workload.producers:
            groups = [sum(t in g.targets for g in self.groups) for t in p.target]
            share = (p.target_choice.probabilities if p.target_choice is not None
                     else [1.0 / len(p.target)] * len(p.target))
            mean_size = p.sizes.mean if p.sizes is not None else 0.0
            total += p.arrivals.mean_rate * mean_size * sum(
                s * g for s, g in zip(share, groups, strict=True))
        return total

    def backlog_build_time(self) -> float:
        """Seconds the receivers stay paused to build the backlog (0 without one)."""
        if self.backlog is None:
            return 0.0
        rate = self.owed_byte_rate()
        if rate <= 0:
            raise ValueError("a backlog needs producers sending to subscribed targets")
        return self.backlog.size / rate

    @property
    def measured_duration(self) -> float:
        """Seconds after the warm-up and the backlog build-up."""
        return self.workload.duration - self.warmup - self.backlog_build_time()

    # ------------------------------------------------------------ variants

    def scaled(self, time_scale: float) -> WorkloadFile:
        """The same workload on a compressed (``time_scale < 1``) or stretched schedule.

        Multiplies the duration, the warm-up, producers' ``start``/``stop`` and the backlog size
        (so its build-up time scales too); keeps the traffic itself — rates, sizes, keys,
        on/off burst lengths, trace timing.
        """
        if not (isinstance(time_scale, int | float) and math.isfinite(time_scale)
                and time_scale > 0):
            raise ValueError(f"time scale must be a positive number, not {time_scale!r}")
        if time_scale == 1:
            return self
        s = float(time_scale)
        producers = tuple(replace(p, start=p.start * s,
                                  stop=None if p.stop is None else p.stop * s)
                          for p in self.workload.producers)
        workload = replace(self.workload, producers=producers,
                           duration=self.workload.duration * s)
        backlog = (None if self.backlog is None
                   else replace(self.backlog, size=max(1, round(self.backlog.size * s))))
        return replace(self, workload=workload, warmup=self.warmup * s, backlog=backlog)

    def with_duration(self, measured: float) -> WorkloadFile:
        """The same workload with ``measured`` seconds after the warm-up and backlog build-up."""
        if not math.isfinite(measured) or measured <= 0:
            raise ValueError(f"duration must be positive, not {measured!r}")
        total = self.warmup + self.backlog_build_time() + measured
        late = [p.name for p in self.workload.producers if p.start >= total]
        if late:
            raise ValueError(f"with a duration of {measured:g} s the run ends at {total:g} s, "
                             f"before producer(s) {', '.join(late)} start")
        producers = tuple(p if p.stop is None or p.stop <= total else replace(p, stop=None)
                          for p in self.workload.producers)
        return replace(self, workload=replace(self.workload, producers=producers,
                                              duration=total))

    def at_rate(self, total_rate: float) -> WorkloadFile:
        """The same workload with every producer's rate scaled so that together they send
        ``total_rate`` messages per second (for the maximum-rate search)."""
        current = self.workload.mean_rate
        if current <= 0 or total_rate <= 0:
            raise ValueError("the maximum-rate search needs producers with a positive rate")
        if self.backlog is not None:
            raise ValueError("the maximum rate cannot be searched while building a backlog")
        factor = total_rate / current
        producers = tuple(replace(p, arrivals=_scale_rate(p, factor))
                          for p in self.workload.producers)
        return replace(self, workload=replace(self.workload, producers=producers))

    def summary(self) -> list[str]:
        """Markdown bullet lines describing the workload, for the report."""
        w = self.workload
        parts = ", ".join(f"{t.name} ({t.partitions or 'default'} partition"
                          f"{'s' * (t.partitions != 1)})" for t in self.topics[:4])
        more = f" and {len(self.topics) - 4} more" if len(self.topics) > 4 else ""
        consumers = sum(g.consumers for g in self.groups)
        rate = "maximum-rate search" if self.find_max_rate else f"{w.mean_rate:,.6g} msg/s"
        lines = [
            f"- workload `{w.name}` from `{self.source}` ({self.format})",
            f"- {len(self.topics)} topic(s)/channel(s): {parts}{more}",
            f"- {len(w.producers)} producer(s), {rate}",
            f"- {len(self.groups)} group(s), {consumers} consumer(s)",
            f"- run {w.duration:g} s simulated: warm-up {self.warmup:g} s"
            + (f", backlog build-up {self.backlog_build_time():g} s" if self.backlog else "")
            + f", measured {self.measured_duration:g} s",
        ]
        if self.redis:
            lines.append("- Redis settings: " + ", ".join(f"`{k}={v}`" for k, v in self.redis))
        for kind, values in self.kafka:
            if values:
                lines.append(f"- Kafka {kind} settings: "
                             + ", ".join(f"`{k}={v}`" for k, v in values))
        if self.extra:
            lines.append("- not simulated: " + ", ".join(f"`{k}={v}`" for k, v in self.extra))
        return lines


def _scale_rate(p: ProducerSpec, factor: float) -> ArrivalProcess:
    a = p.arrivals
    if isinstance(a, Constant):
        return Constant(a.rate * factor, offset=a.offset / factor)
    if isinstance(a, Poisson):
        return Poisson(a.rate * factor)
    if isinstance(a, OnOff):
        return replace(a, rate=a.rate * factor)
    raise ValueError(f"producer {p.name!r}: cannot change the rate of {a!r} "
                     "(only constant, poisson and onoff arrivals)")


def targets_of(groups: Iterable[GroupSpec]) -> tuple[str, ...]:
    """Every target some group receives, in order of first mention."""
    return tuple(dict.fromkeys(t for g in groups for t in g.targets))
