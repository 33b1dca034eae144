"""Kafka configuration: 4.x defaults, unknown names with suggestions, bad values, conflict rules."""

import re

import pytest

from models.kafka.config import load, topic_defaults, validate
from models.kafka.errors import InvalidConfigurationError, KafkaConfigError
from models.kafka.properties import KINDS

KAFKA_4_DEFAULTS = {
    "producer": {
        "acks": "all", "linger.ms": 5, "batch.size": 16384, "retries": 2147483647,
        "delivery.timeout.ms": 120000, "request.timeout.ms": 30000,
        "max.in.flight.requests.per.connection": 5, "enable.idempotence": True,
        "retry.backoff.ms": 100, "retry.backoff.max.ms": 1000, "buffer.memory": 33554432,
        "max.request.size": 1048576, "max.block.ms": 60000, "partitioner.ignore.keys": False,
        "compression.type": "none",
    },
    "topic": {
        "segment.bytes": 1073741824, "segment.ms": 604800000, "retention.ms": 604800000,
        "retention.bytes": -1, "cleanup.policy": ("delete",), "delete.retention.ms": 86400000,
        "min.cleanable.dirty.ratio": 0.5, "min.compaction.lag.ms": 0,
        "min.insync.replicas": 1, "unclean.leader.election.enable": False,
        "max.message.bytes": 1048588, "segment.jitter.ms": 0, "file.delete.delay.ms": 60000,
    },
    "broker": {
        "log.retention.check.interval.ms": 300000, "log.initial.task.delay.ms": 30000,
        "log.cleaner.backoff.ms": 15000, "log.cleaner.enable": True,
        "replica.lag.time.max.ms": 30000, "min.insync.replicas": 1,
        "unclean.leader.election.enable": False, "log.retention.hours": 168,
        "log.segment.bytes": 1073741824, "log.retention.bytes": -1, "num.partitions": 1,
        "default.replication.factor": 1, "group.initial.rebalance.delay.ms": 3000,
        "message.max.bytes": 1048588,
    },
    "consumer": {
        "group.id": None, "auto.offset.reset": "latest", "auto.commit.interval.ms": 5000,
        "fetch.min.bytes": 1, "fetch.max.wait.ms": 500, "max.poll.records": 500,
        "max.partition.fetch.bytes": 1048576, "fetch.max.bytes": 52428800,
        "session.timeout.ms": 45000, "heartbeat.interval.ms": 3000,
        "max.poll.interval.ms": 300000, "isolation.level": "read_uncommitted",
        "partition.assignment.strategy": ("range", "cooperative-sticky"),
        "group.protocol": "classic",
    },
}


@pytest.mark.parametrize("kind", sorted(KAFKA_4_DEFAULTS))
def test_defaults_equal_kafka_4(kind):
    config = validate(kind)
    for name, expected in KAFKA_4_DEFAULTS[kind].items():
        assert config[name] == expected, name
    assert set(config) == set(KINDS[kind])


def test_consumer_defaults_with_a_group_keep_auto_commit():
    assert validate("consumer", {"group.id": "g"})["enable.auto.commit"] is True
    # Without a group, Kafka turns auto-commit off unless the user asked for it.
    assert validate("consumer")["enable.auto.commit"] is False


def test_topic_defaults_follow_broker_synonyms():
    broker = {"log.retention.hours": 1, "log.segment.bytes": 4096, "log.cleanup.policy": "compact"}
    topic = load("topic", {"retention.bytes": 100}, topic_defaults(broker))
    assert topic["retention.ms"] == 3600000
    assert topic["segment.bytes"] == 4096
    assert topic["cleanup.policy"] == ("compact",)
    assert topic["retention.bytes"] == 100
    assert topic_defaults({"log.retention.minutes": 2, "log.retention.hours": 5})[
        "retention.ms"] == 120000
    assert topic_defaults({"log.retention.ms": 7, "log.retention.minutes": 2})["retention.ms"] == 7
    assert topic_defaults({"log.roll.hours": 2})["segment.ms"] == 7200000


@pytest.mark.parametrize(
    ("kind", "name", "suggestion"),
    [("topic", "retention.msec", "retention.ms"), ("producer", "lingr.ms", "linger.ms"),
     ("consumer", "auto.offset.rest", "auto.offset.reset"), ("producer", "ack", "acks"),
     ("consumer", "max.poll.record", "max.poll.records")],
)
def test_unknown_name_suggests_closest(kind, name, suggestion):
    with pytest.raises(KafkaConfigError) as err:
        validate(kind, {name: 1})
    assert repr(name) in str(err.value)
    assert f"Did you mean {suggestion!r}?" in str(err.value)


def test_topic_name_in_broker_config_points_to_its_synonym():
    with pytest.raises(KafkaConfigError, match=re.escape("'log.retention.ms'")):
        validate("broker", {"retention.ms": 1000})
    with pytest.raises(KafkaConfigError, match=re.escape("topic config is 'segment.bytes'")):
        validate("topic", {"log.segment.bytes": 1000})


