"""Validate Kafka configurations by Kafka's dotted names, with Kafka 4.x defaults.

``validate(kind, mapping)`` returns the complete configuration (every property of that kind,
defaults filled in) as a dict; ``load(kind, mapping)`` returns the same as a read-only
``KafkaConfig`` that also remembers which names the user set (Kafka's rules differ for explicit
and default values). Kinds: ``"broker"``, ``"topic"``, ``"producer"``, ``"consumer"``; the
property tables are in ``models.kafka.properties``.

Errors are ``KafkaConfigError`` (Java ``ConfigException``) with one message naming the field:
an unknown name suggests the closest valid one (``'retention.msec'`` → ``'retention.ms'``; a
topic name in a broker config points to its ``log.*`` synonym); a wrong value says what was
expected, worded like Kafka (``Invalid value 0 for configuration max.poll.records: Value must be
at least 1``).

Cross-property rules reproduced:

- producer (``ProducerConfig.postProcessAndValidateIdempotenceConfigs``): idempotence needs
  ``acks=all``, ``retries > 0`` and ``max.in.flight.requests.per.connection <= 5``; if the user
  set ``enable.idempotence`` explicitly a conflict is an error, otherwise idempotence is
  silently turned off. ``transactional.id`` needs idempotence.
- producer (``KafkaProducer.configureDeliveryTimeout``): ``delivery.timeout.ms >= linger.ms +
  request.timeout.ms``; an explicit smaller value is an error, a default one is raised to the sum.
- consumer: ``heartbeat.interval.ms < session.timeout.ms``; without ``group.id``,
  ``enable.auto.commit`` is turned off (an explicit ``true`` is an
  ``InvalidConfigurationError``, as in ``KafkaConsumer``).
- topic: ``min.compaction.lag.ms <= max.compaction.lag.ms``.
- broker: ``log.retention.ms`` > ``.minutes`` > ``.hours`` and ``log.roll.ms`` > ``.hours``
  precedence; ``topic_defaults(broker)`` gives the topic defaults a broker config implies.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from models.kafka.errors import InvalidConfigurationError, KafkaConfigError
from models.kafka.properties import (
    ASSIGNOR_NAMES,
    INT_MAX,
    KINDS,
    LONG_MAX,
    TOPIC_SYNONYMS,
    Prop,
)
from sim.units import parse_duration, parse_size

_SIZE_SUFFIXES = (".bytes", ".size", ".memory")


@dataclass(frozen=True)
class KafkaConfig(Mapping[str, Any]):
    """A validated, complete, read-only configuration of one kind, by Kafka property name."""

    kind: str
    values: Mapping[str, Any]
    explicit: frozenset[str] = frozenset()

    def __getitem__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(_unknown_message(self.kind, name)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def seconds(self, name: str) -> float:
        """A ``*.ms`` property in seconds (simulated time unit); Long.MAX becomes infinity."""
        value = self[name]
        if value is None or value >= LONG_MAX:
            return float("inf")
        return value / 1000.0

    def overridden(self) -> dict[str, Any]:
        """Only the properties the user set."""
        return {name: self.values[name] for name in sorted(self.explicit)}


def validate(kind: str, mapping: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The complete configuration of ``kind`` with ``mapping`` applied, as a plain dict."""
    return dict(load(kind, mapping).values)


def load(kind: str, mapping: Mapping[str, Any] | None = None,
         defaults: Mapping[str, Any] | None = None) -> KafkaConfig:
    """Validate ``mapping`` against the properties of ``kind``; ``defaults`` replaces Kafka's.

    ``defaults`` lets a topic inherit its broker's settings: ``load("topic", overrides,
    topic_defaults(broker_config))``.
    """
    if isinstance(mapping, KafkaConfig) and mapping.kind == kind and defaults is None:
        return mapping
    props = _props(kind)
    given = dict(mapping or {})
    values: dict[str, Any] = {
        name: (defaults[name] if defaults is not None and name in defaults else p.default)
        for name, p in props.items()
    }
    for name, raw in given.items():
        if not isinstance(name, str) or name not in props:
            raise KafkaConfigError(_unknown_message(kind, name))
        values[name] = _convert(props[name], raw)
    explicit = frozenset(given)
    _RULES[kind](values, explicit)
    return KafkaConfig(kind, MappingProxyType(values), explicit)


def topic_defaults(broker: Mapping[str, Any]) -> dict[str, Any]:
    """Topic property defaults implied by a broker config (Kafka's ``log.*`` synonyms)."""
    broker = load("broker", broker)
    out = {topic: broker[b] for topic, b in TOPIC_SYNONYMS.items() if broker[b] is not None}
    out["retention.ms"] = effective_retention_ms(broker)
    out["segment.ms"] = effective_roll_ms(broker)
    jitter = broker["log.roll.jitter.ms"]
    out["segment.jitter.ms"] = (jitter if jitter is not None
                                else broker["log.roll.jitter.hours"] * 3600000)
    if broker["log.flush.interval.ms"] is None:
        out["flush.ms"] = LONG_MAX
    return out


