"""Kafka's configuration properties: dotted name, type, 4.x default, allowed range or words.

One table per kind: ``BROKER`` (``server.properties``), ``TOPIC`` (per-topic overrides),
``PRODUCER`` and ``CONSUMER``. Defaults are Kafka 4.x's, read from ``ServerLogConfigs``,
``LogConfig``, ``TopicConfig``, ``CleanerConfig``, ``ReplicationConfigs``, ``ProducerConfig``,
``ConsumerConfig`` and ``CommonClientConfigs`` (see ``shared/reference/kafka.md``). Ranges are
Kafka's validators (``atLeast``, ``between``, ``in``).

``modelled=False`` marks a property that is accepted (so real client configs load unchanged)
but has no effect in brokersim; its doc says so.

Deliberate departures:

- ``segment.bytes`` / ``log.segment.bytes`` accept any size ≥ 1 byte so lessons can show
  segments rolling after a handful of records. Real Kafka 4.x rejects values below 1 MiB
  (KIP-1030; 14 bytes before 4.0).
- Properties ending in ``.ms`` also accept duration strings (``"7d"``, ``"500ms"``) and those
  ending in ``.bytes`` / ``.size`` / ``.memory`` size strings (``"1gb"``) — a brokersim
  convenience; values are stored in Kafka's units (ms, bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Prop:
    """One configuration property as Kafka's ``ConfigDef`` defines it."""

    name: str
    type: str  # int | long | double | boolean | string | list | class
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    modelled: bool = True


def _p(name: str, type_: str, default: Any, doc: str = "", **kw: Any) -> Prop:
    if default is None:
        kw.setdefault("nullable", True)
    return Prop(name, type_, default, doc, **kw)


def _index(*props: Prop) -> dict[str, Prop]:
    return {p.name: p for p in props}


# Topic-level properties (TopicConfig / LogConfig).
TOPIC = _index(
    _p("cleanup.policy", "list", ("delete",), "delete and/or compact",
       choices=("delete", "compact")),
    _p("segment.bytes", "int", 1073741824, "roll the active segment at this size", min=1),
    _p("segment.ms", "long", 604800000, "roll a non-empty segment this long after its first "
       "batch's timestamp (checked on append)", min=1),
    _p("segment.jitter.ms", "long", 0, "random jitter subtracted from segment.ms", min=0),
    _p("retention.ms", "long", 604800000, "delete a segment once its newest record is older "
       "(-1: no limit)", min=-1),
    _p("retention.bytes", "long", -1, "delete oldest segments while the partition stays above "
       "this size (-1: no limit)", min=-1),
    _p("delete.retention.ms", "long", 86400000, "keep tombstones this long after the cleaning "
       "pass that first saw them", min=0),
    _p("min.cleanable.dirty.ratio", "double", 0.5, "clean when dirty/total exceeds this",
       min=0.0, max=1.0),
    _p("min.compaction.lag.ms", "long", 0, "records younger than this are not compacted", min=0),
    _p("max.compaction.lag.ms", "long", LONG_MAX, "not modelled", min=1, modelled=False),
    _p("min.insync.replicas", "int", 1, "acks=all needs an ISR at least this big", min=1),
    _p("unclean.leader.election.enable", "boolean", False, "elect a replica outside the ISR "
       "when no ISR member is alive (committed records it lacks are lost)"),
    _p("max.message.bytes", "int", 1048588, "largest record batch the broker accepts", min=0),
    _p("message.timestamp.type", "string", "CreateTime", "CreateTime or LogAppendTime",
       choices=("CreateTime", "LogAppendTime")),
    _p("file.delete.delay.ms", "long", 60000, "not modelled (files vanish at once)", min=0,
       modelled=False),
    _p("flush.messages", "long", LONG_MAX, "not modelled", min=1, modelled=False),
    _p("flush.ms", "long", LONG_MAX, "not modelled", min=0, modelled=False),
    _p("index.interval.bytes", "int", 4096, "not modelled", min=0, modelled=False),
    _p("segment.index.bytes", "int", 10485760, "not modelled", min=4, modelled=False),
    _p("compression.type", "string", "producer", "not modelled",
       choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), modelled=False),
    _p("preallocate", "boolean", False, "not modelled", modelled=False),
)