@pytest.mark.parametrize(
    ("kind", "mapping", "message"),
    [
        ("consumer", {"max.poll.records": 0},
         "Invalid value 0 for configuration max.poll.records: Value must be at least 1"),
        ("producer", {"acks": "2"}, "configuration acks: String must be one of"),
        ("producer", {"linger.ms": "soon"}, "configuration linger.ms"),
        ("producer", {"batch.size": True}, "configuration batch.size: Expected an integer"),
        ("producer", {"batch.size": 1.5}, "Expected a whole number"),
        ("producer", {"enable.idempotence": "yes"}, "either true or false"),
        ("topic", {"min.cleanable.dirty.ratio": 1.5}, "min.cleanable.dirty.ratio"),
        ("topic", {"retention.ms": -2}, "Value must be at least -1"),
        ("topic", {"cleanup.policy": "compact,dlete"}, "'dlete' is not one of"),
        ("topic", {"segment.bytes": 2**31}, "fit a Java int"),
        ("consumer", {"auto.offset.reset": "beginning"}, "earliest"),
        ("consumer", {"partition.assignment.strategy": "rnage"}, "Did you mean 'range'"),
        ("consumer", {"group.id": "g", "heartbeat.interval.ms": 50000},
         "must be lower than session.timeout.ms"),
        ("producer", {"segment.bytes": 1}, "Unknown producer config"),
    ],
)
def test_bad_values_rejected_with_one_clear_message(kind, mapping, message):
    with pytest.raises(KafkaConfigError) as err:
        validate(kind, mapping)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_values_are_converted_like_kafka_and_units_accepted():
    config = validate("topic", {"retention.ms": "7d", "segment.bytes": "1gb",
                                "min.cleanable.dirty.ratio": "0.1", "cleanup.policy":
                                "compact, delete", "delete.retention.ms": "250"})
    assert config["retention.ms"] == 604800000
    assert config["segment.bytes"] == 1073741824
    assert config["min.cleanable.dirty.ratio"] == 0.1
    assert config["cleanup.policy"] == ("compact", "delete")
    assert config["delete.retention.ms"] == 250
    assert validate("producer", {"acks": -1})["acks"] == "all"
    assert validate("producer", {"acks": 0, "enable.idempotence": "false"})["acks"] == "0"
    assert validate("consumer", {"partition.assignment.strategy": [
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", "RoundRobinAssignor"]})[
        "partition.assignment.strategy"] == ("cooperative-sticky", "roundrobin")


def test_tiny_segments_allowed_for_teaching():
    assert validate("topic", {"segment.bytes": 100})["segment.bytes"] == 100


def test_idempotence_conflicts_follow_kafka():
    # Not set explicitly: conflicting settings silently turn idempotence off.
    assert validate("producer", {"acks": "1"})["enable.idempotence"] is False
    assert validate("producer", {"retries": 0})["enable.idempotence"] is False
    assert validate("producer", {"max.in.flight.requests.per.connection": 6})[
        "enable.idempotence"] is False
    # Set explicitly: a ConfigException.
    with pytest.raises(KafkaConfigError, match="acks to all"):
        validate("producer", {"acks": "1", "enable.idempotence": True})
    with pytest.raises(KafkaConfigError, match="retries to non-zero"):
        validate("producer", {"retries": 0, "enable.idempotence": True})
    with pytest.raises(KafkaConfigError, match="at most 5"):
        validate("producer", {"max.in.flight.requests.per.connection": 6,
                              "enable.idempotence": True})
    with pytest.raises(KafkaConfigError, match=re.escape("transactional.id")):
        validate("producer", {"transactional.id": "t", "acks": "1"})


def test_delivery_timeout_floor():
    assert validate("producer", {"linger.ms": 100000})["delivery.timeout.ms"] == 130000
    with pytest.raises(KafkaConfigError, match=re.escape("linger.ms + request.timeout.ms")):
        validate("producer", {"delivery.timeout.ms": 1000})


def test_auto_commit_without_group_is_an_error_when_explicit():
    with pytest.raises(InvalidConfigurationError, match="default group id"):
        validate("consumer", {"enable.auto.commit": True})


def test_loaded_config_is_read_only_and_knows_explicit_names():
    config = load("producer", {"linger.ms": 10})
    assert config.explicit == {"linger.ms"}
    assert config.overridden() == {"linger.ms": 10}
    assert config.seconds("linger.ms") == 0.01
    with pytest.raises(TypeError):
        config.values["linger.ms"] = 1  # type: ignore[index]
    with pytest.raises(KeyError, match=re.escape("Did you mean 'linger.ms'")):
        config["linger"]


def test_unknown_kind():
    with pytest.raises(KafkaConfigError, match="kind"):
        validate("zookeeper", {})
