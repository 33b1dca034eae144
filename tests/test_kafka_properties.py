"""Properties of the Kafka model, explored by a Hypothesis state machine.

``KafkaMachine`` drives one simulated cluster through random stories: a producer sends bursts
of records (keys from a tiny alphabet, null keys, tombstones, timestamps in the past) to a
``delete`` topic ``events`` (3 partitions, tiny ``segment.bytes``, ``segment.ms`` and
``retention.ms``) and a compacted topic ``state`` (2 partitions, 150-byte segments); consumer
groups built from ``models.kafka.loops`` join and leave — ``alo`` commits after processing,
``amo`` before, ``auto`` with ``enable.auto.commit`` — each member with its own crash
schedule and restart delay; a manually assigned ``reader`` polls, seeks back, commits; time
passes; the retention task and the log cleaner run when a rule says so.

After every step (checking.md §7.B, kafka.md §8):

- offsets are dense and increasing per partition (gaps only by compaction), the log start, the
  high watermark (never going back) and the log end are in order — W1, §8.1;
- no fetch is served a record at or above the high watermark of that moment (the broker's
  read is watched), no consumer's position is past the high watermark, and no ``poll()`` of
  the reader returns a record at or above it — L13/W8, §8.2;
- among a group's current members no partition has two owners — L12/W9, §8.12;
- a retention pass removes a prefix of whole segments, below the high watermark, each one
  expired by ``retention.ms`` or over ``retention.bytes``, and leaves no expired segment at the
  head — §8.5;
- a cleaner pass keeps the latest record of every key (only a tombstone may go), removes
  nothing at or above the first uncleanable offset, never changes an offset — §8.7.

At the end the run is drained (until every group with a live member has read up to every high
watermark, then 10 s more to finish the batches in hand) and:

- the black-box checker (``sim.checker.check_log``) finds no error-class anomaly and every
  record a group was owed is delivered or dropped with a reason (conservation);
- commit after processing (``alo``, ``auto``) ⇒ at-least-once: nothing lost but to the broker
  (retention, compaction), and a group with a live member has processed every record still in
  the log; commit before processing (``amo``) ⇒ at-most-once: nothing processed twice — K-P3;
- a committed offset means consumed: every record below a group's committed offset was
  processed by the group, lost by it with a cause, or deleted by the broker — L11;
- no delivery was of a record at or above the high watermark when it was delivered;
- every partition's append history is dense from 0, every send was answered (acknowledged
  or failed: the producer is not stuck), and each acknowledgement names the offset where its
  record was appended; the same key always went to the same partition,
  ``(murmur2(key) & 0x7fffffff) % partitions`` (kafka-python's murmur2) — §8.8;
- determinism: the same seed and steps give an identical trace (Sim-P1).

A failing example prints as the steps Hypothesis shrank it to (``state.produce(...)``), then a
story of what happened in simulated time (steps and the model's own events: crashes, restarts,
rebalances, offset resets), then the checker's explanation.

The machine runs more examples than the ``fast`` profile's default (each is cheap); under
``--hypothesis-profile=thorough`` it takes that profile's counts. The model bugs it found are
kept as minimal stories at the end of this file (each failed before its fix).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import simpy
from hypothesis import event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from kafka.partitioner.default import murmur2 as reference_murmur2

from models.kafka.cluster import KafkaCluster
from models.kafka.consumer import TopicPartition
from models.kafka.errors import KafkaError
from models.kafka.loops import ConsumerLoop, process_then_commit
from sim import Simulation
from sim.checker import assert_conserved, check_log
from sim.trace import DROP_REASONS
from tests.kafka_stories import STALE_GENERATION_RECORDS, stale_generation_story
from tests.strategies import (
    KAFKA_GROUPS,
    kafka_crash_delays,
    kafka_keys,
    kafka_processing,
    kafka_restart_after,
    kafka_strategies,
    kafka_value_sizes,
    seeds,
)
from tests.trace_helpers import traces_equal

EVENTS, STATE = "events", "state"
TOPICS = {EVENTS: 3, STATE: 2}
ALL_TPS = tuple(TopicPartition(t, i) for t, n in TOPICS.items() for i in range(n))
MODES = {"alo": "process_then_commit", "amo": "commit_before_process", "auto": "auto_commit"}
MAX_MEMBERS = 3
DRAIN_LIMIT = 60.0  # simulated seconds a drain may take before it counts as stuck


@dataclass(frozen=True)
class Settings:
    """What one story's cluster looks like (drawn once, at the start)."""

    brokers: int
    latency: float  # one-way client-broker latency; with 3 brokers the HW lags 2 x latency
    segment_bytes: int
    retention_ms: int
    retention_bytes: int
    linger_ms: int
    strategy: str
    max_poll_records: int
    max_poll_interval_ms: int

    def __str__(self) -> str:
        return (f"{self.brokers} broker(s), {self.latency * 1e3:g} ms away; "
                f"{EVENTS}: segment.bytes={self.segment_bytes}, "
                f"retention.ms={self.retention_ms}, retention.bytes={self.retention_bytes}; "
                f"linger.ms={self.linger_ms}; groups: {self.strategy}, "
                f"max.poll.records={self.max_poll_records}, "
                f"max.poll.interval.ms={self.max_poll_interval_ms}")


