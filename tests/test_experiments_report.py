"""The report's computed "when to use which" table and its HTML rendering."""

from pathlib import Path

from experiments.experiment import Experiment, Metric, RunResult, Verdict
from experiments.report import render_html, when_to_use_which, write_outputs


def _run(params, seed):
    return RunResult(metrics=[Metric("redis", "lost", 0.25, "fraction"),
                              Metric("kafka", "lost", 0.0, "fraction")])


def _verdicts(results):
    redis = sum(r.value("redis", "lost") for r in results) / len(results)
    return [Verdict("no loss while offline", "kafka" if redis > 0 else "either",
                    f"redis lost {redis:.0%}")]


EXP = Experiment("demo-verdict", "What is lost?", "Redis loses, Kafka does not.", {"x": 1},
                 _run, verdicts=_verdicts)


def _result(value, ok=True):
    return RunResult(metrics=[Metric("redis", "lost", value, "fraction")],
                     experiment="demo-verdict", error=None if ok else "boom")


def test_table_is_computed_from_successful_runs_only():
    lines = when_to_use_which([EXP], [_result(0.5), _result(0.1), _result(9.0, ok=False)])
    row = next(line for line in lines if line.startswith("| no loss"))
    assert "**Kafka**" in row and "redis lost 30%" in row
    assert when_to_use_which([EXP], [_result(0.0)])[-2].count("**either**") == 1
    assert when_to_use_which([EXP], []) == []


def test_html_report_inlines_figures(tmp_path: Path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    page = render_html("# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![a](figures/a.png)\n",
                       tmp_path)
    assert "<table>" in page and "data:image/png;base64," in page and "<h1>Title</h1>" in page


def test_write_outputs_writes_both_reports(tmp_path: Path):
    results = [RunResult(metrics=[Metric("redis", "lost", 0.2, "fraction"),
                                  Metric("kafka", "lost", 0.0, "fraction")],
                         experiment="demo-verdict", params={"x": 1})]
    write_outputs(tmp_path, [EXP], results)
    assert "## When to use which" in (tmp_path / "report.md").read_text()
    assert "When to use which" in (tmp_path / "report.html").read_text()
