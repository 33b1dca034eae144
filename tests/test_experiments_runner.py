"""The runner and the files it writes: seeds, sweeps, tidy CSV, reproducibility, failures."""

import csv
import io

import pytest

from experiments.experiment import UsageError
from experiments.registry import all_experiments
from experiments.report import CSV_COLUMNS, to_csv, write_outputs
from experiments.runner import execute, plan, replication_seeds


@pytest.fixture
def registry():
    return all_experiments(["experiments_demo"])


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def _without_wall_time(text):
    return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in _rows(text)]


def test_replication_seeds_are_stable_and_extend():
    assert replication_seeds(7, 3) == replication_seeds(7, 3)
    assert replication_seeds(7, 5)[:3] == replication_seeds(7, 3)
    assert len(set(replication_seeds(7, 50))) == 50
    assert replication_seeds(7, 2) != replication_seeds(8, 2)
    with pytest.raises(UsageError, match="--replications"):
        replication_seeds(7, 0)


def test_plan_expands_the_grid_with_common_seeds_per_replication(registry):
    specs = plan([registry["demo"]], seed=3, replications=2, quick=True,
                 overrides={"latency.ms": "2"},
                 sweep={"loss.probability": ["0.1", "0.2"], "messages": [100, 200, 300]})
    assert len(specs) == 2 * 3 * 2
    assert specs[0].point == "loss.probability=0.1,messages=100"
    assert {s.params["latency.ms"] for s in specs} == {2.0}
    assert {s.seed for s in specs if s.replication == 1} == {replication_seeds(3, 2)[1]}
    with pytest.raises(UsageError, match=r"unknown parameter 'mesages' of experiment 'demo'; "
                                         r"did you mean 'messages'\?"):
        plan([registry["demo"]], sweep={"mesages": [1]})


def test_overrides_go_to_the_experiments_that_have_them(registry):
    both = [registry["demo"], registry["demo-noplot"]]
    specs = plan(both, overrides={"messages": "50"})
    assert {s.params["messages"] for s in specs} == {50}
    with pytest.raises(UsageError, match="in none of the chosen experiments"):
        plan(both, overrides={"nope": "1"})


def test_same_seed_same_numbers_and_parallel_equals_sequential(registry):
    specs = plan([registry["demo"]], seed=11, replications=3, quick=True,
                 sweep={"loss.probability": [0.1, 0.4]})
    first = to_csv(execute(registry, specs, progress=False))
    again = to_csv(execute(registry, specs, progress=False))
    parallel = to_csv(execute(registry, specs, jobs=2, progress=False))
    assert _without_wall_time(first) == _without_wall_time(again) == _without_wall_time(parallel)
    other_seed = plan([registry["demo"]], seed=12, replications=3, quick=True,
                      sweep={"loss.probability": [0.1, 0.4]})
    assert _without_wall_time(to_csv(execute(registry, other_seed, progress=False))) != \
        _without_wall_time(first)


def test_csv_is_tidy(registry):
    specs = plan([registry["demo"]], seed=1, replications=2, quick=True)
    rows = _rows(to_csv(execute(registry, specs, progress=False)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * 6  # replications x metrics (3 for redis, 3 for kafka)
    keys = {(r["experiment"], r["point"], r["replication"], r["model"], r["metric"]) for r in rows}
    assert len(keys) == len(rows)  # one row per experiment x point x replication x model x metric
    assert all(r["version"] and float(r["wall_time_s"]) >= 0 and r["error"] == "" for r in rows)
    assert {r["model"] for r in rows} == {"redis", "kafka"}
    assert all(float(r["value"]) >= 0 for r in rows)


def test_a_failing_run_carries_its_error_and_the_others_go_on(registry):
    specs = plan([registry["demo"]], seed=1, replications=1, quick=True,
                 sweep={"fail": ["false", "true"]})
    ok, failed = execute(registry, specs, progress=False)
    assert ok.ok and ok.metrics
    assert not failed.ok and "RuntimeError: demo failure requested" in failed.error
    assert failed.params["fail"] is True and failed.seed == ok.seed
    rows = _rows(to_csv([ok, failed]))
    assert rows[-1]["error"] == "RuntimeError: demo failure requested with fail=true"


def test_write_outputs_writes_csv_figures_and_report(registry, tmp_path):
    chosen = [registry["demo"], registry["demo-noplot"]]
    specs = plan(chosen, seed=5, replications=3, quick=True)
    outputs = write_outputs(tmp_path, chosen, execute(registry, specs, progress=False))
    assert outputs.failed_runs == 0
    assert outputs.checks == {"demo": "held",
                              "demo-noplot": "not checked (the experiment has no check)"}
    assert [p.name for p in outputs.figures["demo"]] == ["latency-cdf.png", "latency-cdf.svg"]
    assert len(outputs.figures["demo-noplot"]) == 2 * 3  # default: one figure per metric
    report = outputs.report.read_text()
    for exp in chosen:
        assert exp.question in report and exp.expected in report
    assert "| redis | lost |" in report and "95% CI" in report
    assert "](figures/demo/latency-cdf.png)" in report
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_to_dataframe_when_pandas_is_installed(registry):
    pd = pytest.importorskip("pandas")
    from experiments.report import to_dataframe

    results = execute(registry, plan([registry["demo"]], quick=True), progress=False)
    frame = to_dataframe(results)
    assert isinstance(frame, pd.DataFrame) and frame["value"].dtype.kind == "f"