settings_strategy = st.builds(
    Settings, brokers=st.sampled_from((1, 3)), latency=st.sampled_from((0.0005, 0.005)),
    segment_bytes=st.sampled_from((150, 400)),
    retention_ms=st.sampled_from((200, 2000)), retention_bytes=st.sampled_from((-1, 500)),
    linger_ms=st.sampled_from((0, 5)), strategy=kafka_strategies,
    max_poll_records=st.sampled_from((1, 5, 20)),
    max_poll_interval_ms=st.sampled_from((300_000, 1500)))


@dataclass
class Send:
    event: simpy.Event
    topic: str
    key: bytes | None
    tombstone: bool


@dataclass
class World:
    """One simulated cluster and its clients, driven by replayable operations."""

    seed: int
    settings: Settings
    ops: list[tuple] = field(default_factory=list)
    lines: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        cfg = self.settings
        self.sim = s = Simulation(seed=self.seed)
        self.cluster = k = KafkaCluster(s, brokers=cfg.brokers, latency=cfg.latency, config={
            "group.initial.rebalance.delay.ms": 0, "log.initial.task.delay.ms": 10**9,
            "log.retention.check.interval.ms": 10**9, "log.cleaner.enable": False})
        rf = min(3, cfg.brokers)
        k.create_topic(EVENTS, partitions=TOPICS[EVENTS], replication_factor=rf, config={
            "segment.bytes": cfg.segment_bytes, "segment.ms": 1000,
            "retention.ms": cfg.retention_ms, "retention.bytes": cfg.retention_bytes})
        k.create_topic(STATE, partitions=TOPICS[STATE], replication_factor=rf, config={
            "cleanup.policy": "compact", "segment.bytes": 150,
            "min.cleanable.dirty.ratio": 0.01, "delete.retention.ms": 1000})
        self.producer = k.producer({"acks": "all", "linger.ms": cfg.linger_ms})
        self.sends: list[Send] = []
        self.loops: dict[str, list[ConsumerLoop]] = {g: [] for g in KAFKA_GROUPS}
        self.crash_times: list[float] = []
        self.reader = k.consumer({"group.id": "reader", "client.id": "reader",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                  "max.poll.records": 7})
        self.last_poll: list[tuple[TopicPartition, np.ndarray, int]] = []
        self.hw_history: dict[TopicPartition, list[tuple[float, int]]] = {}
        self.served_past_hw: list[str] = []
        for tp in ALL_TPS:
            self.hw_history[tp] = [(0.0, 0)]
            s.process(self._watch_hw(tp))
            part = k.partition(*tp)
            part.read = self._served(part, part.read)

    def _served(self, part, read):
        """The broker's read for fetches, watched (checking.md L13: a fetch is served only
        below the high watermark of the moment it is served)."""
        def serve(offset, max_bytes=1 << 20, max_records=None):
            batch = read(offset, max_bytes, max_records)
            if len(batch.offset) and int(batch.offset[-1]) >= part.high_watermark:
                self.served_past_hw.append(
                    f"t={self.sim.now:.4f} s: a fetch of {part.topic}-{part.index} was served "
                    f"offsets up to {int(batch.offset[-1])} with the high watermark at "
                    f"{part.high_watermark}")
            return batch
        return serve

    def _watch_hw(self, tp: TopicPartition):
        part = self.cluster.partition(*tp)
        while True:
            yield part.wait_for_data()
            # the HW now, not the event's value: it may have moved again at this instant
            self.hw_history[tp].append((self.sim.now, part.high_watermark))

    def do(self, op: str, *args: object):
        self.ops.append((op, *args))
        return getattr(self, op)(*args)

    def say(self, text: str) -> None:
        self.lines.append((self.sim.now, text))

    def story(self) -> str:
        """What happened: the steps, and the model's own events, in simulated time."""
        shown = {"crash", "restart", "member-removed", "generation", "offset-reset"}
        rows = list(self.lines)
        for e in self.sim.trace.events:
            if e.kind not in shown:
                continue
            if e.kind == "generation":
                who = {m.split("-")[0] + "-" + m.split("-")[1]: [f"{t}-{p}" for t, p in tps]
                       for m, tps in e.detail["assignment"].items()}
                rows.append((e.t, f"  [{e.who} generation {e.detail['generation']}: {who}]"))
            elif e.kind == "member-removed":
                rows.append((e.t, f"  [{e.who} removes a member: {e.detail['reason']}]"))
            elif e.kind == "offset-reset":
                tp = e.detail["partition"]
                rows.append((e.t, f"  [{e.who} {tp.topic}-{tp.partition}: offset "
                                  f"{e.detail['old']} gone, reset to {e.detail['new']}]"))
            else:
                rows.append((e.t, f"  [{e.who} {e.kind}]"))
        rows.sort(key=lambda r: r[0])
        return (f"Story (seed={self.seed}; {self.settings}):\n  "
                + "\n  ".join(f"t={t:8.3f} s  {text}" for t, text in rows))

    # -- operations -----------------------------------------------------------------------
    def produce(self, topic: str, key: bytes | None, n: int, size: int, tombstone: bool,
                gap: float = 0.0, backdate: float = 0.0) -> None:
        """``n`` sends, ``gap`` seconds apart (0: at once, so they may share a batch), with
        record timestamps ``backdate`` seconds in the past (CreateTime set by the producer)."""
        what = "tombstone" if tombstone else f"{size} B"
        apart = f", {gap * 1e3:g} ms apart" if gap else ""
        old = f", timestamped {backdate:g} s ago" if backdate else ""
        self.say(f"send {n} × {topic} key={key!r} ({what}){apart}{old}")
        for i in range(n):
            if i and gap:
                self.sim.run(until=self.sim.now + gap)
            value = None if tombstone else b"x" * size
            stamp = self.sim.now - backdate if backdate else None
            self.sends.append(Send(self.producer.send(topic, value=value, key=key,
                                                      timestamp=stamp), topic, key, tombstone))

    def advance(self, dt: float) -> None:
        self.sim.run(until=self.sim.now + dt)
        self.say(f"(time passes: {dt:g} s)")

    def history(self, n: int) -> None:
        """``n`` records to each topic, 10 ms apart, keys a, b, c, d, (None for events)."""
        self.say(f"history: {n} records to each topic, 10 ms apart")
        lines = len(self.lines)
        keys = [b"a", b"b", b"c", b"d"]
        for i in range(n):
            self.produce(EVENTS, ([*keys, None])[i % 5], 1, 40, False)
            self.produce(STATE, keys[i % 4], 1, 40, False)
            self.sim.run(until=self.sim.now + 0.01)
        del self.lines[lines:]

    def join(self, group: str, processing: float, crash_delays: list[float],
             restart_after: float | None) -> None:
        cfg = self.settings
        i = len(self.loops[group])
        crash_at = [self.sim.now + d for d in crash_delays]
        loop = ConsumerLoop(self.cluster, {
            "group.id": group, "client.id": f"{group}-{i}", "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
            "max.poll.records": cfg.max_poll_records, "auto.commit.interval.ms": 500,
            "max.poll.interval.ms": cfg.max_poll_interval_ms,
            "partition.assignment.strategy": [cfg.strategy]},
            list(TOPICS), MODES[group], processing=processing, poll_timeout_ms=500,
            crash_at=crash_at, restart_after=restart_after)
        self.loops[group].append(loop)
        if crash_at:
            self.crash_times.append(max(crash_at) + (restart_after or 0.0))
        crashes = ", ".join(f"t={t:.3f}" for t in crash_at) or "never"
        again = "" if restart_after is None else f", restarting {restart_after:g} s later"
        self.say(f"{group}-{i} joins ({MODES[group]}, {processing * 1e3:g} ms a record; "
                 f"crashes: {crashes}{again})")

    def leave(self, group: str, i: int) -> None:
        loop = self.loops[group][i]
        if loop.process.is_alive:
            loop.stop()
            self.say(f"{group}-{i} is asked to stop")

    def retention(self) -> None:
        deleted = self.cluster.cleanup_logs()
        self.say(f"retention check: {deleted} record(s) deleted")

    def compact(self) -> int:
        passes = 0
        while self.cluster.clean_filthiest():
            passes += 1
        self.say(f"log cleaner: {passes} pass(es)")
        return passes

    def reader_assign(self, picks: tuple[int, ...]) -> None:
        tps = [ALL_TPS[i] for i in picks]
        self.reader.assign(tps)
        self.say(f"reader assigns {[f'{t}-{p}' for t, p in tps]}")

    def reader_poll(self, timeout_ms: int) -> None:
        got: list = []

        def run():
            records = yield self.reader.poll(timeout_ms=timeout_ms)
            now_hw = {tp: self.cluster.partition(*tp).high_watermark for tp in records}
            got.extend((tp, np.array(r.offset), now_hw[tp]) for tp, r in records.items())
        self.sim.env.run(until=self.sim.process(run()))
        self.sim.sync()
        self.last_poll = got
        n = sum(len(o) for _, o, _ in got)
        parts = ", ".join(f"{tp.topic}-{tp.partition} {o[0]}..{o[-1]}" for tp, o, _ in got)
        self.say(f"reader polls ({timeout_ms} ms): {n} record(s) {parts}".rstrip())

    def reader_seek(self, pick: int, where: str) -> None:
        tp = ALL_TPS[pick]
        if tp not in self.reader.assignment() or self.reader.position(tp) is None:
            return
        pos = self.reader.position(tp)
        if where == "beginning":
            self.reader.seek_to_beginning(tp)
        elif where == "back":
            self.reader.seek(tp, max(0, pos - 3))
        else:
            committed = self.reader.committed(tp)
            if committed is None or committed > pos:
                return
            self.reader.seek(tp, committed)
        self.say(f"reader seeks {tp.topic}-{tp.partition} from {pos} to "
                 f"{self.reader.position(tp)} ({where})")

    def reader_commit(self) -> None:
        if not self.reader.assignment():
            return
        self.reader.commit().defused = True
        self.say("reader commits its positions")

    # -- the end ------------------------------------------------------------------------------
    def live(self, group: str) -> list[ConsumerLoop]:
        return [loop for loop in self.loops[group] if loop.process.is_alive]

    def behind(self) -> list[str]:
        """The groups with a live member that have not yet read up to every high watermark."""
        out = []
        pending = self.crash_times and self.sim.now < max(self.crash_times) + 1.0
        for group in KAFKA_GROUPS:
            live = self.live(group)
            if not live:
                continue
            g = self.cluster.coordinator.groups[group]
            covered: set[TopicPartition] = set()
            for loop in live:
                c = loop.consumer
                if c is None or c.closed or c.member_id not in g.members:
                    continue
                for tp in c.assignment():
                    pos = c.position(tp)
                    if pos is not None and pos >= self.cluster.partition(*tp).high_watermark:
                        covered.add(tp)
            if pending or g.state != "Stable" or covered != set(ALL_TPS):
                out.append(group)
        return out

    def drain(self) -> list[str]:
        """Run until every group with a live member has read everything, then 10 s more (to
        finish the records in hand). Returns the groups still behind after ``DRAIN_LIMIT``."""
        self.sim.run(until=self.sim.now + 1.0)
        start = self.sim.now
        while self.behind() and self.sim.now - start < DRAIN_LIMIT:
            self.sim.run(until=self.sim.now + 5.0)
        self.sim.run(until=self.sim.now + 10.0)
        return self.behind()


