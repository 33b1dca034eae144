"""The producer's per-partition queue (Kafka's ``RecordAccumulator`` deque for one partition).

A ``PartitionQueue`` holds the partition's batches in send order (the last one open while it
has room), the bulk feeds waiting to be cut into batches, the number of its batches in flight,
its idempotence sequence numbers, and two cached times the sender reads instead of rescanning
every batch on each wake-up: ``ready_at`` (when the head batch may be drained: at once when it
is full, has a batch behind it or is a retry; ``linger.ms`` after its creation otherwise; after
its retry backoff) and ``expire_at`` (when its oldest record reaches ``delivery.timeout.ms``).
"""

from __future__ import annotations

from collections import deque

from models.kafka.batches import Feed, ProducerBatch

INF = float("inf")


class PartitionQueue:
    __slots__ = ("acked_seq", "broker", "expire_at", "feeds", "inflight", "next_seq", "open",
                 "part", "queue", "ready_at")

    def __init__(self, part) -> None:
        self.part = part
        self.broker: int = part.leader
        self.queue: deque[ProducerBatch] = deque()
        self.open: ProducerBatch | None = None
        self.feeds: deque[Feed] = deque()
        self.inflight = 0
        self.next_seq = 0
        self.acked_seq = -1
        self.ready_at = INF
        self.expire_at = INF

    def refresh(self, now: float, linger: float, batch_size: int, timeout: float) -> None:
        """Recompute ``ready_at`` and ``expire_at`` after the queue changed."""
        queue = self.queue
        if queue:
            head = queue[0]
            self.expire_at = head.created + timeout
            if head.retry_at > now:
                self.ready_at = head.retry_at
            elif head.base_seq >= 0 and self.inflight:
                self.ready_at = INF  # a retry waits for the partition's in-flight batches
            elif head.full or head.attempts or len(queue) > 1:
                self.ready_at = -INF
            else:
                self.ready_at = head.deadline
            return
        feeds = self.feeds
        while feeds and feeds[0].pos >= len(feeds[0].idx):
            feeds.popleft()
        if feeds:
            feed = feeds[0]
            self.expire_at = float(feed.t[feed.pos]) + timeout
            self.ready_at = feed.ready_at(linger, batch_size)
        else:
            self.ready_at = self.expire_at = INF

    def sendable(self, now: float) -> bool:
        """Whether a batch could be drained now if the producer is flushing."""
        queue = self.queue
        if queue:
            head = queue[0]
            return head.retry_at <= now and not (head.base_seq >= 0 and self.inflight)
        if self.feeds:
            feed = self.feeds[0]
            return feed.pos < len(feed.idx) and feed.t[feed.pos] <= now
        return False

    def has_records(self) -> bool:
        return bool(self.queue) or any(f.pos < len(f.idx) for f in self.feeds)
