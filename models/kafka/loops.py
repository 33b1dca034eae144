"""Ready-made consumer processes for experiments: where the commit sits decides the guarantee.

- ``commit_before_process`` — poll, commit the batch's end, then process: **at-most-once**. A
  crash while processing loses the rest of the batch (already committed). A batch whose commit
  failed (``CommitFailedError`` on a stale generation, a rebalance in progress, a timeout) is
  not processed: whoever reads the partition next starts from the committed offset and would
  process it again. The loop asks for the committed offset (``consumer.committed(tp)``, an
  OffsetFetch in the Java client) and seeks each partition it still owns there, or to the
  batch's start if that is later; records the group has committed past without this consumer
  processing them (a commit that timed out but was stored) are traced as dropped with reason
  ``commit-failed``.
- ``process_then_commit`` — poll, process, then commit: **at-least-once**. A crash replays
  everything processed since the last commit (duplicates).
- ``auto_commit`` — ``enable.auto.commit=true``: poll, process, poll… The Java client commits
  the positions of the previous polls at the start of ``poll()`` every
  ``auto.commit.interval.ms``; since each batch is processed before the next poll this is
  at-least-once too, with up to an interval of records replayed after a crash.

Each returns a ``ConsumerLoop`` handle whose simpy process runs the consumer: the processing
time of a batch is drawn in one vectorised call (``processing``: seconds per record, or a
callable ``(rng, n) -> array of seconds``) and the batch is handled with one timeout, records
finishing at ``start + cumsum(service)``. Deliveries are traced when processing finishes
(``trace.delivered``, receiver ``"<group>/<client.id>"``), not when ``poll()`` returns, so a
record the application never finished is not counted as delivered.

Crashes (``crash_at`` times): the consumer stops at once — no commit, no LeaveGroup — so its
group notices only after ``session.timeout.ms`` and rebalances. Records of the batch in hand
that were not processed but are already covered by a committed offset are traced as dropped
(reason ``client-crash``): nobody in the group will get them. With ``restart_after`` the loop
starts a new consumer (same ``client.id``, so the same receiver; a new member id) that long
after each crash.

Cost: the loops in the two committing modes run on ``models.kafka.fastloop``'s callbacks (the
same steps, polls, fetches and commits, without a simpy process each; property-tested against
this module's generator, which takes over when the loop stops or ``poll()`` would raise). A
``process_then_commit`` loop with zero processing time in a steady group and cluster runs on a
lean lane (``models.kafka.leanloop``: the same cycle on offsets, trace rows in bulk), which
hands back to the callbacks the moment anything changes. ``loop.fast = False`` /
``loop.lean = False`` (before the loop starts) switch either off, for comparisons.

Not modelled: processing that overlaps polling (a separate worker thread), rebalance-listener
commits, shutdown hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import simpy

from models.kafka.consumer import Consumer, ConsumerRecords
from models.kafka.errors import CommitFailedError, KafkaTimeoutError, RebalanceInProgressError
from models.kafka.fastloop import FetchRequest, LoopEngine
from models.kafka.leanloop import admit, suits
from sim.trace import REASON_CODE

ProcessingTime = float | Callable[[np.random.Generator, int], np.ndarray]
MODES = ("commit_before_process", "process_then_commit", "auto_commit")
_CLIENT_CRASH = REASON_CODE["client-crash"]
_COMMIT_FAILED = REASON_CODE["commit-failed"]


class ConsumerLoop:
    """A consumer process with a commit discipline, processing time, crashes and restarts."""

    def __init__(
        self,
        cluster: Any,
        config: Mapping[str, Any],
        topics: Iterable[str] | str,
        mode: str = "process_then_commit",
        *,
        processing: ProcessingTime = 0.0,
        poll_timeout_ms: float = 100.0,
        crash_at: Iterable[float] = (),
        restart_after: float | None = None,
        until: float | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not callable(processing) and (not np.isfinite(processing) or processing < 0):
            raise ValueError(f"processing must be a callable or seconds >= 0, not {processing!r}")
        self.cluster = cluster
        self.env: simpy.Environment = cluster.env
        self.trace = cluster.trace
        self.mode = mode
        settings = dict(config)
        settings["enable.auto.commit"] = mode == "auto_commit"
        if not settings.get("client.id"):
            settings["client.id"] = cluster.client_id("consumer")
        self.config = settings
        register = getattr(cluster, "register_client", None)
        if register is not None:
            register(settings["client.id"], self)  # a fault target from the start
        self.topics = (topics,) if isinstance(topics, str) else tuple(topics)
        self.processing = processing
        self.poll_timeout_ms = poll_timeout_ms
        self.crash_at = sorted(float(t) for t in crash_at)
        self.restart_after = restart_after
        self.until = until
        self.consumer: Consumer | None = None
        self.stats = {"processed": 0, "batches": 0, "commit_failures": 0, "crashes": 0,
                      "restarts": 0, "lost_in_crash": 0, "skipped_batches": 0}
        self._rng = cluster.sim.rng(
            f"kafka/loop/{settings.get('group.id')}/{settings['client.id']}/processing")
        self._stopping = False
        self._in_hand: tuple[np.ndarray, np.ndarray] | None = None
        # the callback fast path (models.kafka.fastloop); tests switch it off to compare
        self.fast = True
        # the lean path for steady cycles (models.kafka.leanloop); tests switch it off too
        self.lean = True
        self._engine: LoopEngine | None = None
        self.process = self.env.process(self._run())

    def stop(self) -> None:
        """Finish the batch in hand, then close the consumer (commit if auto, LeaveGroup)."""
        self._stopping = True

    # -- the process --------------------------------------------------------------------------

    def _run(self):
        env = self.env
        crashes = list(self.crash_at)
        first = True
        while True:
            self.consumer = consumer = Consumer(self.cluster, self.config, trace_on_poll=False)
            if self._fast_ok():
                consumer._fetch_engine = lambda wanted, c=consumer: FetchRequest(c, wanted)
            consumer.subscribe(self.topics)
            if not first:
                self.stats["restarts"] += 1
                self.trace.event(float(env.now), "restart", consumer.name,
                                 client_id=consumer.client_id)
            first = False
            worker = env.process(self._work(consumer))
            while crashes and crashes[0] < env.now:
                crashes.pop(0)
            if not crashes:
                yield worker
                return
            yield worker | env.timeout(crashes.pop(0) - env.now)
            if not worker.is_alive:
                return
            self.stats["crashes"] += 1
            consumer.crash()
            worker.interrupt("crash")
            if self.restart_after is None:
                return
            yield env.timeout(self.restart_after)

    def _work(self, consumer: Consumer):
        env = self.env
        timeout_ms = self.poll_timeout_ms
        records = ConsumerRecords()
        try:
            if self._fast_ok():  # the callback fast path, until it hands back
                engine = self._engine = LoopEngine(self, consumer)
                if self.lean and suits(self):
                    engine.admit = admit
                engine.start()
                yield engine.back
                self._engine = None
            while not self._stopping and (self.until is None or env.now < self.until):
                records = ConsumerRecords()
                records = yield consumer.poll(timeout_ms=timeout_ms)
                if not records:
                    continue
                self.stats["batches"] += 1
                if self.mode == "commit_before_process":
                    committed = yield from self._commit(consumer)
                    if not committed:
                        self._skip(consumer, records)
                        continue
                yield from self._process(consumer, records)
                records = ConsumerRecords()
                if self.mode == "process_then_commit":
                    yield from self._commit(consumer)
            if not consumer.closed:
                yield consumer.close()
        except simpy.Interrupt:
            engine, self._engine = self._engine, None
            if engine is not None:
                engine.dead = True
                records = engine.records or ConsumerRecords()
            self._crashed(consumer, records)

    def _fast_ok(self) -> bool:
        """Whether the loop runs on the callback fast path (``models.kafka.fastloop``)."""
        return self.fast and self.mode != "auto_commit" and self.poll_timeout_ms > 0

    def _commit(self, consumer: Consumer):
        """Commit the positions; whether the commit succeeded (``yield from``)."""
        try:
            yield consumer.commit()
        except (CommitFailedError, RebalanceInProgressError, KafkaTimeoutError):
            self.stats["commit_failures"] += 1  # the records come again: at-least-once
            return False
        return True

    def _skip(self, consumer: Consumer, records: ConsumerRecords) -> None:
        """At-most-once after a failed commit: leave the batch unprocessed, read each partition
        still owned again from the committed offset (or the batch's start, if later), and
        trace what the group committed past without this consumer processing it."""
        self.stats["skipped_batches"] += 1
        owned = consumer.assignment()
        lost = []
        for tp, recs in records.items():
            first = int(recs.offset[0])
            committed = consumer.committed(tp)
            target = first if committed is None else max(first, committed)
            lost.append(recs.msg[recs.offset < target])
            if tp in owned:
                consumer.seek(tp, target)
        lost_msg = np.concatenate(lost) if lost else np.empty(0, np.int64)
        if len(lost_msg) and self.trace.enabled:
            self.trace.dropped.extend(msg=lost_msg, receiver=consumer.receiver,
                                      t=float(self.env.now), reason=_COMMIT_FAILED)

    def _process(self, consumer: Consumer, records: ConsumerRecords):
        parts = [r.msg for r in records.values()]
        msg = parts[0] if len(parts) == 1 else np.concatenate(parts)
        n = len(msg)
        start = float(self.env.now)
        if self.processing == 0.0 and not callable(self.processing):
            done = np.full(n, start)  # start + cumsum of zeros, without the arrays
        else:
            done = start + np.cumsum(self._service(n))
        self._in_hand = (msg, done)
        yield self.env.timeout(float(done[-1]) - start)
        self._in_hand = None
        self._deliver(consumer, msg, done)
        self.stats["processed"] += n

    def _service(self, n: int) -> np.ndarray:
        if callable(self.processing):
            service = np.asarray(self.processing(self._rng, n), dtype=np.float64)
            if service.shape != (n,):
                raise ValueError(f"processing(rng, {n}) must return {n} times, "
                                 f"not shape {service.shape}")
            return service
        return np.full(n, float(self.processing))

    def _deliver(self, consumer: Consumer, msg: np.ndarray, t: np.ndarray) -> None:
        if self.trace.enabled and len(msg):
            self.trace.delivered.extend(msg=msg, receiver=consumer.receiver, via=-1, t=t)

    def _crashed(self, consumer: Consumer, records: ConsumerRecords) -> None:
        """Account for the batch in hand: finished records are delivered; unfinished ones the
        group has already committed past are lost for good."""
        now = float(self.env.now)
        if not records:
            return
        in_hand, self._in_hand = self._in_hand, None
        msg = np.concatenate([r.msg for r in records.values()])
        if in_hand is not None:
            done = in_hand[1]
            finished = done <= now
            self._deliver(consumer, msg[finished], done[finished])
            self.stats["processed"] += int(finished.sum())
        else:
            finished = np.zeros(len(msg), dtype=bool)
        group = consumer.group
        lost = []
        start = 0
        for tp, recs in records.items():
            n = len(recs)
            committed = group.committed(tp) if group is not None else None
            if committed is not None:
                mask = (recs.offset < committed) & ~finished[start:start + n]
                lost.append(recs.msg[mask])
            start += n
        lost_msg = np.concatenate(lost) if lost else np.empty(0, np.int64)
        if len(lost_msg):
            self.stats["lost_in_crash"] += len(lost_msg)
            if self.trace.enabled:
                self.trace.dropped.extend(msg=lost_msg, receiver=consumer.receiver, t=now,
                                          reason=_CLIENT_CRASH)


def commit_before_process(cluster: Any, config: Mapping[str, Any], topics: Iterable[str] | str,
                          **options: Any) -> ConsumerLoop:
    """At-most-once consumer: commit each batch before processing it."""
    return ConsumerLoop(cluster, config, topics, "commit_before_process", **options)


def process_then_commit(cluster: Any, config: Mapping[str, Any], topics: Iterable[str] | str,
                        **options: Any) -> ConsumerLoop:
    """At-least-once consumer: commit each batch after processing it."""
    return ConsumerLoop(cluster, config, topics, "process_then_commit", **options)


def auto_commit(cluster: Any, config: Mapping[str, Any], topics: Iterable[str] | str,
                **options: Any) -> ConsumerLoop:
    """Consumer with ``enable.auto.commit=true`` (committed inside ``poll()``)."""
    return ConsumerLoop(cluster, config, topics, "auto_commit", **options)