def replay(seed: int, settings: Settings, ops: list[tuple]) -> World:
    world = World(seed, settings)
    for op, *args in ops:
        world.do(op, *args)
    world.drain()
    return world


def same_trace(a: World, b: World) -> bool:
    return traces_equal(a.sim.trace, b.sim.trace)


def hw_at(history: list[tuple[float, int]], t: np.ndarray) -> np.ndarray:
    """The high watermark in force at each time ``t`` (changes at ``t`` included)."""
    times = np.array([h[0] for h in history])
    values = np.array([h[1] for h in history])
    return values[np.searchsorted(times, t, side="right") - 1]


class KafkaMachine(RuleBasedStateMachine):
    """Random stories against the Kafka model; see the module docstring for the properties."""

    def __init__(self) -> None:
        super().__init__()
        self.world: World | None = None
        self.hw_seen: dict[TopicPartition, int] = {}
        self.failed = False

    @initialize(seed=seeds, settings=settings_strategy, backlog=st.sampled_from((0, 12, 40)))
    def start(self, seed: int, settings: Settings, backlog: int) -> None:
        """A new cluster, with ``backlog`` records already sent to each topic (keys in turn,
        10 ms apart: segments have rolled before the story starts)."""
        self.seed, self.settings = seed, settings
        self.world = World(seed, settings)
        if backlog:
            self.do("history", backlog)

    def do(self, op: str, *args: object):
        return self.world.do(op, *args)

    def fail(self, message: str) -> None:
        self.failed = True  # the teardown (drain, checker, replay) has nothing to add
        note(self.world.story())
        raise AssertionError(message)

    # -- rules ------------------------------------------------------------------------------
    @rule(key=kafka_keys, n=st.integers(1, 6), size=kafka_value_sizes,
          gap=st.sampled_from((0.0, 0.002)), backdate=st.sampled_from((0.0, 30.0)))
    def produce_events(self, key: bytes | None, n: int, size: int, gap: float,
                       backdate: float) -> None:
        """A burst of sends, at once or 2 ms apart; records stamped 30 s ago are expired on
        arrival."""
        self.do("produce", EVENTS, key, n, size, False, gap, backdate)

    @rule(key=kafka_keys, n=st.integers(1, 4), size=kafka_value_sizes, tombstone=st.booleans())
    def produce_state(self, key: bytes | None, n: int, size: int, tombstone: bool) -> None:
        """Updates of one key, 2 ms apart (separate batches: the segments roll)."""
        self.do("produce", STATE, key, n, size, tombstone and key is not None, 0.002)

    @rule(dt=st.sampled_from((0.001, 0.007, 0.05, 0.5, 2.0, 5.0)))
    def advance(self, dt: float) -> None:
        self.do("advance", dt)

    @rule(group=st.sampled_from(KAFKA_GROUPS), processing=kafka_processing,
          crash_delays=kafka_crash_delays, restart_after=kafka_restart_after)
    def join(self, group: str, processing: float, crash_delays: list[float],
             restart_after: float | None) -> None:
        """A member joins (up to ``MAX_MEMBERS`` per group), crashing ``crash_delays`` seconds
        later, restarting or not."""
        if len(self.world.loops[group]) < MAX_MEMBERS:
            self.do("join", group, processing, crash_delays, restart_after)

    @rule(group=st.sampled_from(KAFKA_GROUPS), i=st.integers(0, MAX_MEMBERS - 1))
    def leave(self, group: str, i: int) -> None:
        """Member ``i`` of ``group`` (if it joined) finishes its batch and closes."""
        if i < len(self.world.loops[group]):
            self.do("leave", group, i)

    @rule(task=st.sampled_from(("retention", "cleaner")))
    def broker_task(self, task: str) -> None:
        """One pass of the retention task (``events``) or the log cleaner (``state``)."""
        topic = EVENTS if task == "retention" else STATE
        before = {tp: self.snapshot(tp) for tp in ALL_TPS if tp.topic == topic}
        if task == "retention":
            self.do("retention")
        elif self.do("compact"):
            event("the cleaner ran")
        check = self.check_retention if task == "retention" else self.check_compaction
        for tp, snap in before.items():
            check(tp, snap)

    @rule(action=st.one_of(
        st.tuples(st.just("assign"), st.lists(st.integers(0, len(ALL_TPS) - 1), unique=True,
                                               min_size=1, max_size=3).map(sorted).map(tuple)),
        st.tuples(st.just("poll"), st.sampled_from((0, 50, 300))),
        st.tuples(st.just("seek"), st.integers(0, len(ALL_TPS) - 1),
                  st.sampled_from(("beginning", "back", "committed"))),
        st.tuples(st.just("commit"))))
    def reader(self, action: tuple) -> None:
        """The manually assigned reader: assign (partitions by index in ``ALL_TPS``), poll
        (timeout in ms), seek back, or commit its positions."""
        self.do(f"reader_{action[0]}", *action[1:])
        if action[0] != "poll":
            return
        for tp, offsets, hw in self.world.last_poll:
            if len(offsets) and (offsets.max() >= hw or np.any(np.diff(offsets) <= 0)):
                self.fail(f"reader's poll returned {tp.topic}-{tp.partition} offsets "
                          f"{offsets.tolist()} with the high watermark at {hw}")

    # -- white-box checks -------------------------------------------------------------------
    def snapshot(self, tp: TopicPartition) -> dict:
        part = self.world.cluster.partition(*tp)
        log = part.log
        cols = {k: v.copy() for k, v in log.columns().items()}
        segs = [(s.base_offset, s.count, s.nbytes, s.largest_timestamp) for s in log.segments]
        return {"cols": cols, "segments": segs, "start": part.log_start_offset,
                "hw": part.high_watermark, "leo": part.log_end_offset,
                "size": log.size_bytes, "t": self.world.sim.now}

    def check_retention(self, tp: TopicPartition, before: dict) -> None:
        """kafka.md §8.5: a prefix of whole segments, below the HW, each one expired."""
        after = self.snapshot(tp)
        name = f"{tp.topic}-{tp.partition}"
        cfg = self.settings
        bases = [s[0] for s in before["segments"]]
        kept = set(after["cols"]["offset"].tolist())
        gone = [o for o in before["cols"]["offset"].tolist() if o not in kept]
        k = sum(1 for b in bases if b < after["start"])  # segments wholly removed
        if gone != list(range(before["start"], after["start"])):
            self.fail(f"{name}: retention removed offsets {gone}, not the prefix "
                      f"[{before['start']}, {after['start']})")
        if after["start"] not in [*bases, before["leo"]] or (gone and bases[k - 1] >= after[
                "start"]):
            self.fail(f"{name}: the new log start {after['start']} is not a segment boundary "
                      f"of {bases}")
        if after["start"] > before["hw"]:
            self.fail(f"{name}: retention deleted up to {after['start']}, beyond the high "
                      f"watermark {before['hw']}")
        if not after["segments"] or [s[0] for s in after["segments"]] not in (
                bases[k:], [before["leo"]]):
            self.fail(f"{name}: segments {bases} became {[s[0] for s in after['segments']]}")
        segs, horizon = before["segments"], cfg.retention_ms / 1000
        if len(segs) > 1 and before["t"] - segs[0][3] > horizon >= before["t"] - segs[-1][3]:
            event("retention tick: expired head, live active segment")
        removed = 0
        for seg in before["segments"][:k]:
            removed += seg[2]
            expired = before["t"] - seg[3] > cfg.retention_ms / 1000
            oversize = cfg.retention_bytes >= 0 and before["size"] - removed >= \
                cfg.retention_bytes
            if not (expired or oversize):
                self.fail(f"{name}: retention deleted segment {seg[0]} (newest record at "
                          f"t={seg[3]:.3f}, {seg[2]} B) that was neither expired nor over "
                          f"retention.bytes")
        head = after["segments"][0]
        upper = after["segments"][1][0] if len(after["segments"]) > 1 else after["leo"]
        if (head[1] and upper <= after["hw"] and after["t"] - head[3] > cfg.retention_ms / 1000):
            self.fail(f"{name}: segment {head[0]} expired (newest record at t={head[3]:.3f}) "
                      f"but retention kept it")

    def check_compaction(self, tp: TopicPartition, before: dict) -> None:
        """kafka.md §8.7: the latest record of each key stays; offsets never change."""
        after = self.snapshot(tp)
        name = f"{tp.topic}-{tp.partition}"
        b, a = before["cols"], after["cols"]
        at = dict(zip(b["offset"].tolist(), b["msg"].tolist(), strict=True))
        for off, msg in zip(a["offset"].tolist(), a["msg"].tolist(), strict=True):
            if at.get(off) != msg:
                self.fail(f"{name}: after cleaning offset {off} holds message {msg}, "
                          f"before it held {at.get(off)}")
        kept = set(a["offset"].tolist())
        limit = min(before["segments"][-1][0], before["hw"])
        latest: dict[int, int] = {}
        for off, key in zip(b["offset"].tolist(), b["key"].tolist(), strict=True):
            latest[key] = off
        null = dict(zip(b["offset"].tolist(), b["null"].tolist(), strict=True))
        for off in b["offset"].tolist():
            if off in kept:
                continue
            if off >= limit:
                self.fail(f"{name}: the cleaner removed offset {off}, at or above the first "
                          f"uncleanable offset {limit} (active segment or high watermark)")
        for key, off in latest.items():
            if off not in kept and not null[off]:
                self.fail(f"{name}: the cleaner removed offset {off}, the latest value of key "
                          f"{self.world.cluster.keys.bytes(key)!r}")

    @invariant()
    def log_and_consumers_are_sane(self) -> None:
        world = self.world
        if world is None:
            return
        for tp in ALL_TPS:
            part = world.cluster.partition(*tp)
            off = part.log.columns()["offset"]
            start, hw, leo = part.log_start_offset, part.high_watermark, part.log_end_offset
            name = f"{tp.topic}-{tp.partition}"
            if not start <= hw <= leo:
                self.fail(f"{name}: log start {start}, high watermark {hw}, log end {leo}")
            if hw < self.hw_seen.get(tp, 0):
                self.fail(f"{name}: the high watermark went back to {hw}")
            self.hw_seen[tp] = hw
            if len(off) and (np.any(np.diff(off) <= 0) or off[0] < start or off[-1] >= leo):
                self.fail(f"{name}: stored offsets {off.tolist()} not increasing within "
                          f"[{start}, {leo})")
            if tp.topic == EVENTS and not np.array_equal(off, np.arange(start, leo)):
                self.fail(f"{name}: stored offsets {off.tolist()} are not dense from the log "
                          f"start {start} to the log end {leo}")
        if world.served_past_hw:
            self.fail(world.served_past_hw[0])
        consumers = [(loop.consumer, g) for g in KAFKA_GROUPS for loop in world.loops[g]
                     if loop.consumer is not None and not loop.consumer.closed]
        if not world.reader.closed:
            consumers.append((world.reader, "reader"))
        for c, _ in consumers:
            for tp in c.assignment():
                pos = c.position(tp)
                hw = world.cluster.partition(*tp).high_watermark
                if pos is not None and pos > hw:
                    self.fail(f"{c.name}: position {pos} in {tp.topic}-{tp.partition} is past "
                              f"the high watermark {hw}")
        coordinator = world.cluster.coordinator
        for group in KAFKA_GROUPS:
            g = coordinator.groups.get(group) if coordinator is not None else None
            if g is None:
                continue
            owner: dict[TopicPartition, str] = {}
            for c, cg in consumers:
                if cg != group or c.member_id not in g.members:
                    continue
                for tp in c.assignment():
                    if tp in owner:
                        self.fail(f"group {group}: {tp.topic}-{tp.partition} owned by both "
                                  f"{owner[tp]} and {c.name}")
                    owner[tp] = c.name

    # -- the end of the story -----------------------------------------------------------------
    def teardown(self) -> None:
        world = self.world
        if world is None or self.failed:
            return
        behind = world.drain()
        trace = world.sim.trace
        report = check_log(trace)
        note(world.story())
        note(report.explain())
        behind = self.check_stuck_groups(behind)
        for kind in ("crash", "offset-reset", "member-removed"):
            if trace.events_of(kind):
                event(f"had {kind}")
        for cause in trace.drop_counts():
            event(f"lost to {cause}")
        for s in report.receivers:
            if s.duplicated:
                event(f"{s.receiver} duplicated")
            if s.delivered:
                event(f"{s.receiver} processed records")
        deleted = trace.tables["log_deleted"]
        for reason in sorted(set(deleted["reason"].tolist())):
            event(f"log deleted by {DROP_REASONS[reason]}")
        assert report.ok, f"checker found {sorted(report.kinds(errors_only=True))}: " + "; ".join(
            f.sentence() for f in report.errors[:3])
        assert_conserved(report)
        self.check_delivery_guarantees(report, behind)
        self.check_committed_means_consumed(behind)
        assert not world.served_past_hw, world.served_past_hw[0]
        self.check_deliveries_below_hw()
        self.check_append_history()
        self.check_key_partitions()
        again = replay(self.seed, self.settings, world.ops)
        assert same_trace(world, again), "same seed and steps gave a different trace"

    def check_stuck_groups(self, behind: list[str]) -> list[str]:
        """K-P5: a Stable group's members own every partition. A group may stay behind only
        by Kafka's livelock (batches longer than ``max.poll.interval.ms``: the member is
        evicted before it commits, again and again). Returns the groups behind."""
        world = self.world
        trace = world.sim.trace
        removed = {(e.who, e.detail["reason"]) for e in trace.events_of("member-removed")}
        for group in behind:
            g = world.cluster.coordinator.groups[group]
            owned = {tp for loop in world.live(group) if loop.consumer.member_id in g.members
                     for tp in loop.consumer.assignment()}
            orphans = sorted(f"{t}-{p}" for t, p in set(ALL_TPS) - owned)
            evicted = {r for who, r in removed if who == group} - {"leave"}
            if g.state == "Stable" and orphans:
                raise AssertionError(f"group {group} is Stable but {orphans} have no owner")
            assert evicted & {"poll-timeout", "rebalance-timeout"}, (
                f"group {group} did not catch up within {DRAIN_LIMIT:g} s of draining")
            event("livelock: batches longer than max.poll.interval.ms")
        return behind

    def group_deliveries(self, group: str) -> np.ndarray:
        trace = self.world.sim.trace
        members = [r for r, g in trace.receiver_groups.items() if g == group]
        d = trace.delivered
        return d["msg"][np.isin(d["receiver"], members)]

    def check_delivery_guarantees(self, report, behind: list[str]) -> None:
        """K-P3: commit after processing ⇒ at-least-once; before ⇒ at-most-once."""
        world = self.world
        in_log = np.concatenate([world.cluster.partition(*tp).log.columns()["msg"]
                                 for tp in ALL_TPS])
        summaries = {s.receiver: s for s in report.receivers}
        trace = world.sim.trace
        dropped = trace.dropped
        for group in KAFKA_GROUPS:
            s = summaries.get(group)
            if s is None:
                continue
            got = self.group_deliveries(group)
            causes = set(s.lost)
            if group == "amo":
                values, counts = np.unique(got, return_counts=True)
                twice = values[counts > 1]
                assert s.duplicated == len(got) - len(values), s
                assert len(twice) == 0, (
                    f"at-most-once group {group} processed {twice.tolist()} more than once")
                assert causes <= {"client-crash", "commit-failed", "retention",
                                  "compaction"}, s.lost
            else:
                assert causes <= {"retention", "compaction"}, (
                    f"at-least-once group {group} lost records: {s.lost}")
            if world.live(group) and group not in behind:
                members = [r for r, g in trace.receiver_groups.items() if g == group]
                seen = np.union1d(got, dropped["msg"][np.isin(dropped["receiver"], members)])
                missing = np.setdiff1d(in_log, seen if group == "amo" else got)
                assert len(missing) == 0, (
                    f"group {group} has a live member but never processed "
                    f"{missing[:5].tolist()}, still in the log")
                assert s.in_flight == 0, f"group {group} still lags {s.in_flight} records"

    def check_committed_means_consumed(self, behind: list[str]) -> None:
        """L11: a group's committed offset claims everything below it was consumed. Every
        record below it was processed by the group, dropped by it with a cause, or deleted by
        the broker (all groups start at ``earliest``). Groups still behind may be mid-batch."""
        world = self.world
        trace = world.sim.trace
        app = trace.tables["appended"]
        gone = set(trace.tables["log_deleted"]["msg"].tolist())
        d, dr = trace.delivered, trace.dropped
        for group in (*KAFKA_GROUPS, "reader"):
            g = world.cluster.coordinator.groups.get(group)
            if g is None or group in behind:
                continue
            members = [r for r, name in trace.receiver_groups.items() if name == group]
            seen = set(d["msg"][np.isin(d["receiver"], members)].tolist())
            seen |= set(dr["msg"][np.isin(dr["receiver"], members)].tolist())
            for tp in ALL_TPS:
                committed = g.committed(tp)
                if not committed:
                    continue
                mask = (app["channel"] == trace.channels.id(tp.topic)) & (
                    app["partition"] == tp.partition) & (app["offset"] < committed)
                skipped = [m for m in app["msg"][mask].tolist() if m not in seen | gone]
                assert not skipped, (
                    f"group {group} committed {tp.topic}-{tp.partition} at {committed} but "
                    f"never processed nor lost messages {skipped[:5]} below it")

    def check_deliveries_below_hw(self) -> None:
        """L13/W8: every delivery is of a record below the HW in force when it was delivered
        (deliveries are traced when processing ends, at or after the poll returned it)."""
        trace = self.world.sim.trace
        app = trace.tables["appended"]
        d = trace.delivered
        order = np.argsort(app["msg"])
        pos = order[np.searchsorted(app["msg"][order], d["msg"])]
        for tp in ALL_TPS:
            channel = trace.channels.id(tp.topic)
            mask = (app["channel"][pos] == channel) & (app["partition"][pos] == tp.partition)
            offsets, t = app["offset"][pos][mask], d["t"][mask]
            hw = hw_at(self.world.hw_history[tp], t)
            bad = offsets >= hw
            assert not bad.any(), (
                f"{tp.topic}-{tp.partition}: offset {int(offsets[bad][0])} delivered at "
                f"t={float(t[bad][0]):.4f} s with the high watermark at {int(hw[bad][0])}")

    def check_append_history(self) -> None:
        """§8.1: per partition the appends are offsets 0, 1, 2, … each once, in order; each
        send was answered (no fault here delays one past the drain) and each acknowledgement
        names where its record was appended."""
        world = self.world
        trace = world.sim.trace
        app = trace.tables["appended"]
        where = {}
        pending = [i for i, send in enumerate(world.sends) if not send.event.triggered]
        assert not pending, (
            f"{len(pending)} send(s) still unanswered after the drain (first: send #{pending[0]} "
            f"to {world.sends[pending[0]].topic}): the producer is stuck")
        for tp in ALL_TPS:
            mask = (app["channel"] == trace.channels.id(tp.topic)) & (
                app["partition"] == tp.partition)
            offsets = app["offset"][mask]
            leo = world.cluster.partition(*tp).log_end_offset
            assert np.array_equal(offsets, np.arange(leo)), (
                f"{tp.topic}-{tp.partition}: appended offsets {offsets.tolist()}")
            where.update((m, (tp, o)) for m, o in zip(app["msg"][mask].tolist(),
                                                      offsets.tolist(), strict=True))
        for send in world.sends:
            if send.event.triggered and send.event.ok:
                meta = send.event.value
                tp = TopicPartition(meta.topic, meta.partition)
                assert where.get(meta.msg) == (tp, meta.offset), (
                    f"message {meta.msg} acknowledged at {tp.topic}-{tp.partition}@"
                    f"{meta.offset}, appended at {where.get(meta.msg)}")

    def check_key_partitions(self) -> None:
        """§8.8: a key always goes to ``(murmur2(key) & 0x7fffffff) % partitions``."""
        for send in self.world.sends:
            if send.key is None or not (send.event.triggered and send.event.ok):
                continue
            meta = send.event.value
            expected = (reference_murmur2(send.key) & 0x7FFFFFFF) % TOPICS[send.topic]
            assert meta.partition == expected, (
                f"key {send.key!r} of {send.topic} went to partition {meta.partition}, "
                f"murmur2 says {expected}")


