"""Turn run results into files: tidy ``results.csv``, figures, and ``report.md``.

Every file is written atomically. The CSV has one row per experiment x parameter point x
replication x model x metric; a failed run has one row with its error and no metric. Apart from
``wall_time_s``, a rerun with the same seed writes the same CSV byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pickle
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.atomic import write_text
from experiments.experiment import Experiment, RunResult
from experiments.stats import summarise

CSV_COLUMNS: tuple[str, ...] = (
    "experiment", "point", "params", "model", "metric", "value", "unit",
    "replication", "seed", "version", "wall_time_s", "error",
)


@dataclass(frozen=True)
class Outputs:
    """What :func:`write_outputs` wrote, and what it found."""

    csv: Path
    report: Path
    figures: dict[str, list[Path]] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    failed_runs: int = 0


def _cell(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def csv_rows(results: Sequence[RunResult]) -> Iterator[dict[str, str]]:
    """The tidy rows of ``results`` as dicts of strings keyed by :data:`CSV_COLUMNS`."""
    for r in results:
        common = {
            "experiment": r.experiment, "point": r.point,
            "params": json.dumps(dict(r.params), sort_keys=True, default=str),
            "replication": str(r.replication), "seed": str(r.seed), "version": r.version,
            "wall_time_s": f"{r.wall_time_s:.6f}",
        }
        if not r.ok:
            last = r.error.strip().splitlines()[-1] if r.error and r.error.strip() else "error"
            yield {**common, "model": "", "metric": "", "value": "", "unit": "", "error": last}
            continue
        for m in r.metrics:
            yield {**common, "model": m.model, "metric": m.metric, "value": _cell(m.value),
                   "unit": m.unit, "error": ""}


def to_csv(results: Sequence[RunResult]) -> str:
    """``results`` as tidy CSV text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(results))
    return buf.getvalue()


def to_dataframe(results: Sequence[RunResult]) -> Any:
    """``results`` as a pandas ``DataFrame`` (needs pandas), with ``value`` numeric."""
    import pandas as pd

    frame = pd.read_csv(io.StringIO(to_csv(results)), keep_default_na=False,
                        dtype={"point": str, "model": str, "metric": str, "unit": str})
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    return frame


def check_outcome(exp: Experiment, results: Sequence[RunResult]) -> str:
    """Whether the expected outcome held, in a few words, for the report."""
    failed = [r for r in results if not r.ok]
    if exp.check is None:
        return "not checked (the experiment has no check)"
    if failed:
        return f"not checked: {len(failed)} of {len(results)} runs failed"
    if not results:
        return "not checked: no runs"
    try:
        exp.check(results)
    except AssertionError as exc:
        return f"**did not hold**: {exc}" if str(exc) else "**did not hold**"
    except Exception as exc:
        return f"check raised {exc!r}"
    return "held"


