"""Fault schedules: what breaks, when, and to whom — attached to any run, traced like the rest.

A :class:`FaultSchedule` is inert data: a sorted tuple of :class:`Fault` (time, action, target,
parameters). :meth:`FaultSchedule.attach` arms it on a :class:`~sim.simulation.Simulation`: at
each fault's time the schedule records a ``fault`` event in the trace and hands the fault to the
model that owns the target (any object with ``apply_fault(fault)`` and a ``fault_targets()``
set of party names). The engine knows no broker: what "crash" means for a Redis server or a
Kafka broker is the model's business, and a model that cannot do an action says so with a
clear error before the run.

Actions (targets are party names — a server, a broker, a client — or, for network faults, a
pair of parties):

========== =================================================================================
crash      the process dies: its connections close and, for a server, what it held in memory
           is gone; it stays down until ``restart``
restart    a crashed process comes back (for a server: empty, as after a reboot)
disconnect a client's connection is closed; it may reconnect on its own, as clients do
reconnect  a disconnected client connects again
cut        the network between two parties stops carrying bytes (``direction``: ``"both"``,
           or ``"one-way"`` from the first party to the second); TCP keeps the bytes and
           retransmits after ``heal``, unless a timeout closes the connection first
heal       the cut ends
latency    add ``extra`` seconds of one-way delay on the link between two parties (0 removes)
loss       drop a fraction ``p`` of packets on a link (TCP turns it into retransmission delay)
pause      the process stops for ``duration`` seconds (a GC pause, a slow disk) and resumes
========== =================================================================================

Random schedules draw from the run's own named stream (``sim.rng("faults/...")``), so the same
seed and schedule parameters give the same faults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from sim.simulation import Simulation
from sim.units import parse_duration

ACTIONS: tuple[str, ...] = (
    "crash", "restart", "disconnect", "reconnect", "cut", "heal", "latency", "loss", "pause",
)
_LINK_ACTIONS = frozenset({"cut", "heal", "latency", "loss"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: ``action`` happens to ``target`` at simulated time ``t`` (seconds).

    ``target`` is a party name, or a ``(a, b)`` pair for the link actions (cut, heal, latency,
    loss). ``params`` holds the action's settings (``duration`` for pause, ``extra`` for
    latency, ``p`` for loss, ``direction`` for cut).
    """

    t: float
    action: str
    target: str | tuple[str, str]
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", parse_duration(self.t))
        if self.action not in ACTIONS:
            import difflib

            close = difflib.get_close_matches(str(self.action), ACTIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown fault action {self.action!r}{hint} (known: {ACTIONS})")
        if self.action in _LINK_ACTIONS:
            if not (isinstance(self.target, tuple) and len(self.target) == 2):
                raise ValueError(f"fault {self.action!r} needs a pair of parties as target, "
                                 f"e.g. ('redis', 'subscriber-1'); got {self.target!r}")
        elif not isinstance(self.target, str) or not self.target:
            raise ValueError(f"fault {self.action!r} needs a party name as target, "
                             f"not {self.target!r}")
        params = dict(self.params)
        if self.action == "pause":
            params["duration"] = parse_duration(params.get("duration", 1.0))
        if self.action == "latency":
            params["extra"] = parse_duration(params.get("extra", 0.0))
        if self.action == "loss":
            p = float(params.get("p", 0.0))
            if not 0.0 <= p < 1.0:
                raise ValueError(f"fault 'loss' needs 0 <= p < 1, got {p!r}")
            params["p"] = p
        if self.action == "cut":
            direction = params.get("direction", "both")
            if direction not in ("both", "one-way"):
                raise ValueError(f"fault 'cut' direction must be 'both' or 'one-way', "
                                 f"not {direction!r}")
            params["direction"] = direction
        object.__setattr__(self, "params", MappingProxyType(params))

    @property
    def parties(self) -> tuple[str, ...]:
        return self.target if isinstance(self.target, tuple) else (self.target,)

    def describe(self) -> str:
        """A short sentence for reports and shrunk counterexamples."""
        who = " <-> ".join(self.parties) if isinstance(self.target, tuple) else self.target
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"t={self.t:g}s {self.action} {who}" + (f" ({extra})" if extra else "")


class FaultTarget(Protocol):
    """What a model implements to take faults."""

    def fault_targets(self) -> set[str]: ...

    def apply_fault(self, fault: Fault) -> None: ...


@dataclass(frozen=True)
class FaultSchedule:
    """Faults sorted by time. Inert: the same schedule can be attached to many runs."""

    faults: tuple[Fault, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", tuple(sorted(self.faults, key=lambda f: f.t)))

    def __iter__(self):
        return iter(self.faults)

    def __len__(self) -> int:
        return len(self.faults)

    def __add__(self, other: FaultSchedule) -> FaultSchedule:
        return FaultSchedule(self.faults + other.faults)

    def describe(self) -> list[str]:
        return [f.describe() for f in self.faults]

    def attach(self, sim: Simulation, *models: FaultTarget) -> None:
        """Arm the schedule: each fault goes to the model that owns its first party.

        Raises ``ValueError`` before the run if a target belongs to no model.
        """
        owners: dict[str, FaultTarget] = {}
        for model in models:
            for name in model.fault_targets():
                owners[name] = model
        for fault in self.faults:
            for party in fault.parties:
                if party not in owners:
                    raise ValueError(f"fault {fault.describe()!r}: no model has a party called "
                                     f"{party!r} (known: {sorted(owners)})")
        for fault in self.faults:
            sim.call_at(fault.t, _fire, sim, owners[fault.parties[0]], fault)

    # ------------------------------------------------------------------ builders
    @classmethod
    def outage(cls, target: str, at: float, duration: float, kind: str = "crash"
               ) -> FaultSchedule:
        """``target`` goes down at ``at`` for ``duration`` seconds (crash/restart or
        disconnect/reconnect, by ``kind``)."""
        back = {"crash": "restart", "disconnect": "reconnect"}[kind]
        at, duration = parse_duration(at), parse_duration(duration)
        return cls((Fault(at, kind, target), Fault(at + duration, back, target)))

    @classmethod
    def partition(cls, a: str, b: str, at: float, duration: float, direction: str = "both"
                  ) -> FaultSchedule:
        """The network between ``a`` and ``b`` is cut at ``at`` and heals ``duration`` later."""
        at, duration = parse_duration(at), parse_duration(duration)
        return cls((Fault(at, "cut", (a, b), {"direction": direction}),
                    Fault(at + duration, "heal", (a, b))))

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        targets: Sequence[str],
        rate: float,
        duration: float,
        downtime: float | tuple[float, float] = 1.0,
        kinds: Sequence[str] = ("crash",),
        start: float = 0.0,
    ) -> FaultSchedule:
        """Outages at Poisson times (``rate`` per second over ``duration``), each to a target
        chosen uniformly, lasting ``downtime`` seconds (or uniform in a ``(lo, hi)`` range).
        Outages of one target never overlap. Pass ``sim.rng("faults")`` for reproducibility."""
        if rate < 0:
            raise ValueError("fault rate must be >= 0")
        duration = parse_duration(duration)
        n = int(rng.poisson(rate * duration))
        times = np.sort(rng.uniform(start, start + duration, n))
        faults: list[Fault] = []
        busy_until = dict.fromkeys(targets, -np.inf)
        for t in times.tolist():
            target = targets[int(rng.integers(len(targets)))]
            kind = kinds[int(rng.integers(len(kinds)))]
            lo, hi = downtime if isinstance(downtime, tuple) else (downtime, downtime)
            down = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
            if t < busy_until[target]:
                continue
            busy_until[target] = t + down
            faults.extend(cls.outage(target, t, down, kind).faults)
        return cls(tuple(faults))


def _fire(sim: Simulation, owner: FaultTarget, fault: Fault) -> None:
    sim.trace.event(sim.now, "fault", " <-> ".join(fault.parties), action=fault.action,
                    **dict(fault.params))
    owner.apply_fault(fault)


def schedule_from(faults: Iterable[Fault | Mapping[str, Any]]) -> FaultSchedule:
    """Build a schedule from faults or plain dicts (``{"t": 5, "action": "crash",
    "target": "redis"}``), e.g. read from a workload file."""
    out = []
    for f in faults:
        if isinstance(f, Fault):
            out.append(f)
        else:
            spec = dict(f)
            target = spec.pop("target")
            if isinstance(target, list):
                target = tuple(target)
            out.append(Fault(spec.pop("t"), spec.pop("action"), target, spec))
    return FaultSchedule(tuple(out))