TestKafkaMachine = KafkaMachine.TestCase
TestKafkaMachine.settings = settings(
    max_examples=max(100, settings.default.max_examples),
    stateful_step_count=max(40, settings.default.stateful_step_count))


def test_failed_sends_are_named_in_the_story():
    """A keyless record on the compacted topic is rejected, as Kafka's LogValidator does."""
    world = World(1, Settings(1, 0.0005, 400, 1000, -1, 0, "range", 5, 300_000))
    world.do("produce", STATE, None, 1, 20, False)
    world.do("advance", 0.05)
    (send,) = world.sends
    assert send.event.triggered and not send.event.ok
    assert isinstance(send.event.value, KafkaError)
    assert "Compacted topic cannot accept message without key" in str(send.event.value)
    assert "send 1 × state key=None (20 B)" in world.story()


# --- model bugs the machine found, fixed (each a minimal story that failed before the fix) ----


@pytest.mark.parametrize("then", ["assign-other", "assign-none", "assign-same", "unsubscribe",
                                  "crash"])
def test_reassign_at_the_same_instant_does_not_crash_the_simulation(then: str):
    """Found by the machine: ``assign()`` started a position lookup that read its partitions
    from the assignment when it first ran, so a second ``assign()`` (or ``unsubscribe()``, a
    crash) at the same instant killed the simulation with ``KeyError``. KafkaConsumer.assign()
    may be called again at once; the answers for partitions no longer assigned are dropped."""
    s = Simulation(seed=0)
    k = KafkaCluster(s, brokers=1)
    k.create_topic("t", partitions=2, replication_factor=1)
    k.producer({"linger.ms": 0}).produce("t", np.zeros(4), np.full(4, 10),
                                         partitions=np.arange(4) % 2)
    s.run(until=0.5)
    c = k.consumer({"group.id": "g", "auto.offset.reset": "earliest"})
    c.assign([("t", 0)])
    expected = {"assign-other": {TopicPartition("t", 1)}, "assign-same": {TopicPartition("t", 0)}}
    if then == "crash":
        c.crash()
    elif then == "unsubscribe":
        c.unsubscribe()
    else:
        c.assign(sorted(expected.get(then, set())))
    got: list[int] = []

    def read():
        for _ in range(5):
            records = yield c.poll(timeout_ms=100)
            got.extend(r.offset for batch in records.values() for r in batch)
    if then != "crash":
        s.process(read())
    s.run(until=2)
    if then != "crash":
        assert c.assignment() == expected.get(then, set())
        assert sorted(got) == ([0, 1] if expected.get(then) else [])
        for tp in c.assignment():
            assert c.position(tp) == 2


