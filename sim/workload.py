"""Workloads: who sends what, where and when — one description fed unchanged to every model.

A :class:`Workload` is a frozen tuple of :class:`ProducerSpec` s and a duration. It knows no
broker: a *target* is a Redis channel or a Kafka topic, a *key* index is a Kafka record key
(Redis ignores it; :func:`key_bytes` gives both models the same bytes for it).

Messages are drawn in columnar :class:`MessageBatch` es — arrays ``t`` (sorted seconds),
``producer``, ``target`` (an index into ``workload.targets``), ``size`` (bytes) and ``key``
(-1 for none) — never one object per message. Producer ``p`` draws only from the streams
``workload/p/arrivals``, ``workload/p/sizes``, ``workload/p/keys`` and ``workload/p/targets``,
so the same seed gives the same messages to every model (common random numbers) and adding a
producer does not change the others' messages.

Two ways to draw:

- :meth:`Workload.generate` — the messages of one window. Consecutive windows drawn from one
  simulation continue each other exactly (see :mod:`sim.arrivals`).
- :meth:`Workload.feed` — a :class:`WorkloadFeed`, the run's cursor. It draws on a fixed grid of
  ``workload.chunk`` seconds and hands out whatever window a model asks for, so the messages
  depend only on the seed and the workload, never on how a model slices time. Models should use
  it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.arrivals import ArrivalProcess, Constant, Poisson, TraceReplay, parse_arrivals
from sim.distributions import (
    Choice,
    Distribution,
    UniformChoice,
    did_you_mean,
    parse_choice,
    parse_distribution,
)
from sim.units import parse_duration

if TYPE_CHECKING:
    from sim.simulation import Simulation


def key_bytes(index: int) -> bytes | None:
    """The record key for key index ``index``: ``b"key-<index>"``, or ``None`` for -1."""
    return None if index < 0 else b"key-%d" % index


@dataclass(frozen=True, slots=True)
class MessageBatch:
    """Messages as columns, sorted by ``t`` (ties: producer order, then send order)."""

    t: np.ndarray
    producer: np.ndarray
    target: np.ndarray
    size: np.ndarray
    key: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, index: slice | np.ndarray) -> MessageBatch:
        return MessageBatch(self.t[index], self.producer[index], self.target[index],
                            self.size[index], self.key[index])

    @classmethod
    def empty(cls) -> MessageBatch:
        return cls(np.empty(0), np.empty(0, np.int32), np.empty(0, np.int32),
                   np.empty(0, np.int64), np.empty(0, np.int64))

    @classmethod
    def concatenate(cls, batches: Iterable[MessageBatch]) -> MessageBatch:
        """Batches of consecutive windows, joined."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        return cls(*(np.concatenate([getattr(b, c) for b in batches])
                     for c in ("t", "producer", "target", "size", "key")))

    def to_dict(self) -> dict[str, np.ndarray]:
        return {"t": self.t, "producer": self.producer, "target": self.target,
                "size": self.size, "key": self.key}

    def equals(self, other: MessageBatch) -> bool:
        """Bit-identical columns."""
        return all(np.array_equal(a, b) for a, b in
                   zip(self.to_dict().values(), other.to_dict().values(), strict=True))


def _err(producer: str, message: str) -> ValueError:
    return ValueError(f"producer {producer!r}: {message}")


