"""The run: a simpy environment, a root seed with named random streams, and the trace."""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from sim.trace import Trace


def _stream_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


class Simulation:
    """One simulated run.

    ``Simulation(seed=7)`` owns ``env`` (a ``simpy.Environment``; time in seconds), the trace, and
    one independent random stream per name (``sim.rng("arrivals/p0")``), each spawned from the
    root seed with ``numpy.random.SeedSequence``. Changing one stream's use does not shift any
    other, so two models fed from the same names see identical workloads (common random numbers),
    and the same seed and inputs give a bit-identical trace.
    """

    def __init__(self, seed: int = 0, trace: bool = True) -> None:
        if not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
        self.seed = int(seed)
        self.env = simpy.Environment()
        self.trace = Trace(enabled=trace)
        self._streams: dict[str, np.random.Generator] = {}
        self._sync_hooks: list = []

    @property
    def now(self) -> float:
        return float(self.env.now)

    def run(self, until: float | None = None) -> None:
        """Advance simulated time to ``until`` (seconds), or until nothing is scheduled."""
        if until is None or until > self.env.now:
            self.env.run(until=until)
        self.sync()

    def on_sync(self, hook) -> None:
        """Register ``hook()``: models that move messages in batches settle them up to ``now``."""
        self._sync_hooks.append(hook)

    def sync(self) -> None:
        """Bring every batched model up to date with ``now`` (``run`` does this when it returns)."""
        for hook in self._sync_hooks:
            hook()

    def rng(self, name: str) -> np.random.Generator:
        """The random stream called ``name`` (created on first use, then the same object)."""
        stream = self._streams.get(name)
        if stream is None:
            seq = np.random.SeedSequence(entropy=self.seed, spawn_key=(_stream_key(name),))
            stream = self._streams[name] = np.random.Generator(np.random.PCG64(seq))
        return stream

    def process(self, generator: Generator[simpy.Event, Any, Any]) -> simpy.Process:
        return self.env.process(generator)

    def timeout(self, delay: float, value: Any = None) -> simpy.Timeout:
        return self.env.timeout(delay, value)

    def call_at(self, t: float, callback, *args: Any) -> simpy.Event:
        """Run ``callback(*args)`` at simulated time ``t`` (at once if ``t`` is not ahead)."""
        event = self.env.timeout(max(0.0, t - self.env.now))
        event.callbacks.append(lambda _e: callback(*args))
        return event
