"""Workload files: every OMB fixture maps to the right numbers, the TOML example round-trips,
and each kind of malformed file gives one error naming the file and the field."""

from pathlib import Path

import pytest

from experiments.workloads import (
    EXAMPLES_DIR,
    WorkloadFileError,
    load_workload_file,
    load_workload_text,
    parse_omb,
    to_toml,
)
from experiments.workloads.settings import UNROUTED, kafka_properties
from sim import Simulation
from sim.arrivals import Constant, OnOff, Poisson
from sim.distributions import Exponential, Fixed, LogNormal, RoundRobin, UniformChoice, Zipf

OMB = Path(__file__).parent / "data" / "omb"

# file: (topics, partitions, size, subscriptions, consumers, producers per topic, rate,
#        test minutes, backlog GiB)
OMB_FIXTURES = {
    "1-topic-1-partition-100b.yaml": (1, 1, 100, 1, 1, 1, 50000, 15, 0),
    "1-topic-16-partitions-1kb.yaml": (1, 16, 1024, 1, 1, 1, 50000, 15, 0),
    "1-topic-3-partition-100b-3producers.yaml": (1, 3, 100, 1, 1, 3, 0, 15, 0),
    "100-topics-1-partitions-1kb.yaml": (100, 1, 1024, 3, 1, 1, 150000, 240, 0),
    "simple-workload.yaml": (1, 10, 1024, 1, 1, 1, 10000, 5, 0),
    "1-topic-100-partitions-1kb-4p-4c-200k-backlog.yaml": (1, 100, 1024, 1, 4, 4, 200000, 5,
                                                           512),
}


def test_every_fixture_is_tested_and_keeps_its_license_header():
    assert sorted(p.name for p in OMB.glob("*.yaml")) == sorted(OMB_FIXTURES)
    for path in [*OMB.glob("*.yaml"), *(EXAMPLES_DIR / "omb").glob("*.yaml")]:
        assert "Licensed under the Apache License, Version 2.0" in path.read_text(), path


@pytest.mark.parametrize("name", sorted(OMB_FIXTURES))
def test_omb_fixture_maps_to_the_right_numbers(name):
    topics, parts, size, subs, cons, ppt, rate, minutes, gib = OMB_FIXTURES[name]
    omb = parse_omb((OMB / name).read_text(), name)
    assert (omb.topics, omb.partitionsPerTopic, omb.messageSize, omb.subscriptionsPerTopic,
            omb.consumerPerSubscription, omb.producersPerTopic, omb.producerRate,
            omb.testDurationMinutes, omb.consumerBacklogSizeGB) == (
        topics, parts, size, subs, cons, ppt, rate, minutes, gib)
    assert omb.warmupDurationMinutes == 1 and omb.keyDistributor == "NO_KEY"

    desc = load_workload_file(OMB / name)
    w = desc.workload
    assert desc.format == "omb" and desc.warmup == 60.0
    assert [t.name for t in desc.topics] == [f"test-topic-{i:07d}" for i in range(topics)]
    assert {t.partitions for t in desc.topics} == {parts}
    assert len(w.producers) == topics * ppt
    assert all(isinstance(p.arrivals, Constant) and p.sizes == Fixed(size) and p.keys is None
               for p in w.producers)
    assert w.mean_rate == pytest.approx(rate or 10000)
    assert desc.find_max_rate is (rate == 0)
    assert len(desc.groups) == topics * subs
    assert {g.consumers for g in desc.groups} == {cons}
    assert desc.measured_duration == pytest.approx(minutes * 60)
    if gib:
        assert desc.backlog.size == gib * 1024**3 and desc.backlog.drain_ratio == 1.0
        build = gib * 1024**3 / (rate * size * subs)
        assert desc.backlog_build_time() == pytest.approx(build)
        assert w.duration == pytest.approx(60 + build + minutes * 60)
    else:
        assert desc.backlog is None and w.duration == pytest.approx(60 + minutes * 60)


def test_omb_producers_are_staggered_to_send_evenly_in_total():
    desc = load_workload_file(OMB / "1-topic-100-partitions-1kb-4p-4c-200k-backlog.yaml")
    batch = desc.workload.generate(Simulation(seed=1), 0.0, 0.001)
    assert len(batch) == 200
    assert batch.t == pytest.approx([i / 200000 for i in range(200)])
    assert set(batch.producer.tolist()) == {0, 1, 2, 3}


def test_omb_optional_fields_and_key_distributors():
    base = (OMB / "simple-workload.yaml").read_text()
    omb = parse_omb(base + "keyDistributor: KEY_ROUND_ROBIN\nwarmupDurationMinutes: 0\n"
                    "backlogDrainRatio: 0.5\n")
    desc = omb.describe()
    assert desc.workload.producers[0].keys == RoundRobin(10_000) and desc.warmup == 0
    assert parse_omb(base + "keyDistributor: RANDOM_NANO\n").keys() == UniformChoice(10_000)
    quoted = parse_omb(base.replace("producerRate: 10000", 'producerRate: "2e4"'))
    assert quoted.producerRate == 20000  # Jackson reads a quoted number as a number
    assert desc.extra == (("payloadFile", "payload/payload-1Kb.data"),)