@dataclass(frozen=True)
class ProducerSpec:
    """One producer (a Redis publisher, a Kafka producer) and the traffic it sends.

    - ``target``: a channel/topic name, or several (each message picks one with
      ``target_choice``, uniformly at random by default); ``None`` takes the names from a
      :class:`~sim.arrivals.TraceReplay` with a target column.
    - ``arrivals``: an :class:`~sim.arrivals.ArrivalProcess` (or a short form, ``"poisson:1000"``)
      whose time 0 is ``start``.
    - ``sizes``: bytes per message — a number, ``"1kb"``, a
      :class:`~sim.distributions.Distribution` or a short form (``"lognormal:1kb,0.5"``);
      ``None`` uses a trace's size column.
    - ``keys``: a :class:`~sim.distributions.Choice` of key index per message (a short form
      such as ``"zipf:100,1.1"``), or ``None`` for no key (or a trace's key column).
    - ``start``/``stop``: when the producer sends (``stop=None``: until the workload ends).
    """

    name: str
    target: str | tuple[str, ...] | None
    arrivals: ArrivalProcess
    sizes: Distribution | None
    keys: Choice | None = None
    start: float = 0.0
    stop: float | None = None
    target_choice: Choice | None = None

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a producer needs a non-empty name, not {name!r}")
        setf = object.__setattr__

        def parsed(label: str, parse: Any, value: Any) -> Any:
            try:
                return parse(value)
            except ValueError as err:
                raise _err(name, f"{label}: {err}") from None

        arrivals = self.arrivals
        if isinstance(arrivals, str | Mapping):
            arrivals = parsed("arrivals", parse_arrivals, arrivals)
        if not isinstance(arrivals, ArrivalProcess):
            raise _err(name, f"arrivals must be an arrival process such as Poisson(1000) or "
                             f"Constant(1000), not {arrivals!r}")
        setf(self, "arrivals", arrivals)
        trace = arrivals if isinstance(arrivals, TraceReplay) else None

        target = self.target
        if isinstance(target, str):
            target = (target,)
        if target is None:
            if trace is None or trace.target is None:
                raise _err(name, "needs a target (a channel or topic name)")
            target = trace.target_names
        target = tuple(target)
        if not target or not all(isinstance(t, str) and t for t in target):
            raise _err(name, f"target must be a non-empty name or names, not {self.target!r}")
        if len(set(target)) != len(target):
            raise _err(name, f"target names repeat: {target}")
        if trace is not None and trace.target is not None:
            missing = [t for t in trace.target_names if t not in target]
            if missing:
                raise _err(name, f"the trace sends to {missing}, which are not in target")
        setf(self, "target", target)

        choice = self.target_choice
        if choice is not None:
            choice = parsed("target_choice", parse_choice, choice)
            if trace is not None and trace.target is not None:
                raise _err(name, "targets come from the trace's target column; "
                                 "drop target_choice")
            if choice.n != len(target):
                raise _err(name, f"target_choice picks among {choice.n} items but there are "
                                 f"{len(target)} targets")
        elif len(target) > 1 and (trace is None or trace.target is None):
            choice = UniformChoice(len(target))
        setf(self, "target_choice", choice)

        if self.sizes is None:
            if trace is None or trace.size is None:
                raise _err(name, "needs sizes (bytes per message, e.g. 100, '1kb' or "
                                 "'lognormal:1kb,0.5')")
        else:
            sizes = parsed("sizes", lambda v: parse_distribution(v, kind="size"), self.sizes)
            setf(self, "sizes", sizes)
        if self.keys is not None:
            setf(self, "keys", parsed("keys", parse_choice, self.keys))

        start = parsed("start", parse_duration, self.start)
        setf(self, "start", start)
        if self.stop is not None:
            stop = parsed("stop", parse_duration, self.stop)
            if stop <= start:
                raise _err(name, f"stop ({stop!r} s) must be after start ({start!r} s)")
            setf(self, "stop", stop)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> ProducerSpec:
        """From a table of a workload file; unknown fields are errors naming the closest one."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"a producer must be a table of fields, not {spec!r}")
        name = spec.get("name", "?")
        valid = [f.name for f in fields(cls)]
        for key in spec:
            if key not in valid:
                raise _err(name, f"unknown field {key!r}{did_you_mean(key, valid)}")
        for key in ("name", "arrivals"):
            if key not in spec:
                raise _err(name, f"missing field {key!r}")
        values = dict(spec)
        values.setdefault("target", None)
        values.setdefault("sizes", None)
        return cls(**values)

    @property
    def needs_position(self) -> bool:
        """Whether a choice depends on how many messages came before (round-robin)."""
        return any(c is not None and c.sequential for c in (self.keys, self.target_choice))


@dataclass(frozen=True)
class Workload:
    """Producers and a duration: the input both models replay (see the module docstring).

    ``chunk`` is the grid on which a :class:`WorkloadFeed` draws messages (seconds); it bounds
    the messages held at once to about ``mean_rate × chunk``.
    """

    producers: tuple[ProducerSpec, ...]
    duration: float
    name: str = "workload"
    chunk: float = 0.1

    def __post_init__(self) -> None:
        producers = self.producers
        if isinstance(producers, ProducerSpec):
            producers = (producers,)
        producers = tuple(producers)
        if not producers:
            raise ValueError(f"workload {self.name!r} has no producers")
        for p in producers:
            if not isinstance(p, ProducerSpec):
                raise ValueError(f"workload {self.name!r}: {p!r} is not a ProducerSpec")
        names = [p.name for p in producers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"workload {self.name!r}: producer names repeat: {dupes}")
        object.__setattr__(self, "producers", producers)
        for label in ("duration", "chunk"):
            try:
                value = parse_duration(getattr(self, label))
            except ValueError as err:
                raise ValueError(f"workload {self.name!r}: {label}: {err}") from None
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"workload {self.name!r}: {label} must be positive and finite")
            object.__setattr__(self, label, value)
        for p in producers:
            if p.start >= self.duration:
                raise _err(p.name, f"starts at {p.start!r} s, when the workload "
                                   f"({self.duration!r} s) is already over")

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Workload:
        """From a parsed workload file (TOML table): ``name``, ``duration``, ``chunk`` and
        ``producers`` (a list of producer tables, see :meth:`ProducerSpec.from_dict`)."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"a workload must be a table of fields, not {spec!r}")
        valid = [f.name for f in fields(cls)]
        for key in spec:
            if key not in valid:
                raise ValueError(f"workload: unknown field {key!r}{did_you_mean(key, valid)}")
        if "duration" not in spec:
            raise ValueError("workload: missing field 'duration'")
        producers = spec.get("producers", ())
        if isinstance(producers, Mapping) or not isinstance(producers, Sequence):
            raise ValueError("workload: producers must be a list of producer tables")
        return cls(tuple(ProducerSpec.from_dict(p) for p in producers), spec["duration"],
                   spec.get("name", "workload"), spec.get("chunk", 0.1))

    # ------------------------------------------------------------ derived facts

    @cached_property
    def targets(self) -> tuple[str, ...]:
        """All channel/topic names, in order of first mention; ``batch.target`` indexes this."""
        return tuple(dict.fromkeys(t for p in self.producers for t in p.target))

    @cached_property
    def _target_ids(self) -> tuple[np.ndarray, ...]:
        index = {name: i for i, name in enumerate(self.targets)}
        return tuple(np.array([index[t] for t in p.target], dtype=np.int32)
                     for p in self.producers)

    @cached_property
    def _trace_target_ids(self) -> tuple[np.ndarray | None, ...]:
        index = {name: i for i, name in enumerate(self.targets)}
        out = []
        for p in self.producers:
            trace = p.arrivals
            if isinstance(trace, TraceReplay) and trace.target is not None:
                lookup = np.array([index[n] for n in trace.target_names], dtype=np.int32)
                codes = {n: i for i, n in enumerate(trace.target_names)}
                out.append(lookup[np.array([codes[n] for n in trace.target], dtype=np.int64)])
            else:
                out.append(None)
        return tuple(out)

    @property
    def producer_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.producers)

    @property
    def mean_rate(self) -> float:
        """Long-run messages per second of all producers together, while they all send."""
        return sum(p.arrivals.mean_rate for p in self.producers)

    def _active(self, p: ProducerSpec, start: float, end: float) -> tuple[float, float]:
        stop = self.duration if p.stop is None else min(p.stop, self.duration)
        return max(start, p.start), min(end, stop)

    def messages_between(self, t0: float = 0.0, t1: float | None = None) -> int:
        """How many messages are sent in ``[t0, t1)`` — exact, without drawing them.

        Only for deterministic arrivals (Constant, OnOff with constant inner rate and fixed
        durations, TraceReplay); a producer with random arrivals is an error naming it.
        """
        t1 = self.duration if t1 is None else t1
        total = 0
        for p in self.producers:
            if not p.arrivals.deterministic:
                raise _err(p.name, f"arrivals {p.arrivals!r} are random, so the number of "
                                   "messages is not known before drawing them")
            a, b = self._active(p, t0, t1)
            if b > a:
                total += p.arrivals.count(a, b, origin=p.start)
        return total

    # ------------------------------------------------------------ drawing

    def generate(self, sim: Simulation, start: float = 0.0, end: float | None = None
                 ) -> MessageBatch:
        """All messages sent in ``[start, end)`` (default: the whole run), in time order.

        Consecutive windows continue each other; round-robin choices continue exactly when the
        producer's arrivals are deterministic. For anything else use :meth:`feed`.
        """
        end = self.duration if end is None else min(end, self.duration)
        return self._draw(sim, max(start, 0.0), end, None)[0]

    def feed(self, sim: Simulation) -> WorkloadFeed:
        """The run's cursor over this workload; see :class:`WorkloadFeed`."""
        return WorkloadFeed(self, sim)

    def _draw(self, sim: Simulation, start: float, end: float, firsts: np.ndarray | None
              ) -> tuple[MessageBatch, np.ndarray]:
        counts = np.zeros(len(self.producers), dtype=np.int64)
        parts: list[tuple[np.ndarray, ...]] = []
        for i, p in enumerate(self.producers):
            a, b = self._active(p, start, end)
            if b <= a:
                continue
            prefix = f"workload/{p.name}/"
            arrivals = p.arrivals
            t = arrivals.times(sim.rng(prefix + "arrivals"), a, b, origin=p.start)
            n = len(t)
            counts[i] = n
            if n == 0:
                continue
            first = 0
            if firsts is not None:
                first = int(firsts[i])
            elif p.needs_position and a > p.start:
                if not arrivals.deterministic:
                    raise _err(p.name, "round-robin choices with random arrivals continue only "
                                       "through a feed: use workload.feed(sim)")
                first = arrivals.count(p.start, a, origin=p.start)
            rows = arrivals.window(a, b, p.start) if isinstance(arrivals, TraceReplay) else None

            if p.sizes is not None:
                sizes = p.sizes.draw(sim.rng(prefix + "sizes"), n)
                size = np.rint(sizes).astype(np.int64)
            else:
                size = np.asarray(arrivals.size[rows], dtype=np.int64)  # type: ignore[union-attr]
            if p.keys is not None:
                key = p.keys.draw(sim.rng(prefix + "keys"), n, first)
            elif rows is not None and arrivals.key is not None:  # type: ignore[union-attr]
                key = np.asarray(arrivals.key[rows], dtype=np.int64)  # type: ignore[union-attr]
            else:
                key = np.full(n, -1, dtype=np.int64)
            ids = self._target_ids[i]
            if rows is not None and self._trace_target_ids[i] is not None:
                target = self._trace_target_ids[i][rows]  # type: ignore[index]
            elif p.target_choice is None:
                target = np.full(n, ids[0], dtype=np.int32)
            else:
                target = ids[p.target_choice.draw(sim.rng(prefix + "targets"), n, first)]
            parts.append((t, np.full(n, i, dtype=np.int32), target, size, key))
        if not parts:
            return MessageBatch.empty(), counts
        if len(parts) == 1:
            return MessageBatch(*parts[0]), counts
        columns = [np.concatenate(col) for col in zip(*parts, strict=True)]
        order = np.argsort(columns[0], kind="stable")
        return MessageBatch(*(c[order] for c in columns)), counts


