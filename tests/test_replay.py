"""``replay``: a workload file through the models — every owed copy accounted for, the numbers
Redis must give (no storage: a paused or cut-off subscriber loses), the maximum-rate search,
and the CLI end to end in a subprocess."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.replay import (
    check_replay,
    experiment_name,
    kafka_available,
    mapping_notes,
    prepare,
    replay,
    replay_kafka,
)
from experiments.workloads import load_workload_text
from sim import Simulation

ROOT = Path(__file__).resolve().parents[1]
OMB = ROOT / "tests" / "data" / "omb"


def metrics(result, model="redis"):
    return {m.metric: m.value for m in result.metrics if m.model == model}


def test_redis_replay_of_an_omb_workload_accounts_for_every_copy():
    desc = prepare(OMB / "simple-workload.yaml", time_scale=0.001)  # 0.36 s at 10 000 msg/s
    result = replay(desc, seed=4, models=("redis",))
    check_replay([result])
    m = metrics(result)
    assert m["published"] == 3600 and m["owed"] == 3600
    assert m["delivered"] == 3600 and m["lost"] == 0 and m["undelivered_at_end"] == 0
    assert m["duplicated"] == 0 and m["receiver/sub-000-0000000/c0/duplicated"] == 0
    # a 100 µs hop each way, plus the PUBLISH and delivery CPU costs (1.55 µs)
    assert m["latency_p50"] == pytest.approx(0.2016, abs=1e-3)
    assert m["publish_rate"] == pytest.approx(10000, rel=1e-3)
    assert replay(desc, seed=4, models=("redis",)).metrics == result.metrics


def test_a_paused_redis_subscriber_loses_the_backlog():
    desc = prepare(OMB / "1-topic-100-partitions-1kb-4p-4c-200k-backlog.yaml", time_scale=1e-4)
    result = replay(desc, seed=0, models=("redis",))
    check_replay([result])
    m = metrics(result)
    pause = desc.backlog_build_time()
    # Pub/Sub stores nothing: what was sent while the subscribers were away is gone.
    assert m["lost/disconnected"] == pytest.approx(pause * 200_000, rel=0.01)
    assert m["delivered"] + m["lost"] == m["owed"]
    assert m["backlog_drain_time"] == 0.0  # nothing kept, nothing to drain


SLOW = """duration = "3s"
[[producers]]
name = "p"
target = ["a", "b"]
arrivals = "constant:2000"
sizes = "1kb"
[[subscribers]]
name = "slow"
service = "1ms"
[[subscribers]]
name = "fast"
consumers = 2
[redis]
"client-output-buffer-limit" = "pubsub 256kb 128kb 1"
"""


def test_a_slow_redis_subscriber_is_cut_off_at_the_output_buffer_limit():
    desc = load_workload_text(SLOW, "toml", "slow.toml")
    m = metrics(replay(desc, seed=1, models=("redis",)))
    assert m["group/slow/lost"] > 0 and m["lost/output-buffer-limit"] == m["group/slow/lost"]
    assert m["group/fast/lost"] == 0 and m["group/fast/delivered"] == 6000
    # the fast group's two connections split the two channels
    assert m["receiver/fast/c0/delivered"] + m["receiver/fast/c1/delivered"] == 6000


def test_max_rate_search_finds_the_redis_cpu_limit():
    desc = prepare(OMB / "1-topic-3-partition-100b-3producers.yaml", time_scale=1e-4)
    assert desc.find_max_rate
    result = replay(desc, seed=0, models=("redis",))
    m = metrics(result)
    # one subscriber: 0.65 µs per PUBLISH + 0.9 µs per copy → about 645 000 msg/s
    assert 0.9 * 645_000 <= m["max_rate"] <= 1.04 * 645_000
    assert m["search_trials"] >= 8
    ok = result.series["redis/search"]["sustainable"]
    assert ok.any() and not ok.all()
    check_replay([result])


def test_mapping_notes_name_idle_consumers():
    desc = prepare(OMB / "1-topic-100-partitions-1kb-4p-4c-200k-backlog.yaml", 1e-4)
    notes = mapping_notes(desc, ("redis", "kafka"))
    assert notes == ["redis: 3 of the 4 consumers of group sub-000-0000000 stay idle: Pub/Sub "
                     "cannot share a channel among connections, so they split its 1 channel(s)"]


def test_experiment_names_are_valid():
    assert experiment_name("x/1 Topic (100b).yaml") == "replay-1-topic-100b"


@pytest.mark.skipif(kafka_available() is None, reason="the Kafka model is installed")
def test_replay_kafka_names_what_is_missing():
    desc = prepare(OMB / "simple-workload.yaml", time_scale=0.001)
    with pytest.raises(NotImplementedError, match=r"Producer\.produce"):
        replay_kafka(desc, Simulation(seed=0))


needs_kafka = pytest.mark.skipif(kafka_available() is not None,
                                 reason="the Kafka model is not installed")


@needs_kafka
def test_kafka_replay_accounts_for_every_copy():
    desc = prepare(OMB / "simple-workload.yaml", time_scale=0.001)
    result = replay(desc, seed=4, models=("kafka",))
    check_replay([result])
    m = metrics(result, "kafka")
    assert m["published"] == 3600 and m["delivered"] == 3600 and m["lost"] == 0
    assert m["duplicated"] == 0 and m["undelivered_at_end"] == 0


@needs_kafka
def test_kafka_keeps_what_redis_loses():
    backlog = prepare(OMB / "1-topic-100-partitions-1kb-4p-4c-200k-backlog.yaml", 1e-4)
    slow = load_workload_text(SLOW, "toml", "slow.toml")
    for desc in (backlog, slow):
        result = replay(desc, seed=0)
        check_replay([result])
        redis, kafka = metrics(result, "redis"), metrics(result, "kafka")
        assert redis["published"] == kafka["published"]  # the same messages
        assert redis["lost"] > 0
        assert kafka["lost"] == 0 and kafka["delivered"] == kafka["owed"]
    assert 0 < kafka["latency_max"] < 10_000


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "experiments", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_replay_end_to_end(tmp_path):
    done = cli("replay", str(OMB / "simple-workload.yaml"), "--time-scale", "0.0005",
               "--out", str(tmp_path), "--seed", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "replay-simple-workload: expected outcome held" in done.stdout
    with (tmp_path / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    delivered = [r for r in rows if r["metric"] == "delivered" and r["model"] == "redis"]
    assert len(delivered) == 1 and delivered[0]["value"] == "1800"
    report = (tmp_path / "report.md").read_text()
    assert "| redis | latency_p99 |" in report and "time scale 0.0005" in report
    figures = tmp_path / "figures" / "replay-simple-workload"
    assert {p.name for p in figures.iterdir()} >= {"latency_cdf.png", "latency_cdf.svg",
                                                  "timeline.png", "timeline.svg"}


def test_cli_replay_of_a_malformed_file_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "1-topic.yaml"
    bad.write_text((OMB / "simple-workload.yaml").read_text()
                   .replace("producerRate: 10000", "producerRate: fast"))
    done = cli("replay", str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr == (f"python -m experiments: error: WorkloadFileError: {bad}: "
                           "producerRate: must be a number >= 0, got 'fast'\n")
    assert not (tmp_path / "out").exists()
