"""The bench harness on the naive baselines with tiny counts."""

import csv

import pytest

from experiments.baselines import naive_kafka_groups, naive_redis_fanout
from experiments.bench import BenchRow, format_table, run_bench, write_bench
from experiments.experiment import UsageError
from experiments.registry import all_bench_cases


def test_naive_redis_fanout_delivers_every_copy():
    outcome = naive_redis_fanout(50, subscribers=3)
    assert outcome.deliveries == 150
    assert 80 <= outcome.trace_bytes / outcome.deliveries <= 100  # tuple + float + list slot
    assert outcome.wall_s is not None and outcome.wall_s > 0


def test_naive_kafka_groups_delivers_every_record_to_every_group():
    outcome = naive_kafka_groups(64, partitions=16, groups=2, consumers_per_group=4)
    assert outcome.deliveries == 128
    assert naive_kafka_groups(10, partitions=3, groups=1, consumers_per_group=2).deliveries == 10


def test_registry_has_the_baselines_and_injected_cases():
    cases = all_bench_cases(["experiments_demo"])
    assert cases["naive-redis-fanout"].is_baseline and cases["naive-kafka-groups"].is_baseline
    assert cases["demo-fast"].baseline == "naive-redis-fanout"


def test_run_bench_measures_and_compares_with_the_baseline_in_the_same_run(tmp_path):
    cases = all_bench_cases(["experiments_demo"])
    rows = run_bench(cases, ["demo-fast"], scale=0.002, isolate=False)
    assert [r.case for r in rows] == ["naive-redis-fanout", "demo-fast"]  # baseline pulled in
    base, model = rows
    assert base.n == 200 and base.deliveries == 2000 and base.ratio is None
    assert model.ratio == pytest.approx(model.rate / base.rate)
    assert model.trace_per_delivery == 8.0 and model.targets()["trace"] == "PASS"
    assert base.targets() == {"rate": "-", "ratio": "-", "trace": "-"}
    table = format_table(rows)
    assert "naive-redis-fanout" in table and "PASS" in table

    csv_path, md_path = write_bench(tmp_path, rows)
    written = list(csv.DictReader(csv_path.open()))
    assert [r["case"] for r in written] == ["naive-redis-fanout", "demo-fast"]
    assert float(written[1]["ratio_vs_baseline"]) > 0
    assert "≥1M/s" in md_path.read_text() and "per second of wall time" in md_path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.csv", "bench.md"]


def test_isolated_cases_run_in_a_fresh_process():
    cases = all_bench_cases()
    (row,) = run_bench(cases, ["naive-kafka-groups"], scale=0.001, isolate=True)
    assert row.deliveries == 200 and row.rss_delta_bytes >= 0 and row.wall_s > 0


def test_targets_pass_and_miss():
    fast = BenchRow("m", "model", 10, "msgs", 2_000_000, 1.0, 40 * 2_000_000, 0, "b", 6.0)
    slow = BenchRow("m", "model", 10, "msgs", 500_000, 1.0, 49 * 500_000, 0, "b", 4.0)
    assert fast.targets() == {"rate": "PASS", "ratio": "PASS", "trace": "PASS"}
    assert slow.targets() == {"rate": "MISS", "ratio": "MISS", "trace": "MISS"}


def test_unknown_case_is_named():
    with pytest.raises(UsageError, match=r"unknown bench case 'naive-redis'; did you mean"):
        run_bench(all_bench_cases(), ["naive-redis"], isolate=False)


def test_a_case_naming_an_unknown_baseline_is_a_registry_error(tmp_path, monkeypatch):
    from experiments.registry import RegistryError

    (tmp_path / "bad_bench.py").write_text(
        "from experiments.bench import BenchCase, BenchOutcome\n"
        "def run(n):\n    return BenchOutcome(n, 0)\n"
        "BENCH_CASES = (BenchCase('x', 'x', run, 10, baseline='naive-redis-fanuot'),)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegistryError, match="did you mean 'naive-redis-fanout'"):
        all_bench_cases(["bad_bench"])


def test_kafka_groups_case_delivers_every_record_to_both_groups():
    from experiments.scenarios.bench_cases import kafka_groups

    outcome = kafka_groups(2000, rate=500.0)  # 4 s: the groups join after their 3 s delay
    assert outcome.deliveries == 4000 and outcome.trace_bytes > 0