class WorkloadFeed:
    """A run's cursor over a workload: ``take(until)`` returns the messages not yet taken that
    are sent before ``until``.

    Messages are drawn on the fixed grid ``[k·chunk, (k+1)·chunk)`` whatever windows are asked
    for, so two models — or two runs of one model slicing time differently — get identical
    messages from the same seed. This is runtime state (one per run), kept apart from the
    frozen :class:`Workload`.
    """

    def __init__(self, workload: Workload, sim: Simulation) -> None:
        self.workload = workload
        self.sim = sim
        self.time = 0.0
        self._cell = 0
        self._drawn_to = 0.0
        self._buffer = MessageBatch.empty()
        self._sent = np.zeros(len(workload.producers), dtype=np.int64)

    @property
    def exhausted(self) -> bool:
        """Every message of the workload has been taken."""
        return self._drawn_to >= self.workload.duration and not len(self._buffer)

    def _draw_cell(self) -> None:
        w = self.workload
        start = self._cell * w.chunk
        end = min((self._cell + 1) * w.chunk, w.duration)
        batch, counts = w._draw(self.sim, start, end, self._sent)
        self._sent += counts
        self._cell += 1
        self._drawn_to = end
        self._buffer = MessageBatch.concatenate((self._buffer, batch))

    def take(self, until: float) -> MessageBatch:
        """Messages sent in ``[self.time, until)``; afterwards ``self.time == until``."""
        if until < self.time:
            raise ValueError(f"the feed is at t={self.time!r}; it cannot go back to {until!r}")
        while self._drawn_to < min(until, self.workload.duration):
            self._draw_cell()
        buffer = self._buffer
        cut = int(np.searchsorted(buffer.t, until, side="left"))
        self._buffer = buffer[cut:]
        self.time = until
        return buffer[:cut]

    def next_time(self) -> float | None:
        """When the next message not yet taken is sent, or ``None`` if there is none."""
        while not len(self._buffer) and self._drawn_to < self.workload.duration:
            self._draw_cell()
        return float(self._buffer.t[0]) if len(self._buffer) else None

    def __iter__(self) -> Iterator[MessageBatch]:
        """The rest of the workload, one grid cell at a time."""
        while not self.exhausted:
            if self._drawn_to <= self.time:
                self._draw_cell()
            yield self.take(max(self._drawn_to, self.time))