def effective_retention_ms(broker: Mapping[str, Any]) -> int:
    """``log.retention.ms``, else ``.minutes``, else ``.hours`` (Kafka's precedence)."""
    if broker["log.retention.ms"] is not None:
        ms = broker["log.retention.ms"]
    elif broker["log.retention.minutes"] is not None:
        ms = broker["log.retention.minutes"] * 60000
    else:
        ms = broker["log.retention.hours"] * 3600000
    return -1 if ms < 0 else ms


def effective_roll_ms(broker: Mapping[str, Any]) -> int:
    if broker["log.roll.ms"] is not None:
        return broker["log.roll.ms"]
    return broker["log.roll.hours"] * 3600000


def closest_name(kind: str, name: str) -> str | None:
    """The valid property name of ``kind`` closest to ``name`` (difflib), if any is close."""
    found = difflib.get_close_matches(str(name), list(_props(kind)), n=1, cutoff=0.6)
    return found[0] if found else None


def _props(kind: str) -> dict[str, Prop]:
    try:
        return KINDS[kind]
    except KeyError:
        raise KafkaConfigError(
            f"unknown config kind {kind!r}; use one of {', '.join(KINDS)}") from None


def _unknown_message(kind: str, name: object) -> str:
    msg = f"Unknown {kind} config {name!r}."
    if kind == "broker" and name in TOPIC_SYNONYMS:
        return (f"{msg} {name!r} is a topic config (create_topic(..., config=...)); its "
                f"broker-wide default is {TOPIC_SYNONYMS[name]!r}.")
    if kind == "topic" and name in TOPIC_SYNONYMS.values():
        topic_name = next(t for t, b in TOPIC_SYNONYMS.items() if b == name)
        return f"{msg} {name!r} is a broker config; the topic config is {topic_name!r}."
    suggestion = closest_name(kind, str(name))
    if suggestion:
        return f"{msg} Did you mean {suggestion!r}?"
    return f"{msg} See models.kafka.properties for the {kind} properties."


def _bad(prop: Prop, raw: object, why: str) -> KafkaConfigError:
    return KafkaConfigError(f"Invalid value {raw!r} for configuration {prop.name}: {why}")


def _convert(prop: Prop, raw: Any) -> Any:
    if raw is None:
        if prop.nullable:
            return None
        raise _bad(prop, raw, "this property cannot be null")
    kind = prop.type
    if kind in ("int", "long"):
        value = _to_int(prop, raw)
        lo, hi = (-(2**31), INT_MAX) if kind == "int" else (-(2**63), LONG_MAX)
        if not lo <= value <= hi:
            raise _bad(prop, raw, f"Value must fit a Java {kind}")
        _check_range(prop, raw, value)
        return value
    if kind == "double":
        if isinstance(raw, bool):
            raise _bad(prop, raw, "Expected a number")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise _bad(prop, raw, "Expected a number") from None
        _check_range(prop, raw, value)
        return value
    if kind == "boolean":
        if isinstance(raw, bool | np.bool_):
            return bool(raw)
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise _bad(prop, raw, "Expected value to be either true or false")
    if kind == "list":
        return _to_list(prop, raw)
    if kind == "class":
        if isinstance(raw, str | type):
            return raw
        raise _bad(prop, raw, "Expected a class name")
    return _to_string(prop, raw)


def _to_int(prop: Prop, raw: Any) -> int:
    if isinstance(raw, bool | np.bool_):
        raise _bad(prop, raw, "Expected an integer, not a boolean")
    if isinstance(raw, int | np.integer):
        return int(raw)
    if isinstance(raw, float | np.floating):
        if float(raw).is_integer():
            return int(raw)
        raise _bad(prop, raw, "Expected a whole number")
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            if prop.name.endswith(".ms"):
                return round(parse_duration(text) * 1000)
            if prop.name.endswith(_SIZE_SUFFIXES):
                return parse_size(text)
        except ValueError as exc:
            raise _bad(prop, raw, str(exc)) from None
    raise _bad(prop, raw, "Expected an integer")


