"""Model settings in workload files: Redis by ``redis.conf`` names, Kafka by its dotted names.

Redis settings are checked with :meth:`models.redis_pubsub.RedisConfig.from_mapping`. Kafka
settings are checked with ``models.kafka.config`` (Kafka 4.x properties and rules) when the
Kafka model is installed; a flat ``[kafka]`` name goes to every kind that has it (``linger.ms``
→ producer, ``retention.ms`` → topic, ``client.id`` → producer and consumer), as OMB's driver
files apply ``commonConfig`` to every client; ``[kafka.broker]``, ``[kafka.topic]``,
``[kafka.producer]`` and ``[kafka.consumer]`` scope a name explicitly. ``brokers`` (not a Kafka
property) is the number of brokers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experiments.workloads.description import KAFKA_KINDS, FieldError, Settings, settings
from experiments.workloads.fields import integer, join, suggest, table

UNROUTED = "unrouted"
"""Kind under which flat ``[kafka]`` names are kept when the Kafka model is not installed."""


def kafka_properties() -> Mapping[str, Mapping[str, Any]] | None:
    """Kafka's properties by kind, or ``None`` when ``models.kafka`` is not installed."""
    try:
        from models.kafka.properties import KINDS
    except ImportError:
        return None
    return KINDS


def _kafka_validate(kind: str, values: Mapping[str, Any], path: str) -> None:
    try:
        from models.kafka.config import validate
    except ImportError:
        return
    for name, value in values.items():
        try:
            validate(kind, {name: value})
        except Exception as err:  # KafkaConfigError and friends: Kafka's own wording
            raise FieldError(join(path, name), str(err)) from None
    try:
        validate(kind, values)
    except Exception as err:  # a cross-property rule
        raise FieldError(path, str(err)) from None


def parse_redis(raw: Any, path: str = "redis") -> Settings:
    """A ``[redis]`` table, each name and value checked by the Redis model."""
    from models.redis_pubsub.config import RedisConfig

    values = table(raw, path)
    for name, value in values.items():
        try:
            RedisConfig.from_mapping({name: value})
        except (ValueError, TypeError) as err:
            raise FieldError(join(path, name), str(err)) from None
    return settings(values)


def parse_topic_config(raw: Any, path: str) -> Settings:
    """A topic's Kafka config table (``retention.ms``, ``cleanup.policy``…)."""
    values = table(raw, path)
    props = kafka_properties()
    if props is not None:
        for name in values:
            if name not in props["topic"]:
                raise FieldError(join(path, name), "unknown Kafka topic property"
                                 + suggest(name, props["topic"]))
        _kafka_validate("topic", values, path)
    return settings(values)


def parse_kafka(raw: Any, path: str = "kafka") -> tuple[int, tuple[tuple[str, Settings], ...]]:
    """A ``[kafka]`` table → (number of brokers, settings by kind)."""
    values = table(raw, path)
    props = kafka_properties()
    brokers = 3
    by_kind: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        here = join(path, name)
        if name == "brokers":
            brokers = integer(value, here, minimum=1)
        elif name in KAFKA_KINDS:
            scoped = table(value, here)
            if props is not None:
                for prop in scoped:
                    if prop not in props[name]:
                        raise FieldError(join(here, prop), f"unknown Kafka {name} property"
                                         + suggest(prop, props[name]))
            by_kind.setdefault(name, {}).update(scoped)
        elif props is None:
            by_kind.setdefault(UNROUTED, {})[name] = value
        else:
            kinds = [k for k in KAFKA_KINDS if name in props[k]]
            if not kinds:
                known = sorted({p for k in KAFKA_KINDS for p in props[k]})
                raise FieldError(here, "unknown Kafka property"
                                 + suggest(name, [*known, "brokers", *KAFKA_KINDS]))
            for kind in kinds:
                by_kind.setdefault(kind, {})[name] = value
    for kind, scoped in by_kind.items():
        if kind != UNROUTED:
            _kafka_validate(kind, scoped, path if kind not in values else join(path, kind))
    order = [*KAFKA_KINDS, UNROUTED]
    return brokers, tuple((k, settings(by_kind[k])) for k in order if k in by_kind)
