"""The Kafka producer: partitioning, batching, the sender, acks, retries and idempotence.

``cluster.producer(config)`` → ``Producer``. ``send()`` returns a simpy event that succeeds with
``RecordMetadata`` or fails with the Kafka error (``NotEnoughReplicasException``,
``RecordTooLargeException``, ``TimeoutException``…); failed events are defused, so an unobserved
failure does not stop the simulation (as an ignored Java future). ``produce()`` is the bulk path
for workloads: arrays of send times and sizes, batched without a Python object per record.

Kafka behaviour reproduced (``RecordAccumulator``, ``Sender``, ``shared/reference/kafka.md`` §2):

- Partitioning: explicit partition, else ``murmur2`` of the key, else the sticky partitioner
  (``partitioner.ignore.keys`` makes keyed records sticky too). See ``partitioner.py``.
- Batching per partition: a record joins the partition's open batch if it fits in
  ``batch.size`` (a lone bigger record gets its own batch), else the open batch is closed. A
  batch is ready when full, when another batch queues behind it, ``linger.ms`` after its first
  record, or during ``flush()``. Records sent at the same simulated instant batch together even
  with ``linger.ms=0`` (the sender thread runs after them).
- The sender drains a broker when one of its partitions is ready: one request carries the head
  batch of each of that broker's partitions (ready or not, as ``drainBatchesForOneNode``), up to
  ``max.request.size``; at most ``max.in.flight.requests.per.connection`` unanswered requests per
  broker. Requests and responses cross ``cluster.link`` (latency, loss, cuts); a request without
  answer fails after ``request.timeout.ms``.
- ``acks=0``: batches complete when the request is sent, with offset -1; the broker's answer
  (and any error) is never seen. ``acks=1``: answered after the leader's append. ``acks=all``:
  answered when the high watermark covers the batch.
- Retries: retriable errors are retried after an exponential backoff (``retry.backoff.ms``
  doubling up to ``retry.backoff.max.ms``, ±20 % jitter, KIP-580) while ``retries`` and
  ``delivery.timeout.ms`` (counted from batch creation) allow; then the batch fails with the
  last error, or ``TimeoutException`` when the delivery timeout ran out. A retried batch goes back
  to the head of its queue; without idempotence later in-flight batches may overtake it.
- Idempotence (default on): the producer gets an id, batches get per-partition sequence numbers
  at their first send; the broker answers a retried duplicate with the original offsets; a
  retried batch is sent only when no other batch of its partition is in flight, so order holds.
  The broker remembers the last 5 batches per producer id (``NUM_BATCHES_TO_RETAIN``), and a
  partition never has more than 5 numbered batches from its oldest unresolved one on (the Java
  client's bound: at most 5 in flight, over a TCP connection that keeps them in order), so a
  retry is always recognised: a batch written whose answer was lost comes back as a duplicate
  with its offsets, not ``OutOfOrderSequence`` until ``delivery.timeout.ms``.
- Leaders: a request goes to the broker the producer believes leads the partition. The broker
  answers ``NotLeaderOrFollower`` for partitions it no longer leads; a dead broker resets the
  connection (``NetworkException`` for every request it had not answered, one latency after the
  crash) or refuses new ones. Both are retried; on a retry the producer takes the leader from
  fresh metadata (the controller's current view: the metadata round trip is not modelled), and
  while a partition has no live leader it looks again every ``retry.backoff.ms``. So records
  wait out a failover (``broker.session.timeout.ms``) in the accumulator, within
  ``delivery.timeout.ms``. Idempotent batches keep their sequence numbers across leaders (the
  new leader has the producer state of what it replicated); if a leader lost records the
  producer had acknowledged (an unclean election) the producer bumps its epoch (here: a new
  producer id) and numbers its unacknowledged batches again (KIP-360); so it does when a
  numbered batch fails for good (a delivery timeout) with no later batch acknowledged. No
  batch is numbered under the new epoch while one of the old is in flight on its partition
  (the old ones come back OutOfOrderSequence and are numbered again first, in their order).
- Losses: an ``acks=0``/``acks=1`` batch that a leader change truncates after it was (or while
  it is being) acknowledged is traced as ``dropped`` (receiver -1, reason ``acks-0`` /
  ``acks-1``); an ``acks=0`` request that never reaches a live leader likewise (lost on the
  link, refused by a dead broker, or held by a network cut that did not heal within
  ``request.timeout.ms``).
- ``buffer.memory``: a ``send()`` that does not fit waits (as the Java call blocks) until
  batches complete, and fails with ``BufferExhaustedException`` after ``max.block.ms``.

Trace: every record sent → ``published`` (offset -1; ``source`` = the producer's client id,
``channel`` = the topic); every acknowledgement → ``acked``; a record that failed for good →
``send_failed`` (and ``dropped`` with receiver -1 when its reason is a trace drop reason:
``delivery-timeout``, ``not-enough-replicas``).

Cost: while the producer has only bulk feeds, ``models.kafka.planner`` sends them: a window of
requests is planned in one loop per broker and settled in bulk, with no simpy event per request
(identical results, property-tested against this module's event path); otherwise each batch is
one Python object and about three simpy events, never one per record. ``send()`` and
``produce()`` batch identically (property-tested). Measured on a shared 2-core box: 1 M records
of 1 KiB into 16 partitions with the default 16 KiB batches (62 707 batches) take ~0.5–0.7 s
planned, trace on (``kafka_groups(1_000_000, groups=0)`` in ``experiments.scenarios.bench_cases``;
0.9–1.1 s before runs of one-batch requests were planned at once, 2.1 s before the planner's
per-batch work was cut down), ~30 s through the event path.

Not modelled: compression, transactions, the metadata request itself (see "Leaders"),
adaptive partitioning, expiry of in-flight batches before their request
times out (they expire when their retry would pass ``delivery.timeout.ms``), and in the bulk
path the blocking on ``buffer.memory`` (records are sent at their given times).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import simpy

from models.kafka.accumulator import PartitionQueue
from models.kafka.batches import BulkSend, Feed, ProducerBatch
from models.kafka.cluster import NUM_BATCHES_TO_RETAIN, AppendResult
from models.kafka.config import load
from models.kafka.errors import (
    BufferExhaustedError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
    NetworkError,
    NotEnoughReplicasError,
    NotLeaderOrFollowerError,
    OutOfOrderSequenceError,
    RecordTooLargeError,
)
from models.kafka.network import broker_name
from models.kafka.partitioner import StickyPartitioner, partitions_for_hashes
from models.kafka.planner import Planner
from models.kafka.records import RecordMetadata
from sim.trace import REASON_CODE

_ACKS0 = REASON_CODE["acks-0"]
_ACKS1 = REASON_CODE["acks-1"]
_NO_ROOM = object()  # _peek: the next feed batch does not fit in the request


class _Acked:
    """A batch the planner settled as acknowledged, kept (as ``Partition._unreplicated``
    owner) so that its loss is traced should a leader change truncate it."""

    __slots__ = ("msg",)
    acked = True
    done = True
    lost = None

    def __init__(self, msg: np.ndarray) -> None:
        self.msg = msg


class _Request:
    __slots__ = ("answered", "batches", "broker", "done", "sent", "waiting")

    def __init__(self, broker: int, batches: list[ProducerBatch], sent: float) -> None:
        self.broker = broker
        self.batches = batches
        self.sent = sent
        self.done = False
        self.answered = False  # the broker sent its response (it survives a crash after that)
        self.waiting = 0  # acks=all batches whose HW has not come yet


def _serialize(data: Any, what: str) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"{what} must be bytes, str or None, not {type(data).__name__}")


class Producer:
    """A Kafka producer client on ``cluster`` (see the module docstring for its behaviour)."""

    def __init__(self, cluster, config: Mapping[str, Any] | None = None) -> None:
        self.cluster = cluster
        self.sim = cluster.sim
        self.env = cluster.env
        self.config = cfg = load("producer", config)
        self.client_id = cluster.client_id("producer", cfg["client.id"])
        trace = cluster.trace
        self._tracing = trace.enabled
        self._trace = trace
        self.source = trace.sources.id(self.client_id)
        self.acks = cfg["acks"]
        self.idempotent = bool(cfg["enable.idempotence"])
        self.producer_id = cluster.new_producer_id() if self.idempotent else -1
        self.linger = cfg["linger.ms"] / 1000.0
        self.batch_size = cfg["batch.size"]
        self.max_request_size = cfg["max.request.size"]
        self.max_in_flight = cfg["max.in.flight.requests.per.connection"]
        self.retries = cfg["retries"]
        self.delivery_timeout = cfg["delivery.timeout.ms"] / 1000.0
        self.request_timeout = cfg["request.timeout.ms"] / 1000.0
        self.backoff = cfg["retry.backoff.ms"] / 1000.0
        self.backoff_max = cfg["retry.backoff.max.ms"] / 1000.0
        self.buffer_memory = cfg["buffer.memory"]
        self.max_block = cfg["max.block.ms"] / 1000.0
        self._rng = self.sim.rng(f"kafka/producer/{self.client_id}")
        self._sticky: dict[str, StickyPartitioner] = {}
        self._pqs: dict[Any, PartitionQueue] = {}
        self._by_broker: dict[int, list[PartitionQueue]] = {}
        self._inflight: dict[int, int] = {}
        self._open: dict[_Request, None] = {}  # requests sent and not finished (in order)
        self._refresh_pending = False
        self._drain_index: dict[int, int] = {}
        self._expire_at = float("inf")
        self._unfinished: dict[int, ProducerBatch] = {}
        # idempotence: per partition, the numbered batches from the oldest unresolved one on,
        # and the ids of batches in flight under an older epoch
        self._numbered: dict[Any, deque[ProducerBatch]] = {}
        self._stale: dict[Any, set[int]] = {}
        self._next_batch_id = 0
        self._buffered = 0
        self._blocked: deque[tuple] = deque()
        self._flush_waiters: list[tuple[float, simpy.Event]] = []
        self._wake_pending = False
        self._timer_at = float("inf")
        self._closed = False
        self.requests_sent = 0
        self.batches_sent = 0
        self._acks0_travelling = 0  # acks=0 requests on the wire (the leader has not seen them)
        self._planner = Planner(self)
        self.sim.on_sync(self._planner.sync)
        cluster.link.watch(self._planner.leave)
        cluster.register_client(self.client_id, self)
        cluster.broker_listeners.append(self._broker_down)
        # faults begin: the planner hands over first, then waiting answers get their timeouts
        cluster.regime_listeners.append(self._planner.leave_for_faults)
        cluster.regime_listeners.append(self._replicating)
        cluster.steady_listeners.append(self._planner.maybe_start)

    # ---- public API ----------------------------------------------------------------------
    def send(self, topic: str, value: Any = None, key: Any = None,
             partition: int | None = None, timestamp: float | None = None,
             headers: Sequence[tuple[str, bytes]] | None = None) -> simpy.Event:
        """Send one record; the event succeeds with ``RecordMetadata`` or fails with a
        ``KafkaError``. ``timestamp`` is in simulated seconds (default: now)."""
        env = self.env
        event = env.event()
        event.defused = True
        try:
            if self._closed:
                raise IllegalStateError("Cannot perform operation after producer has been closed")
            kbytes = _serialize(key, "key")
            vbytes = _serialize(value, "value")
            t = self._topic(topic)
            ksize = -1 if kbytes is None else len(kbytes)
            vsize = -1 if vbytes is None else len(vbytes)
            size = max(ksize, 0) + max(vsize, 0)
            self._check_size(size)
            part = self._choose_partition(t, kbytes, partition)
        except KafkaError as err:
            event.fail(err)
            return event
        self._planner.leave()  # send() batches are the event path's
        now = env.now
        msg = self._trace.new_message_id()
        key_id = -1 if kbytes is None else self.cluster.keys.id(kbytes)
        self.cluster.values[msg] = vbytes
        if self._tracing:
            self._trace.published.append(msg=msg, t=now, source=self.source, channel=t.id,
                                         size=size, partition=part.index, offset=-1)
        record = (part, msg, now if timestamp is None else float(timestamp), size, key_id,
                  vbytes is None, event, ksize, vsize)
        if self._blocked or self._buffered + size > self.buffer_memory:
            self._block(record)
        else:
            self._accumulate(*record)
        if partition is None and (kbytes is None or self.config["partitioner.ignore.keys"]):
            self._sticky_for(t).record(size)
        return event

    def produce(self, topic: str, times: Sequence[float] | np.ndarray,
                sizes: Sequence[int] | np.ndarray, keys: Sequence[bytes] | np.ndarray | None
                = None, partitions: Sequence[int] | np.ndarray | None = None) -> BulkSend:
        """Send a workload in bulk: record ``i`` of ``sizes[i]`` bytes at time ``times[i]``.

        ``times`` must be sorted and not in the past. ``keys``: key bytes, or key ids from
        ``cluster.keys`` (int array, -1 = null key), or None (all null keys, sticky
        partitioning). ``partitions`` overrides the partitioner. Returns a ``BulkSend`` whose
        ``done`` event fires when every record is acknowledged or failed.
        """
        if self._closed:
            raise IllegalStateError("Cannot perform operation after producer has been closed")
        t = self._topic(topic)
        times = np.asarray(times, dtype=np.float64)
        sizes = np.asarray(sizes, dtype=np.int64)
        n = len(times)
        if sizes.shape != (n,) or times.ndim != 1:
            raise ValueError("times and sizes must be 1-D arrays of the same length")
        if n and (bool((times[1:] < times[:-1]).any()) or times[0] < self.env.now):
            raise ValueError("times must be sorted and not before the current simulated time")
        if n and (sizes.min() < 0 or sizes.max() > min(self.max_request_size, self.buffer_memory)):
            raise RecordTooLargeError(
                f"a record of {int(sizes.max())} bytes is larger than max.request.size "
                f"({self.max_request_size}) or buffer.memory")
        key_ids = self._key_ids(keys, n)
        parts = self._bulk_partitions(t, sizes, key_ids, partitions)
        bulk = BulkSend(topic, times, sizes, key_ids, self._trace.new_message_ids(n),
                        parts, np.full(n, -1, dtype=np.int64), np.full(n, np.nan),
                        np.zeros(n, dtype=np.int16), self.env.event(), pending=n)
        if n == 0:
            bulk.done.succeed(bulk)
            return bulk
        planner = self._planner
        fast = planner.active
        if fast:  # new records may join batches planned after now: re-plan from now
            planner.epoch += 1
            planner.revoke(self.env.now)
        nparts = len(t.partitions)
        # records grouped by partition, in send order (a 16-bit key sorts by radix)
        order = np.argsort(parts.astype(np.int16) if nparts <= 32768 else parts, kind="stable")
        bounds = np.zeros(nparts + 1, dtype=np.int64)
        np.cumsum(np.bincount(parts, minlength=nparts), out=bounds[1:])
        # the columns in partition order, gathered once: each feed's are views of a stretch
        ptimes, psizes, pmsg, pkeys = times[order], sizes[order], bulk.msg[order], key_ids[order]
        pcum = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(psizes, out=pcum[1:])
        for p, (a, b) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
            if b > a:
                pq = self._pq(t.partitions[p])
                pq.feeds.append(Feed(bulk, order[a:b], ptimes[a:b], pcum[a:b + 1] - pcum[a],
                                     pmsg[a:b], psizes[a:b], pkeys[a:b]))
                self._refresh(pq)
        if fast:
            planner.replan()
        else:
            self._wake_at(float(times[0]))
            planner.maybe_start()
        return bulk

    def flush(self) -> simpy.Event:
        """Event that succeeds when every record sent so far is acknowledged or failed; all
        batches are sent without waiting for ``linger.ms`` meanwhile."""
        self._planner.leave()
        event = self.env.event()
        self._flush_waiters.append((self.env.now, event))
        self._check_flush()
        self._wake()
        return event

    def close(self) -> simpy.Event:
        """Flush, then refuse further sends."""
        event = self.flush()
        self._closed = True
        return event

    def partitions_for(self, topic: str) -> list[int]:
        return list(range(len(self._topic(topic).partitions)))

    # ---- partitioning --------------------------------------------------------------------
    def _topic(self, name: str):
        cluster = self.cluster
        topic = cluster.topics.get(name)
        if topic is None:
            if not cluster.config["auto.create.topics.enable"]:
                raise KafkaTimeoutError(
                    f"Topic {name} not present in metadata after "
                    f"{self.config['max.block.ms']} ms.")
            topic = cluster.create_topic(name)
        return topic

    def _check_size(self, size: int) -> None:
        if size > self.max_request_size:
            raise RecordTooLargeError(
                f"The message is {size} bytes when serialized which is larger than "
                f"{self.max_request_size}, which is the value of the max.request.size "
                f"configuration.")
        if size > self.buffer_memory:
            raise RecordTooLargeError(
                f"The message is {size} bytes when serialized which is larger than the total "
                f"memory buffer you have configured with the buffer.memory configuration.")

    def _sticky_for(self, topic) -> StickyPartitioner:
        sticky = self._sticky.get(topic.name)
        if sticky is None or sticky.partitions != len(topic.partitions):
            sticky = self._sticky[topic.name] = StickyPartitioner(
                len(topic.partitions), self.batch_size, self._rng)
        return sticky

    def _choose_partition(self, topic, kbytes: bytes | None, partition: int | None):
        n = len(topic.partitions)
        if partition is not None:
            if not isinstance(partition, int | np.integer) or not 0 <= partition < n:
                raise KafkaError(f"Invalid partition given with record: {partition} is not in "
                                 f"the range [0...{n}).")
            return topic.partitions[int(partition)]
        if kbytes is not None and not self.config["partitioner.ignore.keys"]:
            h = self.cluster.keys.murmur2(np.array([self.cluster.keys.id(kbytes)]))
            return topic.partitions[int(partitions_for_hashes(h, n)[0])]
        return topic.partitions[self._sticky_for(topic).partition()]

    def _key_ids(self, keys, n: int) -> np.ndarray:
        if keys is None:
            return np.full(n, -1, dtype=np.int64)
        if isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
            ids = keys.astype(np.int64)
            if len(ids) and ids.max() >= len(self.cluster.keys):
                raise ValueError("key ids must come from cluster.keys")
        else:
            keys = list(keys)
            ids = np.full(len(keys), -1, dtype=np.int64)
            present = [i for i, k in enumerate(keys) if k is not None]
            if present:
                ids[present] = self.cluster.keys.ids(
                    [_serialize(keys[i], "key") for i in present])
        if len(ids) != n:
            raise ValueError("keys must have one entry per record")
        return ids

    def _bulk_partitions(self, topic, sizes, key_ids, partitions) -> np.ndarray:
        n_parts = len(topic.partitions)
        if partitions is not None:
            parts = np.asarray(partitions, dtype=np.int32)
            if parts.shape != sizes.shape or (len(parts) and (
                    parts.min() < 0 or parts.max() >= n_parts)):
                raise ValueError(f"partitions must be in [0, {n_parts}), one per record")
            return parts
        keyed = key_ids >= 0
        if self.config["partitioner.ignore.keys"]:
            keyed[:] = False
        if not keyed.any():  # all sticky
            return self._sticky_for(topic).assign(sizes)
        parts = np.empty(len(sizes), dtype=np.int32)
        parts[keyed] = partitions_for_hashes(self.cluster.keys.murmur2(key_ids[keyed]), n_parts)
        if not keyed.all():
            parts[~keyed] = self._sticky_for(topic).assign(sizes[~keyed])
        return parts

    # ---- accumulator ---------------------------------------------------------------------
    def _pq(self, part) -> PartitionQueue:
        pq = self._pqs.get(part)
        if pq is None:
            pq = self._pqs[part] = PartitionQueue(part)
            self._join_broker(pq)
        return pq

    def _join_broker(self, pq: PartitionQueue) -> None:
        peers = self._by_broker.setdefault(pq.broker, [])
        peers.append(pq)
        peers.sort(key=lambda q: (q.part.topic, q.part.index))
        self._inflight.setdefault(pq.broker, 0)
        if pq.broker < 0:
            self._refresh_later()

    # ---- metadata: who leads a partition ---------------------------------------------------
    def _reroute(self, pq: PartitionQueue) -> None:
        """Metadata update after an error: send the partition's batches to its current leader
        (no leader: wait, and look again every ``retry.backoff.ms``)."""
        leader = pq.part.leader
        if leader != pq.broker:
            self._by_broker[pq.broker].remove(pq)
            pq.broker = leader
            self._join_broker(pq)
        elif leader < 0:
            self._refresh_later()

    def _refresh_later(self) -> None:
        if not self._refresh_pending:
            self._refresh_pending = True
            self.sim.call_at(self.env.now + self.backoff, self._refresh_metadata)

    def _refresh_metadata(self) -> None:
        """Look up the leaders again; keep looking while a partition has none or its leader's
        broker is down (the connection to it failed)."""
        self._refresh_pending = False
        brokers = self.cluster.brokers
        waiting = False
        for pq in list(self._pqs.values()):
            if pq.part.leader != pq.broker:
                self._reroute(pq)
            waiting |= pq.broker < 0 or not brokers[pq.broker].up
        if waiting:
            self._refresh_later()
        self._run_sender()

    def _refresh(self, pq: PartitionQueue) -> None:
        pq.refresh(self.env.now, self.linger, self.batch_size, self.delivery_timeout)
        if pq.expire_at < self._expire_at:
            self._expire_at = pq.expire_at

    def _accumulate(self, part, msg, ts, size, key_id, null, event, ksize, vsize) -> None:
        pq = self._pq(part)
        batch = pq.open
        if batch is not None and batch.nbytes + size > self.batch_size:
            batch.full = True
            pq.open = batch = None
            self._wake()
        if batch is None:
            batch = self._new_batch(part, self.env.now)
            pq.queue.append(batch)
            pq.open = batch
            if self.linger > 0:
                self.env.timeout(self.linger).callbacks.append(
                    lambda _event: self._on_timer(self.env.now))
            else:
                self._wake()
        batch.add(msg, ts, size, key_id, null, event, ksize, vsize)
        self._buffered += size
        if batch.nbytes >= self.batch_size:
            batch.full = True
            pq.open = None
            self._wake()
        self._refresh(pq)

    def _new_batch(self, part, created: float) -> ProducerBatch:
        batch = ProducerBatch(self._next_batch_id, part, created, created + self.linger)
        self._next_batch_id += 1
        self._unfinished[batch.id] = batch
        return batch

    def _block(self, record: tuple) -> None:
        self._blocked.append(record)
        deadline = self.env.now + self.max_block
        self.sim.call_at(deadline, self._block_expired, record)

    def _block_expired(self, record: tuple) -> None:
        try:
            self._blocked.remove(record)
        except ValueError:
            return  # admitted meanwhile
        error = BufferExhaustedError(
            f"Failed to allocate {record[3]} bytes within the configured max blocking time "
            f"{self.config['max.block.ms']} ms.")
        self._record_failure(np.array([record[1]]), record[0], error)
        record[6].fail(error)

    def _admit_blocked(self) -> None:
        while self._blocked and self._buffered + self._blocked[0][3] <= self.buffer_memory:
            self._accumulate(*self._blocked.popleft())

    # ---- sender --------------------------------------------------------------------------
    def _wake(self) -> None:
        """Run the sender after everything else scheduled for this instant (the sender thread
        runs after the application's sends)."""
        if not self._wake_pending:
            self._wake_pending = True
            self.env.timeout(0).callbacks.append(self._on_wake)

    def _wake_at(self, t: float) -> None:
        now = self.env.now
        if t <= now:
            self._wake()
        elif t < self._timer_at:
            self._timer_at = t
            timer = self.env.timeout(t - now)
            timer.callbacks.append(lambda _event, at=t: self._on_timer(at))

    def _on_timer(self, at: float) -> None:
        # ``now`` may land a rounding error short of ``at`` (now + (t - now) != t in floats):
        # the timer that was armed for ``_timer_at`` has fired either way, so disarm it, or a
        # later re-arm at the same time would be refused and the sender would stall.
        if at >= self._timer_at:
            self._timer_at = float("inf")
        self._run_sender()

    def _on_wake(self, _event) -> None:
        self._wake_pending = False
        self._run_sender()

    def _run_sender(self) -> None:
        """One pass of Kafka's ``Sender.sendProducerData``: expire, then drain ready brokers."""
        if self._planner.active:
            return  # the planner sends the bulk feeds (models.kafka.planner)
        now = self.env.now
        if now >= self._expire_at:
            self._expire(now)
        flushing = bool(self._flush_waiters) or self._closed
        acks0 = self.acks == "0"
        limit = self.max_in_flight
        inflight = self._inflight
        next_t = self._expire_at
        for broker, pqs in list(self._by_broker.items()):
            if broker < 0:
                continue  # no leader known: the batches wait for a metadata refresh
            while acks0 or inflight[broker] < limit:
                if not any(pq.ready_at <= now or (flushing and pq.sendable(now)) for pq in pqs):
                    break
                batches = self._drain(broker, pqs, now)
                if not batches:
                    break
                self._send(broker, batches, now)
            if acks0 or inflight[broker] < limit:
                for pq in pqs:
                    if now < pq.ready_at < next_t:
                        next_t = pq.ready_at
        if next_t < float("inf"):
            self._wake_at(next_t)
        self._planner.maybe_start()

    def _drain(self, broker: int, pqs: list[PartitionQueue], now: float) -> list[ProducerBatch]:
        """Head batches of the broker's partitions for one request (``drainBatchesForOneNode``),
        ready or not, up to ``max.request.size``, starting after the previous start."""
        n = len(pqs)
        start = self._drain_index.get(broker, 0) % n
        self._drain_index[broker] = start + 1
        out: list[ProducerBatch] = []
        size = 0
        cut: list[ProducerBatch] = []
        for i in range(n):
            pq = pqs[(start + i) % n]
            batch = self._peek(pq, now, self.max_request_size - size if out else None)
            if batch is None:
                continue
            if batch is _NO_ROOM or (out and size + batch.nbytes > self.max_request_size):
                break  # it stays for the next request (drainBatchesForOneNode)
            if not (pq.queue and pq.queue[0] is batch):
                cut.append(batch)  # freshly cut from a bulk feed: sent now
            self._take(pq, batch)
            out.append(batch)
            size += batch.nbytes
        if cut:
            self._trace_published(cut)
        return out

    def _peek(self, pq: PartitionQueue, now: float,
              room: int | None = None) -> ProducerBatch | object | None:
        """The partition's next batch to drain now, if any; ``_NO_ROOM`` when it would have
        to be cut from a bulk feed but does not fit in ``room`` bytes (nothing is cut then)."""
        queue = pq.queue
        if self.idempotent and not (queue and queue[0].base_seq >= 0) and (
                self._window_full(pq) or self._stale.get(pq.part)):
            # a new sequence would push a retry out of the broker's memory, or overtake a
            # batch of the old epoch still in flight (shouldStopDrainBatchesForPartition)
            return None
        if queue:
            head = queue[0]
            if head.retry_at > now or (head.base_seq >= 0 and pq.inflight):
                return None
            return head
        feeds = pq.feeds
        while feeds:
            feed = feeds[0]
            if feed.pos < len(feed.idx):
                end = feed.arrived(now)
                if end <= feed.pos:
                    return None
                end = feed.cut(end, self.batch_size)
                if room is not None and feed.cum[end] - feed.cum[feed.pos] > room:
                    return _NO_ROOM
                return self._cut(pq.part, feed, end)
            feeds.popleft()
        return None

    def _window_full(self, pq: PartitionQueue) -> bool:
        """Whether the partition has ``NUM_BATCHES_TO_RETAIN`` numbered batches from its oldest
        unresolved one on (acknowledged ones after it count: the broker remembers them)."""
        numbered = self._numbered.get(pq.part)
        if not numbered:
            return False
        while numbered and numbered[0].done:
            numbered.popleft()
        return len(numbered) >= NUM_BATCHES_TO_RETAIN

    def _cut(self, part, feed: Feed, end: int) -> ProducerBatch:
        """A batch of the feed's next records up to ``end`` (they count as sent now)."""
        batch = ProducerBatch.from_feed(self._next_batch_id, part, feed, end, self.linger)
        self._next_batch_id += 1
        self._unfinished[batch.id] = batch
        self._buffered += batch.nbytes
        return batch

    def _trace_published(self, batches: list[ProducerBatch]) -> None:
        if not self._tracing:
            return
        if len(batches) == 1:
            b = batches[0]
            self._trace.published.extend(msg=b.msg, t=b.ts, source=self.source,
                                         channel=b.partition.topic_id, size=b.size,
                                         partition=b.partition.index, offset=-1)
            return
        counts = [b.count for b in batches]
        self._trace.published.extend(
            msg=np.concatenate([b.msg for b in batches]),
            t=np.concatenate([b.ts for b in batches]), source=self.source,
            channel=np.repeat([b.partition.topic_id for b in batches], counts),
            size=np.concatenate([b.size for b in batches]),
            partition=np.repeat([b.partition.index for b in batches], counts), offset=-1)

    def _take(self, pq: PartitionQueue, batch: ProducerBatch) -> None:
        queue = pq.queue
        if queue and queue[0] is batch:
            queue.popleft()
        if pq.open is batch:
            pq.open = None
        batch.freeze()
        if self.idempotent and batch.base_seq < 0:
            batch.base_seq = pq.next_seq
            batch.pid = self.producer_id
            pq.next_seq += batch.count
            self._numbered.setdefault(pq.part, deque()).append(batch)
        batch.attempts += 1
        self._refresh(pq)

    def _expire(self, now: float) -> None:
        """Fail batches whose ``delivery.timeout.ms`` ran out before they could be sent."""
        limit = self.delivery_timeout
        self._expire_at = float("inf")
        for pq in self._pqs.values():
            queue = pq.queue
            while queue and now >= queue[0].created + limit:
                batch = queue.popleft()
                if pq.open is batch:
                    pq.open = None
                batch.freeze()
                self._fail(batch, self._expired_error(batch, now))
            if not queue:
                for feed in pq.feeds:
                    while feed.pos < len(feed.idx) and now >= feed.t[feed.pos] + limit:
                        batch = self._cut(pq.part, feed, feed.cut(feed.arrived(now),
                                                                  self.batch_size))
                        self._trace_published([batch])
                        self._fail(batch, self._expired_error(batch, now))
            self._refresh(pq)

    @staticmethod
    def _expired_error(batch: ProducerBatch, now: float) -> KafkaTimeoutError:
        part = batch.partition
        return KafkaTimeoutError(
            f"Expiring {batch.count} record(s) for {part.topic}-{part.index}:"
            f"{round((now - batch.created) * 1000)} ms has passed since batch creation")

    # ---- requests ------------------------------------------------------------------------
    def _send(self, broker: int, batches: list[ProducerBatch], now: float) -> None:
        self.requests_sent += 1
        self.batches_sent += len(batches)
        env = self.env
        hop = self.cluster.client_hop(self.client_id, broker)
        if self.acks == "0":
            self._complete_all(batches, [(-1, -1.0)] * len(batches))
            if hop is None:
                until = now + self.request_timeout
                held = _Request(broker, batches, now)  # ``done`` once the cut let it through

                def deliver(held: _Request = held) -> None:
                    held.done = True
                    self._arrive_acks0(held.batches, broker)
                if self._hold(broker, True, until, deliver):
                    # TCP holds it across the cut; not through before the heal: lost
                    self._acks0_travelling += 1
                    self.sim.call_at(until, self._lost_if_held, held)
                else:
                    self._lost_acks0(batches)
            else:
                self._acks0_travelling += 1
                env.timeout(hop).callbacks.append(
                    lambda _e, b=batches: self._arrive_acks0(b, broker))
            return
        request = _Request(broker, batches, now)
        self._inflight[broker] += 1
        self._open[request] = None
        pqs = self._pqs
        for batch in batches:
            pqs[batch.partition].inflight += 1
        if hop is None:
            self._time_out_later(request)
            self._hold(broker, True, now + self.request_timeout, lambda: self._arrive(request))
        else:
            env.timeout(hop).callbacks.append(lambda _e: self._arrive(request))

    def _hold(self, broker: int, to_broker: bool, until: float, deliver) -> bool:
        """A hop across a cut between this client and ``broker``: TCP delivers it after the
        heal unless ``until`` (the request's timeout) comes first."""
        me, b = self.client_id, broker_name(broker)
        src, dst = (me, b) if to_broker else (b, me)
        return self.cluster.net.hold(src, dst, until, deliver)

    def _append_all(self, batches: list[ProducerBatch], acks: str, broker: int) -> list:
        """The broker handles a produce request: append each batch on the partitions it
        leads; ``NotLeaderOrFollower`` for the others."""
        pid = self.producer_id
        results = []
        for b in batches:
            part = b.partition
            if part.leader != broker:
                results.append(AppendResult(error=NotLeaderOrFollowerError(
                    f"Broker {broker} is not the leader of {part.topic}-{part.index}")))
            else:
                results.append(part.append(b.msg, b.ts, b.size, b.key, b.null, acks,
                                           b.pid if b.pid >= 0 else pid, b.base_seq,
                                           record=False))
        done = [(b, r) for b, r in zip(batches, results, strict=True)
                if r.error is None and not r.duplicate]
        if acks != "all":
            for b, r in done:
                b.partition._track_unreplicated(r.base_offset, r.base_offset + b.count, self, b)
        if self._tracing and done:
            counts = [b.count for b, _ in done]
            self.cluster.appended.extend(
                msg=np.concatenate([b.msg for b, _ in done]),
                channel=np.repeat([b.partition.topic_id for b, _ in done], counts),
                partition=np.repeat([b.partition.index for b, _ in done], counts),
                offset=np.concatenate([np.arange(r.base_offset, r.base_offset + b.count)
                                       for b, r in done]), t=self.env.now)
        return results

    def _arrive_acks0(self, batches: list[ProducerBatch], broker: int) -> None:
        resume = self.cluster.broker_resume_at(broker)
        if resume > self.env.now and resume < float("inf"):
            self.sim.call_at(resume, self._arrive_acks0, batches, broker)
            return
        self._acks0_travelling -= 1
        if resume == float("inf"):
            self._lost_acks0(batches)  # nobody listens: the bytes are gone
        else:
            results = self._append_all(batches, "0", broker)
            self._lost_acks0([b for b, r in zip(batches, results, strict=True)
                              if r.error is not None])
        self._planner.maybe_start()

    def _lost_if_held(self, held: _Request) -> None:
        """An ``acks=0`` request held by a cut that did not heal in time is lost."""
        if not held.done:
            held.done = True
            self._acks0_travelling -= 1
            self._lost_acks0(held.batches)
            self._planner.maybe_start()

    def _lost_acks0(self, batches: list[ProducerBatch]) -> None:
        """``acks=0`` batches that never made it into the log (already reported as sent)."""
        if self._tracing and batches:
            self._trace.dropped.extend(msg=np.concatenate([np.asarray(b.msg) for b in batches]),
                                       receiver=-1, t=self.env.now, reason=_ACKS0)

    def _arrive(self, request: _Request) -> None:
        """The leader handles the request; the response leaves when acks allow."""
        if request.done:
            return
        broker = request.broker
        resume = self.cluster.broker_resume_at(broker)
        if resume == float("inf"):  # connection refused
            self.sim.call_at(self.env.now + self.cluster.latency, self._fail_request,
                             request, NetworkError(f"Connection to node {broker} failed"))
            return
        if resume > self.env.now:  # a paused broker reads the request when it resumes
            self.sim.call_at(resume, self._arrive, request)
            return
        results = self._append_all(request.batches, self.acks, broker)
        if self.acks == "all" and self._await_hw(request, results):
            return
        self._respond(request, results)

    def _await_hw(self, request: _Request, results: list) -> bool:
        """``acks=all``: the answer leaves once the HW covers every batch appended (False if
        none was)."""
        pending = [(b, r) for b, r in zip(request.batches, results, strict=True)
                   if r.error is None]
        if not pending:
            return False
        request.waiting = len(pending)
        for batch, result in pending:
            batch.partition.await_high_watermark(
                result.base_offset + batch.count,
                lambda error, r=result: self._covered(request, results, r, error))
        if request.waiting and self.cluster.replicating:
            self._time_out_later(request)  # the HW may never get there
        return True

    def _covered(self, request: _Request, results: list, result: AppendResult,
                 error: KafkaError | None) -> None:
        """``acks=all``: the HW covers one batch of the request (or its leader moved)."""
        if error is not None:
            result.error = error
        request.waiting -= 1
        if request.waiting == 0:
            self._respond(request, results)

    def _respond(self, request: _Request, results) -> None:
        if request.done:
            return
        broker = request.broker
        resume = self.cluster.broker_resume_at(broker)
        if resume == float("inf"):
            return  # the broker died first: the client saw its connection reset
        if resume > self.env.now:
            self.sim.call_at(resume, self._respond, request, results)
            return
        request.answered = True
        hop = self.cluster.client_hop(self.client_id, broker, to_broker=False)
        if hop is None:
            self._time_out_later(request)
            self._hold(broker, False, request.sent + self.request_timeout,
                       lambda: self._on_response(request, results))
        else:
            self.env.timeout(hop).callbacks.append(
                lambda _e: self._on_response(request, results))

    def _time_out_later(self, request: _Request) -> None:
        self.sim.call_at(request.sent + self.request_timeout, self._on_request_timeout, request)

    def _replicating(self) -> None:
        """Faults begin: an ``acks=all`` answer may now never come, so requests waiting for
        the HW time out after ``request.timeout.ms`` like any other (steady, they cannot)."""
        for request in self._open:
            if request.waiting:
                self._time_out_later(request)

    def _broker_down(self, broker: int) -> None:
        """A broker died: its connections reset, so requests it has not answered fail
        (``NetworkException``) one latency later, and the producer refreshes its metadata
        until the partitions have a live leader again."""
        if any(pq.broker == broker for pq in self._pqs.values()):
            self._refresh_later()
        for request in list(self._open):
            if request.broker == broker and not request.answered:
                self.sim.call_at(self.env.now + self.cluster.latency, self._fail_request,
                                 request, NetworkError(
                                     f"Connection to node {broker} was disconnected"))

    def _finish_request(self, request: _Request) -> bool:
        if request.done:
            return False
        request.done = True
        self._open.pop(request, None)
        self._inflight[request.broker] -= 1
        stale = self._stale
        for batch in request.batches:
            pq = self._pqs[batch.partition]
            pq.inflight -= 1
            if stale:
                stale.get(batch.partition, set()).discard(batch.id)
            self._refresh(pq)
        return True

    def _fail_request(self, request: _Request, error: KafkaError) -> None:
        if not self._finish_request(request):
            return
        for batch in request.batches:
            self._retry_or_fail(batch, error)
        self._run_sender()

    def _on_request_timeout(self, request: _Request) -> None:
        self._fail_request(request, KafkaTimeoutError(
            f"Request to broker {request.broker} timed out after "
            f"{self.config['request.timeout.ms']} ms"))

    def _on_response(self, request: _Request, results) -> None:
        if not self._finish_request(request):
            return
        good = []
        for batch, result in zip(request.batches, results, strict=True):
            if result.error is None:
                good.append((batch, (result.base_offset, result.log_append_time)))
            else:
                self._retry_or_fail(batch, result.error)
        if good:
            self._complete_all([b for b, _ in good], [r for _, r in good])
        self._run_sender()

    def _truncated(self, batch: ProducerBatch, msg: np.ndarray) -> None:
        """A leader change truncated ``msg`` of ``batch`` (``acks=0``/``acks=1``) before the
        followers had them: lost if the producer is, or will be, told they were written."""
        if batch.acked:
            self._trace_lost(batch, msg)
        elif not batch.done:
            batch.lost = msg  # the success response may still be on its way

    def _trace_lost(self, batch: ProducerBatch, msg: np.ndarray) -> None:
        if self._tracing and len(msg):
            self._trace.dropped.extend(msg=msg, receiver=-1, t=self.env.now,
                                       reason=_ACKS0 if self.acks == "0" else _ACKS1)

    # ---- outcomes ------------------------------------------------------------------------
    def _retry_or_fail(self, batch: ProducerBatch, error: KafkaError) -> None:
        if batch.done:
            return
        now = self.env.now
        pq = self._pqs[batch.partition]
        retriable = error.retriable
        if isinstance(error, OutOfOrderSequenceError):
            if getattr(error, "expected", pq.acked_seq + 1) <= pq.acked_seq:
                # the leader lost records we had acknowledged (unclean election): bump the
                # epoch and start the sequences again (KIP-360), then retry
                self._reset_sequences()
                retriable = True
            else:
                # our own earlier batch failed: resend in order (TransactionManager.canRetry);
                # a batch of an older epoch is numbered again when resent
                retriable = batch.pid != self.producer_id or batch.base_seq != pq.acked_seq + 1
        batch.lost = None
        deadline = batch.created + self.delivery_timeout
        if not retriable or batch.attempts > self.retries or now >= deadline:
            if retriable and now >= deadline:
                error = self._expired_error(batch, now)
            self._fail(batch, error)
            return
        exp = 2.0 ** (batch.attempts - 1)
        backoff = min(self.backoff * exp, max(self.backoff_max, self.backoff))
        batch.retry_at = now + backoff * self._rng.uniform(0.8, 1.2)
        self._reroute(pq)
        if self.idempotent and batch.pid != self.producer_id:
            batch.base_seq = -1  # numbered again under the new epoch when sent
        queue = pq.queue
        if self.idempotent:  # insertInSequenceOrder
            i = 0
            while i < len(queue) and 0 <= queue[i].base_seq < batch.base_seq:
                i += 1
            if batch.base_seq < 0:
                # to be numbered again: after the numbered ones, in the order first sent
                while i < len(queue) and (queue[i].base_seq >= 0 or queue[i].id < batch.id):
                    i += 1
            queue.insert(i, batch)
        else:
            queue.appendleft(batch)
        self._refresh(pq)
        self._wake_at(min(batch.retry_at, deadline))

    def _complete_all(self, batches: list[ProducerBatch], results: list[tuple[int, float]]) -> None:
        """Batches acknowledged with (base offset, log append time); -1 offsets for acks=0."""
        now = self.env.now
        offsets = []
        for batch, (base, append_time) in zip(batches, results, strict=True):
            batch.done = True
            batch.acked = True
            if batch.lost is not None:
                self._trace_lost(batch, batch.lost)
            self._release(batch)
            part = batch.partition
            n = batch.count
            if base >= 0:
                offs = np.arange(base, base + n, dtype=np.int64)
                if self.idempotent and batch.pid == self.producer_id:
                    pq = self._pqs[part]  # a retry's answer may come after later batches'
                    pq.acked_seq = max(pq.acked_seq, batch.base_seq + n - 1)
            else:
                offs = np.full(n, -1, dtype=np.int64)
            offsets.append(offs)
            if batch.futures is not None:
                log_append = append_time >= 0 and part.log.config[
                    "message.timestamp.type"] == "LogAppendTime"
                for i, future in enumerate(batch.futures):
                    future.succeed(RecordMetadata(
                        part.topic, part.index, int(offs[i]),
                        append_time if log_append else float(batch.ts[i]),
                        batch.ksize[i], batch.vsize[i], int(batch.msg[i])))
            if batch.bulk is not None:
                bulk = batch.bulk
                bulk.offset[batch.bulk_idx] = offs
                bulk.acked_at[batch.bulk_idx] = now
                self._bulk_progress(bulk, n)
        if self._tracing:
            if len(batches) == 1:
                b = batches[0]
                self._trace.acked.extend(msg=b.msg, t=now, partition=b.partition.index,
                                         offset=offsets[0])
            else:
                self._trace.acked.extend(
                    msg=np.concatenate([b.msg for b in batches]), t=now,
                    partition=np.repeat([b.partition.index for b in batches],
                                        [b.count for b in batches]),
                    offset=np.concatenate(offsets))
        self._after_batch()

    def _fail(self, batch: ProducerBatch, error: KafkaError) -> None:
        if batch.done:
            return
        batch.done = True
        if (self.idempotent and batch.base_seq >= 0 and batch.pid == self.producer_id
                and self._pqs[batch.partition].acked_seq < batch.base_seq + batch.count - 1):
            # a numbered batch failed and no later one was acknowledged: the broker may never
            # see this sequence, so every later batch would be OutOfOrderSequence. Kafka's
            # idempotent producer bumps its epoch and numbers again from 0 (KIP-360;
            # TransactionManager.handleFailedBatch / maybeResolveSequences)
            self._reset_sequences()
        self._release(batch)
        self._record_failure(np.asarray(batch.msg), batch.partition, error)
        if batch.futures is not None:
            for future in batch.futures:
                future.fail(error)
        if batch.bulk is not None:
            bulk = batch.bulk
            bulk.error[batch.bulk_idx] = error.code
            if len(bulk.errors) < 100:
                bulk.errors.append(error)
            self._bulk_progress(bulk, batch.count)
        self._after_batch()

    def _record_failure(self, msg: np.ndarray, part, error: KafkaError) -> None:
        if not self._tracing:
            return
        now = self.env.now
        self._trace.table("send_failed").extend(msg=msg, t=now, channel=part.topic_id,
                                                partition=part.index, error=error.code)
        reason = None
        if isinstance(error, KafkaTimeoutError):
            reason = "delivery-timeout"
        elif isinstance(error, NotEnoughReplicasError):
            reason = "not-enough-replicas"
        if reason is not None:
            self._trace.dropped.extend(msg=msg, receiver=-1, t=now, reason=REASON_CODE[reason])

    def _reset_sequences(self) -> None:
        """A new producer epoch (here: a new producer id): every partition's sequence numbers
        start again at 0; batches not yet acknowledged are numbered again when next sent."""
        self.producer_id = self.cluster.new_producer_id()
        self._numbered.clear()  # batches not acknowledged are numbered again when sent
        for request in self._open:
            for batch in request.batches:
                self._stale.setdefault(batch.partition, set()).add(batch.id)
        for pq in self._pqs.values():
            pq.next_seq = 0
            pq.acked_seq = -1
            for queued in pq.queue:
                queued.base_seq = -1

    def _release(self, batch: ProducerBatch) -> None:
        self._unfinished.pop(batch.id, None)
        self._buffered -= batch.nbytes

    @staticmethod
    def _bulk_progress(bulk: BulkSend, n: int) -> None:
        bulk.pending -= n
        if bulk.pending == 0:
            bulk.done.succeed(bulk)

    def _after_batch(self) -> None:
        if self._blocked:
            self._admit_blocked()
        if self._flush_waiters:
            self._check_flush()

    def _check_flush(self) -> None:
        waiting = []
        for since, event in self._flush_waiters:
            pending = bool(self._blocked) or any(
                b.created <= since for b in self._unfinished.values()) or any(
                f.pos < len(f.idx) and f.t[f.pos] <= since
                for pq in self._pqs.values() for f in pq.feeds)
            if pending:
                waiting.append((since, event))
            else:
                event.succeed()
        self._flush_waiters = waiting
