"""A Kafka-style partitioned log (Kafka 4.x behaviour and defaults), its producer and consumers.

Entry points::

    from sim import Simulation
    from models.kafka import KafkaCluster

    s = Simulation(seed=7)
    k = KafkaCluster(s, brokers=3)                     # broker config: config={...}
    k.create_topic("orders", partitions=6, replication_factor=3, config={"retention.ms": 60_000})
    p = k.producer({"acks": "all"})
    sent = p.send("orders", value=b"v", key=b"k")     # simpy event -> RecordMetadata
    s.run(until=1)
    sent.value          # RecordMetadata(topic='orders', partition=…, offset=0, …)

Modules: ``errors`` (Kafka's exception names), ``config`` + ``properties`` (dotted names,
4.x defaults, validation), ``partitioner`` (murmur2, sticky), ``records`` (columnar record
batches, ``RecordMetadata``), ``log`` (segments, retention), ``compaction`` (the log cleaner),
``cluster`` (brokers, topics, partitions, periodic tasks), ``replication`` (followers, ISR,
high watermark, ``acks=all``), ``controller`` (broker liveness, leader election, faults),
``network`` (link faults between brokers and clients), ``invariants`` (white-box checks),
``producer`` (batching, acks, retries, idempotence, leader changes, the bulk workload path).
The consumer side (``consumer``, ``group``, ``assignors``, ``loops``) is built on the
interface below.

Interface between the storage side and the consumer side (kept stable)
----------------------------------------------------------------------

``cluster = KafkaCluster(sim, brokers=3, config=None, latency=0.0005)``

- ``cluster.sim`` (the ``Simulation``), ``cluster.env`` (its simpy environment),
  ``cluster.trace`` (``sim.trace``).
- ``cluster.config``: the validated broker config, a read-only mapping by Kafka name
  (``cluster.config["log.retention.check.interval.ms"]`` → ``300000``; values in Kafka's units,
  i.e. milliseconds and bytes).
- ``cluster.latency``: one-way client↔broker network latency in seconds (default 0.5 ms);
  ``cluster.link`` is the client link (``link.delay()`` → seconds for the next hop,
  ``link.delivers()`` → False if the link drops this hop; fault windows set with
  ``link.cut(start, end)``).
- ``cluster.topics[name]`` → ``Topic`` with ``.name``, ``.id`` (``trace.channels.id(name)``),
  ``.config`` (validated topic config mapping) and ``.partitions`` (list).
- ``cluster.consumer(config)`` → ``models.kafka.consumer.Consumer(cluster, config)`` (the
  consumer side provides that class); ``cluster.coordinator`` is a free slot (``None``) for the
  consumer side's group coordinator.
- ``models.kafka.config.load("consumer", mapping)`` → validated consumer config (all Kafka
  consumer properties with their 4.x defaults; ``partition.assignment.strategy`` normalised to
  short names, e.g. ``("range", "cooperative-sticky")``).

``partition = cluster.topics[name].partitions[i]`` → ``Partition``:

- ``.topic`` (topic name, str), ``.topic_id`` (trace channel id), ``.index`` (int),
  ``.leader`` (broker id; -1 while the partition is offline), ``.replicas`` (broker ids),
  ``.isr`` (broker ids, changes with replication), ``.leader_epoch``, ``.replica_leo(b)``,
  ``.log`` (``Log``: the leader's records, which the replicas share up to their LEO),
  ``.truncations`` (``(t, new end, records removed, HW before)`` per leader change that cut
  the log).
- properties ``log_start_offset``, ``log_end_offset``, ``high_watermark``.
- ``partition.read(offset, max_bytes=1 << 20, max_records=None)`` → ``RecordBatch`` with numpy
  arrays ``offset``, ``msg``, ``timestamp`` (seconds), ``size``, ``key`` (key id, -1 = no key),
  ``null`` (value is null, i.e. a tombstone), and ``next_offset`` (where the next fetch starts),
  ``high_watermark``, ``log_start_offset``, ``nbytes``. Only records below the high watermark
  are returned. At least one record is returned if any is available, even if larger than
  ``max_bytes`` (Kafka's fetch rule). A read at an offset removed by compaction starts at the
  next existing record. ``offset < log_start_offset`` or ``offset > log_end_offset`` raises
  ``errors.OffsetOutOfRangeError``. The arrays are read-only views; do not modify them.
- ``partition.available_bytes(offset)`` → bytes below the high watermark from ``offset`` on
  (for ``fetch.min.bytes``).
- ``partition.wait_for_data(offset=None)`` → simpy event that succeeds (value: the new high
  watermark) the next time the high watermark advances; already triggered if the high
  watermark is above ``offset``.
- ``partition.deletions`` → list of ``Deletion`` (``t``, ``reason`` ``"retention"`` or
  ``"compaction"``, ``start_offset``, ``end_offset`` (exclusive), ``offsets``, ``msg`` arrays)
  in the order they happened; ``partition.on_delete`` → list of callbacks
  ``fn(partition, deletion)`` called right after records are removed. A consumer whose position
  was below ``log_start_offset`` when it next fetches has lost the records of the retention
  deletions in between (trace reason ``retention``).

Faults: ``cluster.fault_targets()`` (``broker-0``… and every client's ``client.id``) and
``cluster.apply_fault(fault)`` take ``sim.faults`` schedules (``FaultSchedule.attach(sim,
cluster)``): broker ``crash`` / ``restart`` / ``pause``, link ``cut`` / ``heal`` / ``latency`` /
``loss`` between two brokers or a client and a broker. ``cluster.controller`` fences a silent
broker after ``broker.session.timeout.ms`` and elects leaders; ``cluster.broker_ready(b)`` /
``broker_live(b)`` / ``serves(partition, client)`` say who can answer now;
``cluster.replicating`` is False while nothing is wrong (replication is then computed, not
simulated round by round: see ``models.kafka.replication``).

Other cluster helpers: ``cluster.client_id(kind, given="")`` (Kafka's generated client ids,
``consumer-1``…), ``cluster.partition(topic, index)`` (``UnknownTopicOrPartitionError`` if
absent), ``cluster.storage_bytes()``, ``cluster.storage_by_broker()``. Trace tables the storage
side adds: ``appended`` (msg, channel, partition, offset, t — twice for a duplicate),
``log_deleted`` (msg, channel, partition, offset, t, reason code), ``kafka_storage`` and
``kafka_broker_storage`` (samples after each retention check, or every
``storage_sample_interval``), ``send_failed`` (msg, t, channel, partition, Kafka error code),
``truncated`` (msg, channel, partition, offset, t, reason: records a leader change removed).
Acknowledged records lost to a leader change are also ``dropped`` for receiver -1 with reason
``acks-0``, ``acks-1`` or ``unclean-election``.

Message ids (``msg``) are the run-unique ids of ``sim.trace``; ``cluster.values[msg]`` holds the
value bytes of records sent through ``Producer.send`` (the bulk path has no payloads) and
``cluster.keys`` maps key bytes to key ids and back (``cluster.keys.bytes(key_id)``).
"""

from models.kafka import errors
from models.kafka.batches import BulkSend
from models.kafka.cluster import KafkaCluster, Partition, Topic
from models.kafka.config import load, validate
from models.kafka.consumer import Consumer, ConsumerRecord, ConsumerRecords, TopicPartition
from models.kafka.log import Log
from models.kafka.producer import Producer
from models.kafka.records import Deletion, RecordBatch, RecordMetadata

__all__ = [
    "BulkSend",
    "Consumer",
    "ConsumerRecord",
    "ConsumerRecords",
    "Deletion",
    "KafkaCluster",
    "Log",
    "Partition",
    "Producer",
    "RecordBatch",
    "RecordMetadata",
    "Topic",
    "TopicPartition",
    "errors",
    "load",
    "validate",
]
