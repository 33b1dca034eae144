"""Per-model adapters: set up one model to replay a :class:`WorkloadFile` in a simulation.

``replay_<model>(desc, sim)`` builds the broker and its receivers in ``sim``, runs the
simulation until the receivers are ready — subscribed (Redis), or joined to their groups with
partitions assigned (Kafka) — as OMB waits for its consumers before it starts producing, and
then starts the producers' feed. It returns a :class:`ModelRun` naming the receivers (trace name
→ group) and ``offset``, the simulated time the set-up took: workload time ``t`` happens at
simulated time ``offset + t``. The caller runs the rest and accounts for it
(:mod:`experiments.replay.accounting`). Both models get the same messages from the same seed:
the workload is drawn from the same named streams, on the same grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from experiments.workloads import GroupSpec, WorkloadFile
from sim.simulation import Simulation
from sim.workload import MessageBatch, key_bytes


@dataclass
class ModelRun:
    """What an adapter set up: the receivers (trace name → group name) and the set-up time
    (``offset``: simulated seconds before workload time 0)."""

    model: str
    receivers: dict[str, str] = field(default_factory=dict)
    offset: float = 0.0


READY_LIMIT = 120.0
"""Simulated seconds the receivers may take to be ready before the workload starts anyway."""


def wait_until(sim: Simulation, ready: Callable[[], bool], step: float) -> float:
    """Run ``sim`` in ``step`` s until ``ready()`` (or :data:`READY_LIMIT`); return the time."""
    while not ready() and sim.now < READY_LIMIT:
        sim.run(until=sim.now + step)
    return sim.now


def drive(sim: Simulation, desc: WorkloadFile, offset: float,
          send: Callable[[MessageBatch], None], step: float = 0.5) -> None:
    """Hand the workload's messages to ``send`` ``2 × step`` ahead of time, from a simpy
    process; batch times stay in workload time (``send`` adds ``offset``)."""
    feed = desc.workload.feed(sim)
    env = sim.env

    def push(until: float) -> None:
        batch = feed.take(max(until - offset, feed.time))
        if len(batch):
            send(batch)

    def run():
        push(env.now + 2 * step)
        while not feed.exhausted:
            yield env.timeout(step)
            push(env.now + 2 * step)

    env.process(run())


Adapter = Callable[[WorkloadFile, Simulation], ModelRun]


def pause_window(desc: WorkloadFile) -> tuple[float, float] | None:
    """``(start, seconds)`` the receivers pause to build the backlog, or ``None``."""
    if desc.backlog is None:
        return None
    return desc.warmup, desc.backlog_build_time()


def redis_channels(group: GroupSpec) -> list[tuple[str, tuple[str, ...]]]:
    """The connections of ``group`` in Redis and the channels each subscribes to.

    Pub/Sub delivers every message of a channel to every subscriber, so the group's consumers
    split its channels (``targets[j::consumers]``); connections left without a channel are not
    opened (they would stay idle, like Kafka consumers beyond the partition count).
    """
    names = group.receiver_names()
    split = [(names[j], group.targets[j::group.consumers]) for j in range(group.consumers)]
    return [(name, channels) for name, channels in split if channels]


def replay_redis(desc: WorkloadFile, sim: Simulation) -> ModelRun:
    """Replay ``desc`` through the Redis Pub/Sub model (``models.redis_pubsub``).

    Topics are channels; each group's connections are :class:`Subscriber` applications with the
    group's service time, reconnecting after 1 s when cut off (redis-py's ``PubSub``
    re-subscribes on reconnect). The producers start once every subscription is in place. A
    backlog pause is the subscribers being away for the pause: Redis keeps nothing for them (a
    real paused reader would instead fill its output buffer up to the
    ``client-output-buffer-limit`` and be cut off, losing the same messages less that buffer).
    """
    from models.redis_pubsub import RedisPubSub
    from models.redis_pubsub.subscriber import Subscriber

    server = RedisPubSub(sim, desc.redis_settings)
    run = ModelRun("redis")
    subscribers = []
    for group in desc.groups:
        for name, channels in redis_channels(group):
            subscribers.append(Subscriber(server, name, channels, service=group.service))
            run.receivers[name] = group.name
    run.offset = wait_until(sim, lambda: all(s.client.subscription_count == len(s.channels)
                                             for s in subscribers), server.config.latency)
    pause = pause_window(desc)
    if pause is not None:
        for sub in subscribers:
            sub.go_offline(at=run.offset + pause[0], duration=pause[1])
    names = list(desc.workload.targets)
    sources = np.array([sim.trace.sources.id(p) for p in desc.workload.producer_names],
                       dtype=np.int32)

    def publish(batch: MessageBatch) -> None:
        server.feed(batch.t + run.offset, batch.target, batch.size,
                    source=sources[batch.producer], channel_names=names)

    drive(sim, desc, run.offset, publish, step=server.flush_interval)
    return run


def mapping_notes(desc: WorkloadFile, models: tuple[str, ...], limit: int = 5) -> list[str]:
    """Sentences for the report on how the topology maps onto each model: idle consumers."""
    notes: list[str] = []
    default_partitions = int(desc.kafka_settings("broker").get("num.partitions", 1))
    for group in desc.groups:
        if "redis" in models:
            idle = group.consumers - len(redis_channels(group))
            if idle:
                notes.append(f"redis: {idle} of the {group.consumers} consumers of group "
                             f"{group.name} stay idle: Pub/Sub cannot share a channel among "
                             f"connections, so they split its {len(group.targets)} channel(s)")
        if "kafka" in models:
            partitions = sum(desc.topic(t).partitions or default_partitions
                             for t in group.targets)
            if group.consumers > partitions:
                notes.append(f"kafka: {group.consumers - partitions} of the {group.consumers} "
                             f"consumers of group {group.name} stay idle: only {partitions} "
                             "partition(s) to assign")
    if len(notes) > limit:
        notes = [*notes[:limit], f"… and {len(notes) - limit} more such notes"]
    return notes


KAFKA_MISSING = ("the Kafka model is not available: replay_kafka needs models.kafka with "
                 "KafkaCluster(sim, brokers=, config=), .create_topic(...), .producer(config) "
                 "with the bulk path Producer.produce(topic, times, sizes, keys=) and the "
                 "consumer loops models.kafka.loops.process_then_commit")


def kafka_available() -> str | None:
    """``None`` if the Kafka model can replay workloads, else why not."""
    try:
        from models.kafka import KafkaCluster  # noqa: F401
        from models.kafka.loops import process_then_commit  # noqa: F401
        from models.kafka.producer import Producer
    except ImportError as err:
        return f"{KAFKA_MISSING} ({err})"
    if not hasattr(Producer, "produce"):
        return KAFKA_MISSING
    return None


def _service(group: GroupSpec) -> float | Callable[[np.random.Generator, int], np.ndarray]:
    if group.service is None:
        return 0.0
    return group.service.draw


def replay_kafka(desc: WorkloadFile, sim: Simulation) -> ModelRun:
    """Replay ``desc`` through the Kafka model (``models.kafka``).

    Brokers and topics as the file says (Kafka's defaults otherwise); one producer per workload
    producer (``client.id`` = its name) fed through the bulk path a little ahead of time; one
    consumer group per group, each consumer an at-least-once loop (poll, process, commit —
    ``enable.auto.commit=false`` as OMB's Kafka driver) with the group's service time per
    record and ``auto.offset.reset=earliest`` unless the file says otherwise (OMB's driver
    setting). The producers start once every consumer has joined its group (Kafka's
    ``group.initial.rebalance.delay.ms`` of 3 s runs first). A backlog pause pauses each
    consumer's partitions (``Consumer.pause``, as OMB's ``pauseConsumers``) until the backlog is
    built.
    """
    missing = kafka_available()
    if missing is not None:
        raise NotImplementedError(missing)
    from models.kafka import KafkaCluster
    from models.kafka.loops import process_then_commit

    cluster = KafkaCluster(sim, brokers=desc.brokers, config=desc.kafka_settings("broker"))
    topic_settings = desc.kafka_settings("topic")
    for t in desc.topics:
        cluster.create_topic(t.name, t.partitions, t.replication_factor,
                             config={**topic_settings, **dict(t.config)})
    run = ModelRun("kafka")
    consumer_settings = {"auto.offset.reset": "earliest", **desc.kafka_settings("consumer")}
    loops = []
    for group in desc.groups:
        for j, name in enumerate(group.receiver_names()):
            config = {**consumer_settings, "group.id": group.name, "client.id": f"c{j}"}
            loops.append(process_then_commit(cluster, config, group.targets,
                                             processing=_service(group)))
            run.receivers[name] = group.name
    run.offset = wait_until(sim, lambda: all(loop.consumer is not None
                                             and loop.consumer.generation > 0
                                             for loop in loops), 0.05)
    pause = pause_window(desc)
    if pause is not None:
        def pause_all() -> None:
            for loop in loops:
                loop.consumer.pause(*loop.consumer.assignment())

        def resume_all() -> None:
            for loop in loops:
                loop.consumer.resume(*loop.consumer.paused())

        sim.call_at(run.offset + pause[0], pause_all)
        sim.call_at(run.offset + pause[0] + pause[1], resume_all)

    settings = desc.kafka_settings("producer")
    workload = desc.workload
    producers = [cluster.producer({**settings, "client.id": p.name}) for p in workload.producers]
    targets = workload.targets

    def produce(batch: MessageBatch) -> None:
        for i, producer in enumerate(producers):
            mine = batch[batch.producer == i]
            for target in np.unique(mine.target):
                rows = mine[mine.target == target]
                keys = ([key_bytes(int(k)) for k in rows.key] if (rows.key >= 0).any()
                        else None)
                producer.produce(targets[int(target)], rows.t + run.offset, rows.size,
                                 keys=keys)

    drive(sim, desc, run.offset, produce)
    return run


ADAPTERS: Mapping[str, Adapter] = MappingProxyType({"redis": replay_redis, "kafka": replay_kafka})
