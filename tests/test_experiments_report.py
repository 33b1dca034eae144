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


def _broken_plot(results, out_dir):
    raise RuntimeError("this figure cannot be drawn")


def _plot_with_closure():
    def plot(results, out_dir):  # a closure cannot be sent to a worker process
        import matplotlib.figure

        from experiments.plotting import save_figure

        fig = matplotlib.figure.Figure()
        fig.add_subplot().plot([0, 1], [0, 1], label="redis")
        return save_figure(fig, out_dir, "closure")
    return plot


def _three_experiments():
    base = dict(question="q?", expected="e.", params={"x": 1}, run=_run)
    return [Experiment("default-figs", **base),
            Experiment("broken-figs", plot=_broken_plot, **base),
            Experiment("closure-figs", plot=_plot_with_closure(), **base)]


def test_figures_drawn_in_parallel_match_serial_ones(tmp_path: Path):
    exps = _three_experiments()
    results = [RunResult(metrics=[Metric("redis", "lost", 0.2, "fraction")],
                         experiment=e.name, params={"x": 1}) for e in exps]
    serial = write_outputs(tmp_path / "serial", exps, results, jobs=1)
    parallel = write_outputs(tmp_path / "parallel", exps, results, jobs=3)
    for outputs, root in ((serial, tmp_path / "serial"), (parallel, tmp_path / "parallel")):
        names = {k: sorted(p.relative_to(root).as_posix() for p in v)
                 for k, v in outputs.figures.items()}
        assert names == {"default-figs": ["figures/default-figs/lost.png",
                                          "figures/default-figs/lost.svg"],
                         "broken-figs": [],
                         "closure-figs": ["figures/closure-figs/closure.png",
                                          "figures/closure-figs/closure.svg"]}
        report = (root / "report.md").read_text()
        assert "this figure cannot be drawn" in report and "Plotting failed" in report
        assert all(p.stat().st_size > 0 for v in outputs.figures.values() for p in v)
    assert (tmp_path / "serial" / "report.md").read_text().replace("serial", "X") == \
        (tmp_path / "parallel" / "report.md").read_text().replace("parallel", "X")