# Broker property that provides each topic property's default (Kafka's "synonyms").
TOPIC_SYNONYMS: dict[str, str] = {
    "cleanup.policy": "log.cleanup.policy",
    "segment.bytes": "log.segment.bytes",
    "segment.ms": "log.roll.ms",
    "segment.jitter.ms": "log.roll.jitter.ms",
    "retention.ms": "log.retention.ms",
    "retention.bytes": "log.retention.bytes",
    "delete.retention.ms": "log.cleaner.delete.retention.ms",
    "min.cleanable.dirty.ratio": "log.cleaner.min.cleanable.ratio",
    "min.compaction.lag.ms": "log.cleaner.min.compaction.lag.ms",
    "max.compaction.lag.ms": "log.cleaner.max.compaction.lag.ms",
    "min.insync.replicas": "min.insync.replicas",
    "unclean.leader.election.enable": "unclean.leader.election.enable",
    "max.message.bytes": "message.max.bytes",
    "message.timestamp.type": "log.message.timestamp.type",
    "file.delete.delay.ms": "log.segment.delete.delay.ms",
    "flush.messages": "log.flush.interval.messages",
    "flush.ms": "log.flush.interval.ms",
    "index.interval.bytes": "log.index.interval.bytes",
    "segment.index.bytes": "log.index.size.max.bytes",
    "compression.type": "compression.type",
    "preallocate": "log.preallocate",
}


def _broker_synonym(topic_name: str, broker_name: str, **kw: Any) -> Prop:
    base = TOPIC[topic_name]
    fields = {
        "type": base.type, "default": base.default, "min": base.min, "max": base.max,
        "choices": base.choices, "nullable": base.nullable, "modelled": base.modelled,
        "doc": f"broker default of topic config {topic_name}",
    }
    fields.update(kw)
    return Prop(broker_name, **fields)


BROKER = _index(
    *(_broker_synonym(t, b) for t, b in TOPIC_SYNONYMS.items()
      if b not in ("log.retention.ms", "log.roll.ms", "log.roll.jitter.ms",
                   "log.flush.interval.ms")),
    # Kafka's ms > minutes > hours precedence for retention and roll (null = use the coarser one).
    _broker_synonym("retention.ms", "log.retention.ms", default=None, nullable=True),
    _p("log.retention.minutes", "int", None, "used when log.retention.ms is unset", min=-1),
    _p("log.retention.hours", "int", 168, "used when log.retention.ms/minutes are unset",
       min=-1),
    _broker_synonym("segment.ms", "log.roll.ms", default=None, nullable=True),
    _p("log.roll.hours", "int", 168, "used when log.roll.ms is unset", min=1),
    _broker_synonym("segment.jitter.ms", "log.roll.jitter.ms", default=None, nullable=True),
    _p("log.roll.jitter.hours", "int", 0, "used when log.roll.jitter.ms is unset", min=0),
    _broker_synonym("flush.ms", "log.flush.interval.ms", default=None, nullable=True),
    _p("log.retention.check.interval.ms", "long", 300000, "period of the retention task",
       min=1),
    _p("log.initial.task.delay.ms", "long", 30000, "delay before the first retention check",
       min=0),
    _p("log.cleaner.enable", "boolean", True, "run the log cleaner (compaction)"),
    _p("log.cleaner.backoff.ms", "long", 15000, "cleaner sleep when nothing is cleanable",
       min=0),
    _p("log.cleaner.threads", "int", 1, "not modelled (one cleaner)", min=0, modelled=False),
    _p("log.cleaner.dedupe.buffer.size", "long", 134217728,
       "not modelled (the offset map always fits)", modelled=False),
    _p("log.cleaner.io.max.bytes.per.second", "double", 1.7976931348623157e308,
       "not modelled (cleaning takes no time)", modelled=False),
    _p("replica.lag.time.max.ms", "long", 30000, "a follower that has not caught up for this "
       "long leaves the ISR", min=0),
    _p("num.partitions", "int", 1, "partitions of an auto-created topic", min=1),
    _p("default.replication.factor", "int", 1, "replication factor of an auto-created topic",
       min=1),
    _p("auto.create.topics.enable", "boolean", True, "create a topic on first produce to it"),
    _p("unclean.leader.election.interval.ms", "long", 300000, "not modelled (an unclean "
       "election happens as soon as it is needed)", min=1, modelled=False),
    _p("broker.session.timeout.ms", "int", 9000, "the controller fences a broker it has not "
       "heard from for this long (a crashed broker's partitions move then)", min=1),
    _p("broker.heartbeat.interval.ms", "int", 2000, "not modelled (a crash is noticed "
       "broker.session.timeout.ms after it happens)", min=1, modelled=False),
    _p("num.replica.fetchers", "int", 1, "not modelled (one fetcher per leader broker)", min=1,
       modelled=False),
    _p("replica.fetch.wait.max.ms", "int", 500, "a follower's fetch waits this long at the "
       "leader for new records", min=0),
    _p("replica.fetch.min.bytes", "int", 1, "not modelled (a fetch answers at the first new "
       "record)", min=1, modelled=False),
    _p("replica.fetch.max.bytes", "int", 1048576, "not modelled (a fetch response carries "
       "everything up to the leader's log end)", min=0, modelled=False),
    _p("replica.socket.timeout.ms", "int", 30000, "a follower's fetch request without answer "
       "fails after this"),
    _p("replica.fetch.backoff.ms", "int", 1000, "a follower waits this long after a failed "
       "fetch", min=0),
    _p("group.initial.rebalance.delay.ms", "int", 3000, "delay of a new group's first "
       "rebalance", min=0),
    _p("group.min.session.timeout.ms", "int", 6000, "smallest session.timeout.ms accepted",
       min=0),
    _p("group.max.session.timeout.ms", "int", 1800000, "largest session.timeout.ms accepted",
       min=0),
    _p("group.consumer.heartbeat.interval.ms", "int", 5000, "KIP-848 heartbeat interval",
       min=1),
    _p("group.consumer.session.timeout.ms", "int", 45000, "KIP-848 session timeout", min=1),
    _p("offsets.retention.minutes", "int", 10080, "committed offsets of an empty group are "
       "kept this long", min=1),
    _p("offsets.topic.num.partitions", "int", 50, "not modelled", min=1, modelled=False),
    _p("offsets.topic.replication.factor", "int", 3, "not modelled", min=1, modelled=False),
    _p("node.id", "int", -1, "not modelled (brokers are numbered 0..n-1)", modelled=False),
    _p("process.roles", "list", ("broker", "controller"), "not modelled",
       choices=("broker", "controller"), modelled=False),
)

