"""``python -m experiments`` end to end, in a subprocess, with the demo experiments injected."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.runner import replication_seeds

ROOT = Path(__file__).resolve().parents[1]
DEMO = ["--experiments-module", "experiments_demo"]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "experiments", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("command", [[], ["list"], ["run"], ["sweep"], ["bench"]])
def test_help_everywhere(command):
    done = cli(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: python -m experiments" in done.stdout


def test_list_shows_questions_and_parameters():
    done = cli("list", *DEMO)
    assert done.returncode == 0, done.stderr
    assert "demo\n  question: Does a push broker lose messages a log keeps?" in done.stdout
    assert "loss.probability=0.1" in done.stdout and "--quick:  messages=500" in done.stdout


def test_run_writes_csv_figures_and_report(tmp_path):
    out = tmp_path / "res"
    done = cli("run", "demo", *DEMO, "--quick", "--replications", "2", "--seed", "4",
               "--set", "latency.ms=2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "demo: expected outcome held" in done.stdout
    rows = read_csv(out / "results.csv")
    assert len(rows) == 2 * 6
    assert {r["seed"] for r in rows} == {str(s) for s in replication_seeds(4, 2)}
    assert all('"latency.ms": 2.0' in r["params"] and '"messages": 500' in r["params"]
               for r in rows)
    assert (out / "figures" / "demo" / "latency-cdf.png").stat().st_size > 0
    assert (out / "figures" / "demo" / "latency-cdf.svg").stat().st_size > 0
    report = (out / "report.md").read_text()
    assert "**Question.** Does a push broker lose messages" in report
    assert "| kafka | lost |" in report
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_rerun_with_the_same_seed_gives_the_same_numbers(tmp_path):
    for name in ("a", "b"):
        done = cli("run", "demo", *DEMO, "--quick", "--replications", "2", "--seed", "9",
                   "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
    a, b = (read_csv(tmp_path / n / "results.csv") for n in ("a", "b"))
    for row in (*a, *b):
        row.pop("wall_time_s")
    assert a == b


def test_sweep_gives_one_row_set_per_point(tmp_path):
    done = cli("sweep", "demo-noplot", *DEMO, "--param", "loss.probability=0.1,0.5",
               "--param", "messages=100,200,300", "--replications", "2", "--jobs", "2",
               "--no-progress", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "results.csv")
    points = {r["point"] for r in rows}
    assert len(points) == 6 and "loss.probability=0.5,messages=300" in points
    assert all(sum(r["point"] == p for r in rows) == 2 * 6 for p in points)
    lost = {r["point"]: float(r["value"]) for r in rows
            if r["model"] == "redis" and r["metric"] == "lost" and r["replication"] == "0"}
    assert lost["loss.probability=0.5,messages=300"] > lost["loss.probability=0.1,messages=300"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "demoo"], "unknown experiment 'demoo'; did you mean 'demo'?"),
        (["run", "demo", "--set", "los.probability=0.2"],
         "unknown parameter 'los.probability' of experiment 'demo'; did you mean "
         "'loss.probability'?"),
        (["sweep", "demo", "--param", "mesages=1,2"], "unknown parameter 'mesages'"),
        (["run", "demo", "--set", "messages=lots"], "parameter 'messages' expects an integer"),
        (["run", "demo", "--set", "messages"], "--set expects key=value"),
        (["bench", "naive-redis"], "unknown bench case 'naive-redis'; did you mean"),
    ],
)
def test_bad_input_is_one_clear_message_and_exit_code_2(args, message, tmp_path):
    done = cli(*args, *DEMO, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "results").exists()


def test_a_failed_run_is_reported_and_exits_1(tmp_path):
    done = cli("run", "demo", *DEMO, "--quick", "--replications", "1", "--set", "fail=yes",
               "--out", str(tmp_path))
    assert done.returncode == 1
    assert "1 run(s) failed" in done.stderr and "Traceback" not in done.stderr
    assert "RuntimeError: demo failure requested" in (tmp_path / "report.md").read_text()
    assert read_csv(tmp_path / "results.csv")[0]["error"].startswith("RuntimeError")


def test_bench_runs_the_baselines_and_writes_its_files(tmp_path):
    done = cli("bench", *DEMO, "demo-fast", "--scale", "0.005", "--in-process",
               "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "| naive-redis-fanout |" in done.stdout and "| demo-fast |" in done.stdout
    assert "per second of wall time" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.csv", "bench.md"]
