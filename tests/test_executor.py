"""``--executor``: serial, process pool and a Dask cluster give the same numbers for the same
seed; bad executors are usage errors. The Dask tests skip when dask[distributed] is missing."""

import csv
import importlib.util
import io

import experiments_demo
import pytest

from experiments import runner
from experiments.cli import main
from experiments.experiment import UsageError
from experiments.report import to_csv
from experiments.runner import ExecutorSpec, execute, parse_executor, plan

HAS_DASK = importlib.util.find_spec("distributed") is not None
needs_dask = pytest.mark.skipif(not HAS_DASK, reason="dask[distributed] is not installed "
                                                     "(pip install 'brokersim[dask]')")
DEMO = experiments_demo.EXPERIMENTS[0]  # "demo": one figure to draw


def numbers(results):
    """Everything a run computed, without its wall time."""
    return [(r.experiment, r.point, r.replication, r.seed, r.error, r.metrics) for r in results]


def tiny_sweep():
    return plan([DEMO], seed=5, replications=2, sweep={"messages": [100, 200]})


@pytest.mark.parametrize(("text", "spec"), [
    ("process", ExecutorSpec("process")),
    ("serial", ExecutorSpec("serial")),
    ("dask://127.0.0.1:8786", ExecutorSpec("dask", "tcp://127.0.0.1:8786")),
    ("dask://tls://sched:8786", ExecutorSpec("dask", "tls://sched:8786")),
])
def test_parse_executor(text, spec):
    assert parse_executor(text) == spec
    assert parse_executor(str(spec)) == spec


@pytest.mark.parametrize(("text", "message"), [
    ("proces", "did you mean 'process'?"),
    ("dask://", "needs the scheduler's address"),
    ("thread", "use process, serial or dask://HOST:PORT"),
])
def test_bad_executor_is_a_usage_error(text, message):
    with pytest.raises(UsageError, match=message):
        parse_executor(text)


def test_serial_and_process_pool_give_the_same_numbers():
    registry = {DEMO.name: DEMO}
    serial = execute(registry, tiny_sweep(), executor="serial", progress=False)
    pooled = execute(registry, tiny_sweep(), jobs=2, executor="process", progress=False)
    assert all(r.ok for r in serial) and len(serial) == 4
    assert numbers(serial) == numbers(pooled)


@pytest.fixture(scope="module")
def dask_address():
    if not HAS_DASK:
        pytest.skip("dask[distributed] is not installed (pip install 'brokersim[dask]')")
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address.removeprefix("tcp://")


@needs_dask
def test_dask_cluster_gives_the_process_pool_numbers(dask_address):
    registry = {DEMO.name: DEMO}
    pooled = execute(registry, tiny_sweep(), jobs=2, executor="process", progress=False)
    dasked = execute(registry, tiny_sweep(), executor=f"dask://{dask_address}", progress=False)
    assert numbers(dasked) == numbers(pooled)


def _csv_numbers(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        row.pop("wall_time_s")
    return rows


@needs_dask
def test_cli_sweep_on_dask_writes_the_process_pool_csv(dask_address, tmp_path, capsys):
    code = main(["sweep", "demo", "--experiments-module", "experiments_demo",
                 "--param", "messages=100,200", "--replications", "2", "--seed", "5",
                 "--no-progress", "--executor", f"dask://{dask_address}",
                 "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    pooled = execute({DEMO.name: DEMO}, tiny_sweep(), jobs=2, progress=False)
    assert _csv_numbers((tmp_path / "results.csv").read_text()) == \
        _csv_numbers(to_csv(pooled))


@needs_dask
def test_unreachable_dask_scheduler_is_one_usage_line(monkeypatch, capsys):
    monkeypatch.setattr(runner, "DASK_CONNECT_TIMEOUT", 0.5)
    code = main(["run", "demo", "--experiments-module", "experiments_demo",
                 "--replications", "1", "--executor", "dask://127.0.0.1:9", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("python -m experiments: error: cannot reach the Dask scheduler at "
                          "tcp://127.0.0.1:9") and err.count("\n") == 1