# ---------------------------------------------------------------- one-liners


def _builder(kind: str, rate: float, duration: Any, target: str | Sequence[str], size: Any,
             keys: Any, producers: int, name: str | None) -> Workload:
    if isinstance(producers, bool) or not isinstance(producers, int) or producers < 1:
        raise ValueError(f"producers must be a positive integer, not {producers!r}")
    if kind == "constant":
        total = Constant(rate).rate
        procs = [Constant(total / producers, offset=i / total if total else 0.0)
                 for i in range(producers)]
    else:
        total = Poisson(rate).rate
        procs = [Poisson(total / producers) for _ in range(producers)]
    specs = tuple(ProducerSpec(f"p{i}", target if isinstance(target, str) else tuple(target),
                               proc, size, keys) for i, proc in enumerate(procs))
    return Workload(specs, duration, name or f"{kind} {total:g}/s")


def constant_rate(rate: float, duration: Any, target: str | Sequence[str] = "events",
                  size: Any = 100, keys: Any = None, producers: int = 1,
                  name: str | None = None) -> Workload:
    """``rate`` messages per second in total, evenly paced, split over ``producers`` producers
    staggered so that together they send exactly every ``1/rate`` seconds."""
    return _builder("constant", rate, duration, target, size, keys, producers, name)


def poisson(rate: float, duration: Any, target: str | Sequence[str] = "events",
            size: Any = 100, keys: Any = None, producers: int = 1,
            name: str | None = None) -> Workload:
    """``rate`` messages per second in total as Poisson arrivals, split over ``producers``."""
    return _builder("poisson", rate, duration, target, size, keys, producers, name)