def test_toml_example_parses_and_round_trips():
    desc = load_workload_file(EXAMPLES_DIR / "example.toml")
    w = desc.workload
    assert (w.name, w.duration, desc.warmup) == ("orders", 60.0, 5.0)
    web, payments, imports = w.producers
    assert web.arrivals == Poisson(2000) and web.sizes == LogNormal(1024, 0.5)
    assert web.keys == Zipf(1000, 1.1)
    assert payments.arrivals == OnOff(5000, 1.0, 4.0, inner="constant")
    assert imports.target == ("orders", "payments") and (imports.start, imports.stop) == (20, 40)
    assert [(t.name, t.partitions, t.replication_factor) for t in desc.topics] == [
        ("orders", 6, 3), ("payments", 3, 3)]
    assert dict(desc.topic("orders").config) == {"retention.ms": 600000}
    billing, analytics = desc.groups
    assert billing.consumers == 2 and isinstance(billing.service, Exponential)
    assert billing.service.mean == pytest.approx(200e-6)
    assert analytics.targets == ("orders",)
    assert desc.redis_settings == {"client-output-buffer-limit": "pubsub 32mb 8mb 60"}
    assert desc.brokers == 3

    text = to_toml(desc)
    again = load_workload_text(text, "toml", desc.source)
    assert again == desc
    assert to_toml(again) == text


def test_scaling_keeps_rates_and_compresses_the_schedule():
    desc = load_workload_file(EXAMPLES_DIR / "example.toml")
    small = desc.scaled(0.1)
    assert small.workload.duration == pytest.approx(6.0) and small.warmup == pytest.approx(0.5)
    assert small.workload.mean_rate == desc.workload.mean_rate
    assert (small.workload.producers[2].start, small.workload.producers[2].stop) == \
        pytest.approx((2.0, 4.0))
    longer = small.with_duration(10.0)
    assert longer.measured_duration == pytest.approx(10.0)
    assert desc.at_rate(7000).workload.mean_rate == pytest.approx(7000)


def _omb(**change):
    text = (OMB / "simple-workload.yaml").read_text()
    for key, value in change.items():
        if value is None:
            text = "\n".join(line for line in text.splitlines()
                             if not line.startswith(f"{key}:"))
        elif f"\n{key}:" in text:
            text = "\n".join(f"{key}: {value}" if line.startswith(f"{key}:") else line
                             for line in text.splitlines())
        else:
            text += f"\n{key}: {value}\n"
    return text


TOML_OK = """duration = "10s"
[[producers]]
name = "p"
target = "t"
arrivals = "poisson:100"
sizes = 100
"""

MALFORMED = [
    # OMB: missing field, wrong type, unknown field with a suggestion, bad enum, rules
    ("omb", _omb(producerRate=None), "w.yaml: producerRate: missing (this field is required)"),
    ("omb", _omb(producerRate="fast"), "w.yaml: producerRate: must be a number >= 0, got 'fast'"),
    ("omb", _omb(topics="two"), "w.yaml: topics: must be an integer >= 1, got 'two'"),
    ("omb", _omb(partitionsPerTopic=0), "w.yaml: partitionsPerTopic: must be an integer >= 1"),
    ("omb", _omb(producerRat=5), "w.yaml: producerRat: unknown field; did you mean "
                                 "'producerRate'?"),
    ("omb", _omb(keyDistributor="ROUND_ROBIN"), "w.yaml: keyDistributor: must be one of"),
    ("omb", _omb(producerRate=0, consumerBacklogSizeGB=1),
     "w.yaml: consumerBacklogSizeGB: cannot be combined with producerRate: 0"),
    ("omb", _omb(useRandomizedPayloads="yes please"),
     "w.yaml: useRandomizedPayloads: must be true or false"),
    ("omb", "topics: [1\n", "w.yaml: not valid YAML (line 2, column 1)"),
    ("omb", "- 1\n- 2\n", "w.yaml: an OMB workload must be a mapping"),
    # TOML: missing field, wrong type, unknown field with a suggestion, bad unit
    ("toml", TOML_OK.replace('duration = "10s"', ""),
     "w.toml: duration: missing (this field is required)"),
    ("toml", TOML_OK.replace('"10s"', '"10 parsecs"'),
     "w.toml: duration: cannot parse duration '10 parsecs'"),
    ("toml", TOML_OK.replace("sizes = 100", 'sizes = "1 parsec"'),
     "w.toml: producers[0].sizes: size: cannot parse size '1 parsec'"),
    ("toml", TOML_OK.replace("arrivals", "arival"),
     "w.toml: producers[0].arival: unknown field; did you mean 'arrivals'?"),
    ("toml", TOML_OK.replace('"poisson:100"', '"poison:100"'),
     "w.toml: producers[0].arrivals: unknown arrivals kind 'poison'; did you mean 'poisson'?"),
    ("toml", "warmpu = 1\n" + TOML_OK, "w.toml: warmpu: unknown field; did you mean 'warmup'?"),
    ("toml", TOML_OK + "[[subscribers]]\nname = 's'\nconsumers = 'two'\n",
     "w.toml: subscribers[0].consumers: must be an integer >= 1, got 'two'"),
    ("toml", TOML_OK + "[[subscribers]]\nname = 's'\ntargets = ['tt']\n",
     "w.toml: subscribers[0].targets: no producer sends to 'tt'"),
    ("toml", TOML_OK + "[topics.t]\npartitions = -1\n",
     "w.toml: topics.t.partitions: must be an integer >= 1, got -1"),
    ("toml", TOML_OK + '[redis]\n"client-output-bufer-limit" = "pubsub 1mb 1mb 1"\n',
     "w.toml: redis.client-output-bufer-limit: unknown Redis setting "
     "'client-output-bufer-limit'; did you mean 'client-output-buffer-limit'?"),
    ("toml", TOML_OK + "[kafka]\nbrokers = 0\n", "w.toml: kafka.brokers: must be an integer >= 1"),
    ("toml", "duration = \n", "w.toml: not valid TOML: Invalid value (at line 1, column 12)"),
]