def test_at_most_once_loop_does_not_process_a_batch_whose_commit_failed():
    """``a`` consumes 2 partitions alone, one record per poll, 0.3 s a record; ``b`` joins at
    t=8 s. ``a`` hears of the rebalance from a heartbeat and rejoins in its next ``poll()``,
    which completes the rebalance (``b`` is waiting) and still returns a buffered record of
    ``t-1`` (cooperative: ``a`` consumes while it rejoins). Its commit, sent just after the
    JoinGroup, carries the old generation: ILLEGAL_GENERATION. ``a`` processes the record
    anyway; ``t-1`` moves to ``b``, which resumes at the committed offset and processes it
    again. Found by the machine; fixed: the loop skips a batch whose commit failed and reads
    it again from the committed offset."""
    s, a = stale_generation_story()
    n = STALE_GENERATION_RECORDS
    assert a.stats["commit_failures"] == 1
    assert a.stats["skipped_batches"] == 1
    report = check_log(s.trace, drained=True)
    assert report.ok, report.explain()
    summary = report.receiver("g")
    assert summary.duplicated == 0, report.explain()
    assert summary.delivered == n and not summary.lost, report.explain()


def test_a_member_that_lost_its_partitions_does_not_claim_them_on_rejoin():
    """``a`` takes 2 s a batch with ``max.poll.interval.ms`` 1.5 s; ``b`` crashes at once and
    restarts 2 s later. The first rebalance (for ``b``) times out waiting for busy ``a``, so
    ``a`` is removed and generation 2 is the dead ``b`` alone. ``a`` rejoins as a new member
    claiming both partitions, the new ``b`` joins; the dead ``b`` times out; generation 3
    gave ``a`` t-0 and took t-1 from it for later — and nobody ever got t-1: ``a`` claimed
    the partitions it had lost. Found by the machine; fixed: a member whose membership was
    lost claims no partition when it joins again (as the Java client)."""
    s = Simulation(seed=0)
    k = KafkaCluster(s, brokers=1, config={"group.initial.rebalance.delay.ms": 0})
    k.create_topic("t", partitions=2, replication_factor=1)
    k.producer({"linger.ms": 0}).produce("t", np.zeros(40), np.full(40, 10),
                                         partitions=np.arange(40) % 2)
    cfg = {"group.id": "g", "auto.offset.reset": "earliest", "max.poll.records": 20,
           "max.poll.interval.ms": 1500, "heartbeat.interval.ms": 1000,
           "partition.assignment.strategy": ["cooperative-sticky"]}
    a = process_then_commit(k, {**cfg, "client.id": "a"}, "t", processing=0.1)
    b = process_then_commit(k, {**cfg, "client.id": "b"}, "t", crash_at=[0.01],
                            restart_after=2.0)
    s.run(until=30)
    assert k.coordinator.groups["g"].state == "Stable"
    owned = a.consumer.assignment() | b.consumer.assignment()
    assert owned == {TopicPartition("t", 0), TopicPartition("t", 1)}
