"""The run: a simpy environment, a root seed with named random streams, and the trace."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import simpy

from sim.trace import Trace

YOUNG_COLLECTION_EVERY = 20_000  # allocations between collections of the youngest generation


@contextmanager
def _young_collections_rarer() -> Iterator[None]:
    """While a run goes on, collect the youngest generation after ``YOUNG_COLLECTION_EVERY``
    net allocations instead of CPython's 700 (``gc.set_threshold``), then restore the settings.

    A run allocates tens of millions of short-lived tuples and events that reference counting
    frees; with the default threshold the cycle collector walks them about every 700
    allocations, which cost a sixth of the wall time of ``python -m experiments bench
    kafka-groups``. Cyclic garbage is still collected, only in larger batches. Nothing is
    changed when collection is off or its threshold is already higher (a nested run)."""
    old = gc.get_threshold()
    if not gc.isenabled() or old[0] == 0 or old[0] >= YOUNG_COLLECTION_EVERY:
        yield
        return
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


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
        """Advance simulated time to ``until`` (seconds), or until nothing is scheduled.

        The cycle collector runs less often meanwhile (``_young_collections_rarer``)."""
        with _young_collections_rarer():
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
