"""Shared Hypothesis strategies: channel and pattern alphabets, and small clean Redis runs.

The alphabets are deliberately tiny and full of glob-special bytes (``*``, ``?``, ``[``, ``\\``,
the empty channel) so that shrunk counterexamples stay readable and Redis's ``stringmatchlen``
corner cases (``*`` does not match ``""``; ``[^a]``; an unclosed ``[``) are hit often.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.trace import Trace

CHANNELS: tuple[bytes, ...] = (b"a", b"b", b"a.b", b"*", b"?", b"")
PATTERNS: tuple[bytes, ...] = (b"*", b"a*", b"?", b"a.?", b"[ab]", b"\\*", b"[^a]*", b"a[", b"*b")
LIMITS: tuple[str, ...] = ("pubsub 32mb 8mb 60", "pubsub 8kb 4kb 1", "pubsub 0 0 0")

channels = st.sampled_from(CHANNELS)
patterns = st.sampled_from(PATTERNS)
channel_lists = st.lists(channels, min_size=1, max_size=2)
pattern_lists = st.lists(patterns, min_size=1, max_size=2)
service_times = st.sampled_from((0.0, 0.0005, 0.002, 0.01))
seeds = st.integers(min_value=0, max_value=2**16)


@dataclass(frozen=True)
class RedisRun:
    """A small finished Redis run: its trace and how it was made (for a readable repr)."""

    trace: Trace
    story: str

    def __repr__(self) -> str:
        return f"RedisRun({self.story})"


@st.composite
def clean_redis_runs(draw: st.DrawFn, min_deliveries: int = 4) -> RedisRun:
    """A drained run with no fault: subscribers on channels and patterns, a few bursts of
    publishes. Every owed copy is delivered exactly once, so it is a clean history."""
    seed = draw(seeds)
    sim = Simulation(seed=seed)
    server = RedisPubSub(sim)
    n_subs = draw(st.integers(1, 3))
    story = [f"seed={seed}"]
    for i in range(n_subs):
        chans = draw(st.lists(channels, max_size=2, unique=True))
        pats = draw(st.lists(patterns, max_size=2, unique=True))
        if not chans and not pats:
            chans = [b"a"]
        Subscriber(server, f"s{i}", chans, pats, service=draw(service_times),
                   reconnect_delay=None)
        story.append(f"s{i} on {chans + pats}")
    sim.run(until=0.01)
    t = 0.01
    for _ in range(draw(st.integers(1, 4))):
        channel = draw(st.sampled_from((b"a", b"b", b"a.b", b"*")))
        n = draw(st.integers(1, 6))
        times = t + np.arange(n) * 1e-3
        server.feed(times, [channel] * n, 64)
        story.append(f"{n}×{channel!r}")
        t = float(times[-1]) + 1e-3
    sim.run(until=t + 5)
    trace = sim.trace
    if len(trace.delivered) < min_deliveries:
        # make sure there is something to mutate: a guaranteed subscriber and burst
        c = server.connect("extra", keep_frames=False)
        c.execute("SUBSCRIBE", "a")
        sim.run(until=sim.now + 0.01)
        server.feed(sim.now + np.arange(min_deliveries) * 1e-3, [b"a"] * min_deliveries, 64)
        sim.run(until=sim.now + 5)
        story.append(f"extra on a, {min_deliveries}×b'a'")
    return RedisRun(trace, ", ".join(story))


# --- Kafka: small alphabets for the log property suite ------------------------------------------
# Keys from a tiny alphabet (and the null key), so that the same key recurs, compaction has work
# and the sticky partitioner is exercised; sizes that fill the tiny test segments in a few sends.

KAFKA_KEYS: tuple[bytes | None, ...] = (None, b"a", b"b", b"c", b"d")
KAFKA_GROUPS: tuple[str, ...] = ("alo", "amo", "auto")  # after their commit discipline

kafka_keys = st.sampled_from(KAFKA_KEYS)
kafka_value_sizes = st.sampled_from((20, 40, 60))
kafka_processing = st.sampled_from((0.0, 0.002, 0.02, 0.1))  # seconds per record
kafka_crash_delays = st.lists(st.sampled_from((0.01, 0.3, 1.0, 2.5)), max_size=2)
kafka_restart_after = st.sampled_from((None, 0.5, 2.0))
kafka_strategies = st.sampled_from(("range", "cooperative-sticky", "roundrobin"))