@pytest.mark.parametrize(("fmt", "text", "message"), MALFORMED,
                         ids=[m[2].split(":")[1].strip() + f"-{i}"
                              for i, m in enumerate(MALFORMED)])
def test_malformed_file_gives_one_error_naming_the_field(fmt, text, message):
    source = "w.yaml" if fmt == "omb" else "w.toml"
    with pytest.raises(WorkloadFileError) as caught:
        load_workload_text(text, fmt, source)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_file_level_errors(tmp_path):
    with pytest.raises(WorkloadFileError, match=r"nope\.toml: no such file"):
        load_workload_file(tmp_path / "nope.toml")
    (tmp_path / "w.json").write_text("{}")
    with pytest.raises(WorkloadFileError, match="unknown workload file type"):
        load_workload_file(tmp_path / "w.json")


def test_trace_paths_are_relative_to_the_workload_file(tmp_path):
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "t.csv").write_text("t,size\n0,10\n0.5,20\n")
    (tmp_path / "w.toml").write_text(TOML_OK.replace('"poisson:100"', '"trace:traces/t.csv"')
                                     .replace("sizes = 100\n", ""))
    desc = load_workload_file(tmp_path / "w.toml")
    batch = desc.workload.generate(Simulation(seed=0))
    assert batch.size.tolist() == [10, 20]


HAS_KAFKA = kafka_properties() is not None
KAFKA = '[kafka]\n"linger.ms" = 5\n"client.id" = "x"\n"retention.ms" = 1000\n'


@pytest.mark.skipif(not HAS_KAFKA, reason="models.kafka is not installed")
def test_flat_kafka_names_go_to_every_kind_that_has_them():
    desc = load_workload_text(TOML_OK + KAFKA, "toml", "w.toml")
    assert desc.kafka_settings("producer") == {"linger.ms": 5, "client.id": "x"}
    assert desc.kafka_settings("consumer") == {"client.id": "x"}
    assert desc.kafka_settings("topic") == {"retention.ms": 1000}
    assert load_workload_text(to_toml(desc), "toml", "w.toml") == desc


@pytest.mark.skipif(HAS_KAFKA, reason="models.kafka is installed")
def test_kafka_names_are_kept_unchecked_without_the_kafka_model():
    desc = load_workload_text(TOML_OK + KAFKA, "toml", "w.toml")
    assert desc.kafka_settings(UNROUTED) == {"linger.ms": 5, "client.id": "x",
                                             "retention.ms": 1000}
    assert load_workload_text(to_toml(desc), "toml", "w.toml") == desc


@pytest.mark.skipif(not HAS_KAFKA, reason="models.kafka is not installed")
@pytest.mark.parametrize(("extra", "field", "message"), [
    ('[kafka]\n"linger.msec" = 5\n', "kafka.linger.msec",
     "unknown Kafka property; did you mean 'linger.ms'?"),
    ('[kafka.producer]\nacks = "al"\n', "kafka.producer.acks",
     "Invalid value 'al' for configuration acks"),
    ('[topics.t]\nconfig = { "retention.msx" = 5 }\n', "topics.t.config.retention.msx",
     "unknown Kafka topic property; did you mean 'retention.ms'?"),
])
def test_kafka_settings_are_checked_by_kafka(extra, field, message):
    with pytest.raises(WorkloadFileError) as caught:
        load_workload_text(TOML_OK + extra, "toml", "w.toml")
    assert caught.value.field == field and message in caught.value.message
    assert str(caught.value).startswith(f"w.toml: {field}: ")


def test_replication_factor_above_the_broker_count_is_rejected():
    with pytest.raises(WorkloadFileError, match=r"w\.toml: topics\.t\.replication_factor: 5 is "
                                                r"more than the 3 brokers"):
        load_workload_text(TOML_OK + "[topics.t]\nreplication_factor = 5\n", "toml", "w.toml")