_CLIENT_COMMON = (
    _p("bootstrap.servers", "list", (), "accepted and ignored (one simulated cluster)",
       modelled=False),
    _p("client.id", "string", "", "name in the trace; generated as Kafka does when empty"),
    _p("request.timeout.ms", "int", 30000, "a request without answer fails after this",
       min=0),
    _p("retry.backoff.ms", "long", 100, "first wait before a retry", min=0),
    _p("retry.backoff.max.ms", "long", 1000, "cap of the exponential retry backoff", min=0),
    _p("metadata.max.age.ms", "long", 300000, "not modelled (metadata is always fresh)", min=0,
       modelled=False),
    _p("connections.max.idle.ms", "long", 540000, "not modelled", modelled=False),
    _p("reconnect.backoff.ms", "long", 50, "not modelled", min=0, modelled=False),
    _p("reconnect.backoff.max.ms", "long", 1000, "not modelled", min=0, modelled=False),
    _p("send.buffer.bytes", "int", 131072, "not modelled", min=-1, modelled=False),
    _p("receive.buffer.bytes", "int", 32768, "not modelled", min=-1, modelled=False),
    _p("security.protocol", "string", "PLAINTEXT", "not modelled", modelled=False),
    _p("client.dns.lookup", "string", "use_all_dns_ips", "not modelled", modelled=False),
)

PRODUCER = _index(
    *_CLIENT_COMMON,
    _p("acks", "string", "all", "0: no answer; 1: leader wrote it; all: the whole ISR has it",
       choices=("all", "-1", "0", "1")),
    _p("linger.ms", "long", 5, "wait this long for a batch to fill (5 since 4.0, KIP-1030)",
       min=0),
    _p("batch.size", "int", 16384, "bytes per partition batch; also the sticky switch size",
       min=0),
    _p("buffer.memory", "long", 33554432, "bytes of unsent records the producer may hold",
       min=0),
    _p("max.request.size", "int", 1048576, "largest record and largest produce request",
       min=0),
    _p("retries", "int", INT_MAX, "retries of a failed batch (bounded by delivery.timeout.ms)",
       min=0),
    _p("delivery.timeout.ms", "int", 120000, "time from send() to success or failure",
       min=0),
    _p("max.in.flight.requests.per.connection", "int", 5, "unanswered requests per broker",
       min=1),
    _p("enable.idempotence", "boolean", True, "broker drops retried duplicates (producer id + "
       "sequence)"),
    _p("max.block.ms", "long", 60000, "how long send() may block (metadata, full buffer)",
       min=0),
    _p("partitioner.ignore.keys", "boolean", False, "treat keyed records like null-key ones"),
    _p("partitioner.adaptive.partitioning.enable", "boolean", True,
       "not modelled (sticky partitions are chosen uniformly)", modelled=False),
    _p("partitioner.availability.timeout.ms", "long", 0, "not modelled", min=0,
       modelled=False),
    _p("partitioner.class", "class", None, "not modelled (built-in partitioner only)",
       modelled=False),
    _p("compression.type", "string", "none", "not modelled",
       choices=("none", "gzip", "snappy", "lz4", "zstd"), modelled=False),
    _p("transactional.id", "string", None, "transactions are not modelled", modelled=False),
    _p("transaction.timeout.ms", "int", 60000, "transactions are not modelled",
       modelled=False),
    _p("key.serializer", "class", None, "accepted and ignored (keys are bytes or str)",
       modelled=False),
    _p("value.serializer", "class", None, "accepted and ignored (values are bytes or str)",
       modelled=False),
    _p("metadata.max.idle.ms", "long", 300000, "not modelled", min=5000, modelled=False),
)