def draw_figures(exp: Experiment, results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    """The experiment's own figures, or the default ones; a plotting error is raised."""
    return _draw(exp.plot, exp.name, results, out_dir)


def _draw(plot: Callable[[Sequence[RunResult], Path], list[Path]] | None, name: str,
          results: Sequence[RunResult], out_dir: Path) -> list[Path]:
    from experiments.plotting import default_figures

    ok = [r for r in results if r.ok]
    if not ok:
        return []
    if plot is not None:
        return [Path(p) for p in plot(ok, out_dir)]
    return default_figures(ok, out_dir, name)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    if abs(x) >= 1e4 and abs(x) < 1e15:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def _experiment_section(exp: Experiment, results: Sequence[RunResult], figures: list[Path],
                        check: str, out: Path, figure_error: str | None) -> list[str]:
    lines = [f"## {exp.name}", "", f"**Question.** {exp.question}", "",
             f"**Expected.** {exp.expected}", "", f"**Expected outcome check:** {check}", ""]
    if results:
        params = ", ".join(f"`{k}={v}`" for k, v in results[0].params.items())
        lines += [f"**Parameters** (first point): {params}", ""]
    summaries = summarise(results)
    points = list(dict.fromkeys(s.point for s in summaries))
    for point in points:
        if len(points) > 1 or point != "default":
            lines += [f"### {point}", ""]
        lines += ["| model | metric | mean | 95% CI | unit | n |", "|---|---|---:|---|---|---:|"]
        for s in summaries:
            if s.point == point:
                ci = f"[{_fmt(s.low)}, {_fmt(s.high)}]" if math.isfinite(s.low) else "–"
                lines.append(f"| {s.model} | {s.metric} | {_fmt(s.mean)} | {ci} | {s.unit} "
                             f"| {s.n} |")
        lines.append("")
    pngs = [p for p in figures if p.suffix == ".png"]
    if pngs:
        lines += ["**Figures.**", ""]
        for png in pngs:
            rel = os.path.relpath(png, out)
            svg = os.path.relpath(png.with_suffix(".svg"), out)
            lines += [f"![{png.stem}]({rel}) ([SVG]({svg}))", ""]
    if figure_error:
        lines += ["**Plotting failed:**", "", "```", figure_error.rstrip(), "```", ""]
    failed = [r for r in results if not r.ok]
    for r in failed:
        lines += [f"<details><summary>Run failed: point {r.point}, replication {r.replication}, "
                  f"seed {r.seed}</summary>", "", "```", (r.error or "").rstrip(), "```", "",
                  "</details>", ""]
    return lines


def _draw_or_explain(plot: Callable[[Sequence[RunResult], Path], list[Path]] | None,
                     name: str, results: Sequence[RunResult], out_dir: Path
                     ) -> tuple[list[Path], str | None]:
    """:func:`draw_figures`, with a plotting error returned as its traceback (a broken figure
    must not cost the report)."""
    try:
        return _draw(plot, name, results, out_dir), None
    except Exception:
        return [], traceback.format_exc()


def _picklable(obj: object) -> bool:
    try:
        pickle.dumps(obj)
    except Exception:
        return False
    return True


def draw_all_figures(experiments: Sequence[Experiment], results: Sequence[RunResult],
                     out: Path, jobs: int = 1) -> dict[str, tuple[list[Path], str | None]]:
    """Every experiment's figures under ``out/figures/<experiment>/``, drawn by ``jobs`` worker
    processes when there is more than one experiment (matplotlib's layout and rendering take
    about as long as the runs of ``run all --quick``; experiments' figures are independent).
    A plot function that cannot be sent to a worker (a closure) is drawn in this process."""
    work = [(exp.plot, exp.name, [r for r in results if r.experiment == exp.name],
             out / "figures" / exp.name) for exp in experiments]
    if jobs <= 1 or len(work) <= 1:
        return {item[1]: _draw_or_explain(*item) for item in work}
    drawn: dict[str, tuple[list[Path], str | None]] = {}
    with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
        futures = {item[1]: pool.submit(_draw_or_explain, *item)
                   for item in work if _picklable(item[0])}
        for item in work:
            if item[1] not in futures:
                drawn[item[1]] = _draw_or_explain(*item)
        drawn.update((name, future.result()) for name, future in futures.items())
    return {exp.name: drawn[exp.name] for exp in experiments}


def write_outputs(out: str | Path, experiments: Sequence[Experiment],
                  results: Sequence[RunResult], header: Sequence[str] = (),
                  jobs: int = 1) -> Outputs:
    """Write ``results.csv``, the figures (``figures/<experiment>/``, drawn by ``jobs``
    processes) and ``report.md``."""
    out = Path(out)
    csv_path = write_text(out / "results.csv", to_csv(results))
    lines = ["# brokersim experiment report", "", *header, ""]
    drawn = draw_all_figures(experiments, results, out, jobs)
    figures: dict[str, list[Path]] = {}
    checks: dict[str, str] = {}
    for exp in experiments:
        mine = [r for r in results if r.experiment == exp.name]
        figures[exp.name], figure_error = drawn[exp.name]
        checks[exp.name] = check_outcome(exp, mine)
        lines += _experiment_section(exp, mine, figures[exp.name], checks[exp.name], out,
                                     figure_error)
    lines += when_to_use_which(experiments, results)
    text = "\n".join(lines).rstrip() + "\n"
    report = write_text(out / "report.md", text)
    write_text(out / "report.html", render_html(text, out))
    failed = sum(not r.ok for r in results)
    return Outputs(csv_path, report, figures, checks, failed)


_CHOICE = {"redis": "Redis Pub/Sub", "kafka": "Kafka", "either": "either"}


def when_to_use_which(experiments: Sequence[Experiment], results: Sequence[RunResult]
                      ) -> list[str]:
    """The closing table, each row computed from an experiment's runs (never written by hand):
    experiments without ``verdicts`` or without successful runs contribute nothing."""
    rows: list[tuple[str, str, str, str]] = []
    for exp in experiments:
        mine = [r for r in results if r.experiment == exp.name and r.ok]
        if exp.verdicts is None or not mine:
            continue
        try:
            found = exp.verdicts(mine)
        except Exception as exc:  # a broken verdict must not hide the rest of the report
            rows.append(("(could not compute)", "–", f"{exc!r}", exp.name))
            continue
        rows += [(v.need, _CHOICE.get(v.choice, v.choice), v.evidence, exp.name) for v in found]
    if not rows:
        return []
    lines = ["## When to use which", "",
             "Computed from the runs above: each row names the requirement, the model the runs "
             "favour, and the measured evidence.", "",
             "| if you need… | use | because (measured) | experiment |", "|---|---|---|---|"]
    lines += [f"| {need} | **{choice}** | {evidence} | {name} |"
              for need, choice, evidence, name in rows]
    return [*lines, ""]


def render_html(markdown_text: str, out: Path) -> str:
    """``report.md`` as one self-contained HTML page: PNG figures inlined as data URIs.

    Uses the ``markdown`` package when installed (tables extension); otherwise the markdown is
    shown preformatted, figures still inline."""
    import base64
    import html
    import re

    def inline(match: re.Match[str]) -> str:
        path = out / match.group(2)
        if path.suffix == ".png" and path.exists():
            data = base64.b64encode(path.read_bytes()).decode()
            return f"![{match.group(1)}](data:image/png;base64,{data})"
        return match.group(0)

    text = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", inline, markdown_text)
    try:
        import markdown
    except ImportError:
        body = f"<pre>{html.escape(text)}</pre>"
    else:
        body = markdown.markdown(text, extensions=["tables", "fenced_code", "md_in_html"])
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
             "img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>brokersim report</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")