def _check_range(prop: Prop, raw: Any, value: float) -> None:
    if prop.min is not None and prop.max is not None and not prop.min <= value <= prop.max:
        raise _bad(prop, raw, f"Value must be in the range [{prop.min}, {prop.max}]")
    if prop.min is not None and value < prop.min:
        raise _bad(prop, raw, f"Value must be at least {_num(prop.min)}")
    if prop.max is not None and value > prop.max:
        raise _bad(prop, raw, f"Value must be no more than {_num(prop.max)}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _to_string(prop: Prop, raw: Any) -> Any:
    if prop.name == "acks" and isinstance(raw, int | np.integer) and not isinstance(raw, bool):
        raw = str(int(raw))
    if not isinstance(raw, str):
        raise _bad(prop, raw, "Expected a string")
    if prop.choices is None:
        return raw
    text = raw.strip()
    for choice in prop.choices:
        if text.lower() == choice.lower():
            return "all" if prop.name == "acks" and choice == "-1" else choice
    raise _bad(prop, raw, f"String must be one of: {', '.join(prop.choices)}")


def _to_list(prop: Prop, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        items = [item.strip() for item in raw.split(",") if item.strip()]
    elif isinstance(raw, list | tuple):
        items = [item.__name__ if isinstance(item, type) else item for item in raw]
    else:
        raise _bad(prop, raw, "Expected a comma-separated list or a list of strings")
    if not all(isinstance(item, str) for item in items):
        raise _bad(prop, raw, "Expected a list of strings")
    if prop.name == "partition.assignment.strategy":
        out = []
        for item in items:
            short = ASSIGNOR_NAMES.get(item) or ASSIGNOR_NAMES.get(item.split(".")[-1])
            if short is None:
                hint = difflib.get_close_matches(item, list(ASSIGNOR_NAMES)[:4], n=1, cutoff=0.5)
                why = f"unknown assignor {item!r}; use range, roundrobin, sticky or " \
                      f"cooperative-sticky (or the Java class names)"
                raise _bad(prop, raw, why + (f". Did you mean {hint[0]!r}?" if hint else ""))
            if short not in out:
                out.append(short)
        if not out:
            raise _bad(prop, raw, "at least one assignor is needed")
        return tuple(out)
    if prop.choices is not None:
        out = []
        for item in items:
            match = next((c for c in prop.choices if c.lower() == item.lower()), None)
            if match is None:
                raise _bad(prop, raw, f"{item!r} is not one of: {', '.join(prop.choices)}")
            if match not in out:
                out.append(match)
        if prop.name == "cleanup.policy" and not out:
            raise _bad(prop, raw, "give delete, compact or both")
        return tuple(out)
    return tuple(items)


# ---- cross-property rules ------------------------------------------------------------------

def _producer_rules(values: dict[str, Any], explicit: frozenset[str]) -> None:
    user_idempotence = "enable.idempotence" in explicit
    if values["enable.idempotence"]:
        conflicts = []
        if values["retries"] == 0:
            conflicts.append("Must set retries to non-zero when using the idempotent producer.")
        if values["acks"] != "all":
            conflicts.append("Must set acks to all in order to use the idempotent producer. "
                             "Otherwise we cannot guarantee idempotence.")
        if values["max.in.flight.requests.per.connection"] > 5:
            conflicts.append("Must set max.in.flight.requests.per.connection to at most 5 to "
                             "use the idempotent producer.")
        if conflicts and user_idempotence:
            raise KafkaConfigError(conflicts[0])
        if conflicts:
            values["enable.idempotence"] = False
    if values["transactional.id"] is not None and not values["enable.idempotence"]:
        raise KafkaConfigError("Cannot set a transactional.id without also enabling "
                               "idempotence.")
    floor = min(values["linger.ms"] + values["request.timeout.ms"], INT_MAX)
    if values["delivery.timeout.ms"] < floor:
        if "delivery.timeout.ms" in explicit:
            raise KafkaConfigError("delivery.timeout.ms should be equal to or larger than "
                                   "linger.ms + request.timeout.ms")
        values["delivery.timeout.ms"] = floor


def _consumer_rules(values: dict[str, Any], explicit: frozenset[str]) -> None:
    if values["heartbeat.interval.ms"] >= values["session.timeout.ms"]:
        raise KafkaConfigError(
            f"heartbeat.interval.ms ({values['heartbeat.interval.ms']}) must be lower than "
            f"session.timeout.ms ({values['session.timeout.ms']})")
    if values["group.id"] is None and values["enable.auto.commit"]:
        if "enable.auto.commit" in explicit:
            raise InvalidConfigurationError(
                "enable.auto.commit cannot be set to true when default group id (null) is used.")
        values["enable.auto.commit"] = False


def _topic_rules(values: dict[str, Any], explicit: frozenset[str]) -> None:
    if values["min.compaction.lag.ms"] > values["max.compaction.lag.ms"]:
        raise KafkaConfigError(
            f"conflict topic config setting min.compaction.lag.ms "
            f"({values['min.compaction.lag.ms']}) > max.compaction.lag.ms "
            f"({values['max.compaction.lag.ms']})")


def _broker_rules(values: dict[str, Any], explicit: frozenset[str]) -> None:
    if values["group.min.session.timeout.ms"] > values["group.max.session.timeout.ms"]:
        raise KafkaConfigError("group.min.session.timeout.ms must not exceed "
                               "group.max.session.timeout.ms")


_RULES = {
    "producer": _producer_rules,
    "consumer": _consumer_rules,
    "topic": _topic_rules,
    "broker": _broker_rules,
}