ASSIGNOR_NAMES: dict[str, str] = {
    "range": "range",
    "roundrobin": "roundrobin",
    "sticky": "sticky",
    "cooperative-sticky": "cooperative-sticky",
    "org.apache.kafka.clients.consumer.RangeAssignor": "range",
    "org.apache.kafka.clients.consumer.RoundRobinAssignor": "roundrobin",
    "org.apache.kafka.clients.consumer.StickyAssignor": "sticky",
    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor": "cooperative-sticky",
    "RangeAssignor": "range",
    "RoundRobinAssignor": "roundrobin",
    "StickyAssignor": "sticky",
    "CooperativeStickyAssignor": "cooperative-sticky",
}
"""Accepted spellings of ``partition.assignment.strategy`` entries → brokersim's short names."""

CONSUMER = _index(
    *_CLIENT_COMMON,
    _p("group.id", "string", None, "the consumer group (None: no group, manual assign only)"),
    _p("group.instance.id", "string", None, "static membership (KIP-345)"),
    _p("group.protocol", "string", "classic", "classic or consumer (KIP-848)",
       choices=("classic", "consumer")),
    _p("group.remote.assignor", "string", None, "KIP-848 server-side assignor"),
    _p("auto.offset.reset", "string", "latest", "where to start without a valid committed "
       "offset", choices=("latest", "earliest", "none")),
    _p("enable.auto.commit", "boolean", True, "commit positions in the background"),
    _p("auto.commit.interval.ms", "int", 5000, "period of auto-commit", min=0),
    _p("fetch.min.bytes", "int", 1, "broker waits for this many bytes …", min=0),
    _p("fetch.max.wait.ms", "int", 500, "… or this long", min=0),
    _p("fetch.max.bytes", "int", 52428800, "bytes per fetch response (soft)", min=0),
    _p("max.partition.fetch.bytes", "int", 1048576, "bytes per partition per fetch (soft)",
       min=0),
    _p("max.poll.records", "int", 500, "records returned by one poll()", min=1),
    _p("max.poll.interval.ms", "int", 300000, "a member that does not poll this often leaves",
       min=1),
    _p("session.timeout.ms", "int", 45000, "a member without heartbeat this long is removed"),
    _p("heartbeat.interval.ms", "int", 3000, "heartbeat period"),
    _p("partition.assignment.strategy", "list", ("range", "cooperative-sticky"),
       "assignors in preference order", choices=tuple(ASSIGNOR_NAMES)),
    _p("isolation.level", "string", "read_uncommitted", "transactions are not modelled",
       choices=("read_uncommitted", "read_committed")),
    _p("default.api.timeout.ms", "int", 60000, "timeout of blocking consumer calls", min=0),
    _p("allow.auto.create.topics", "boolean", True, "subscribe may create topics"),
    _p("exclude.internal.topics", "boolean", True, "not modelled", modelled=False),
    _p("check.crcs", "boolean", True, "not modelled", modelled=False),
    _p("client.rack", "string", "", "not modelled", modelled=False),
    _p("key.deserializer", "class", None, "accepted and ignored", modelled=False),
    _p("value.deserializer", "class", None, "accepted and ignored", modelled=False),
)

KINDS: dict[str, dict[str, Prop]] = {
    "broker": BROKER, "topic": TOPIC, "producer": PRODUCER, "consumer": CONSUMER,
}
