"""``python -m experiments bench``: deliveries per second and memory per delivery.

A :class:`BenchCase` runs one simulation of a workload of size ``n`` (publishes, records) and
says how many deliveries it made and how many bytes its trace holds. The harness times it, takes
the process's peak-RSS growth (``resource.getrusage``; a fresh process per case unless
``isolate=False``), and compares each model case with the naive simpy baseline it names,
measured in the same bench run. Rates are per second of wall time, so a baseline run on fewer
messages than its model is still a fair comparison.

Targets (from DESIGN.md, "Performance is part of the design"): at least 1 000 000 deliveries/s,
at least 5x the naive baseline, at most 48 trace bytes per delivery. They are reported as PASS or
MISS; timing never fails the command.
"""

from __future__ import annotations

import csv
import io
import resource
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from experiments.atomic import write_text
from experiments.experiment import brokersim_version, check_known

TARGET_RATE = 1_000_000.0
TARGET_RATIO = 5.0
TARGET_TRACE_BYTES = 48.0


@dataclass(frozen=True)
class BenchOutcome:
    """What one bench run did.

    ``wall_s``: the case's own timing of the simulation proper, for a case that does
    bookkeeping (such as sizing its recorded lists) after it; ``None`` lets the harness time the
    whole call.
    """

    deliveries: int
    trace_bytes: int
    wall_s: float | None = None


@dataclass(frozen=True)
class BenchCase:
    """A named simulation to time: ``run(n)`` simulates a workload of ``n`` ``unit``.

    ``run`` must be picklable (a module-level function or a ``functools.partial`` of one): by
    default each case runs in a fresh process. ``baseline`` names the case this one is compared
    with; ``is_baseline`` marks the naive reference implementations (no targets apply to them).
    """

    name: str
    description: str
    run: Callable[[int], BenchOutcome]
    n: int
    unit: str = "messages"
    baseline: str | None = None
    is_baseline: bool = False


@dataclass(frozen=True)
class BenchRow:
    """One measured case."""

    case: str
    kind: str
    n: int
    unit: str
    deliveries: int
    wall_s: float
    trace_bytes: int
    rss_delta_bytes: int
    baseline: str = ""
    ratio: float | None = None

    @property
    def rate(self) -> float:
        """Deliveries per second of wall time."""
        return self.deliveries / self.wall_s if self.wall_s > 0 else float("inf")

    @property
    def trace_per_delivery(self) -> float:
        """Trace bytes per delivery."""
        return self.trace_bytes / self.deliveries if self.deliveries else float("nan")

    @property
    def rss_per_delivery(self) -> float:
        """Peak-RSS growth per delivery, in bytes."""
        return self.rss_delta_bytes / self.deliveries if self.deliveries else float("nan")

    def targets(self) -> dict[str, str]:
        """PASS/MISS per target for a model case; ``"-"`` where a target does not apply."""
        if self.kind == "baseline":
            return {"rate": "-", "ratio": "-", "trace": "-"}
        verdict = {True: "PASS", False: "MISS"}
        return {
            "rate": verdict[self.rate >= TARGET_RATE],
            "ratio": "-" if self.ratio is None else verdict[self.ratio >= TARGET_RATIO],
            "trace": verdict[self.trace_per_delivery <= TARGET_TRACE_BYTES],
        }


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def measure(run: Callable[[int], BenchOutcome], n: int) -> tuple[BenchOutcome, float, int]:
    """Run ``run(n)`` here; return its outcome, wall seconds and peak-RSS growth in bytes."""
    before = _peak_rss_bytes()
    start = time.perf_counter()
    outcome = run(n)
    wall = time.perf_counter() - start
    if outcome.wall_s is not None:
        wall = outcome.wall_s
    return outcome, wall, _peak_rss_bytes() - before


def _measure_isolated(run: Callable[[int], BenchOutcome], n: int
                      ) -> tuple[BenchOutcome, float, int]:
    with ProcessPoolExecutor(max_workers=1) as pool:
        return pool.submit(measure, run, n).result()


def _chosen(cases: Mapping[str, BenchCase], names: Sequence[str] | None) -> list[BenchCase]:
    """The named cases plus the baselines they compare with (baselines first)."""
    for name in names or ():
        check_known(name, cases, "bench case")
    picked = [cases[n] for n in names] if names else list(cases.values())
    wanted = {c.name for c in picked} | {c.baseline for c in picked if c.baseline}
    ordered = sorted((c for c in cases.values() if c.name in wanted),
                     key=lambda c: (not c.is_baseline, list(cases).index(c.name)))
    return ordered


def run_bench(
    cases: Mapping[str, BenchCase],
    names: Sequence[str] | None = None,
    *,
    scale: float = 1.0,
    isolate: bool = True,
    echo: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Measure the named cases (default: all) at ``scale`` x their size, with their baselines."""
    rows: dict[str, BenchRow] = {}
    for case in _chosen(cases, names):
        n = max(1, round(case.n * scale))
        if echo:
            echo(f"bench {case.name}: {n:,} {case.unit} ...")
        outcome, wall, rss = (_measure_isolated if isolate else measure)(case.run, n)
        rows[case.name] = BenchRow(
            case.name, "baseline" if case.is_baseline else "model", n, case.unit,
            int(outcome.deliveries), wall, int(outcome.trace_bytes), max(0, rss),
            case.baseline or "",
        )
    for name, row in rows.items():
        base = rows.get(row.baseline)
        if base is not None and base.rate > 0:
            rows[name] = replace(row, ratio=row.rate / base.rate)
    return list(rows.values())


def _si(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        return "–"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.2f}{suffix}"
    return f"{x:.3g}"


def format_table(rows: Sequence[BenchRow]) -> str:
    """A markdown table of the rows, with PASS/MISS against the targets."""
    lines = [
        "| case | n | deliveries | wall s | deliveries/s | × baseline | trace B/delivery "
        "| peak RSS Δ MiB | RSS B/delivery | ≥1M/s | ≥5× | ≤48 B |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        t = r.targets()
        ratio = "–" if r.ratio is None else f"{r.ratio:.2f}× {r.baseline}"
        lines.append(
            f"| {r.case} | {r.n:,} {r.unit} | {r.deliveries:,} | {r.wall_s:.3f} | {_si(r.rate)} "
            f"| {ratio} | {r.trace_per_delivery:.1f} | {r.rss_delta_bytes / 2**20:.1f} "
            f"| {r.rss_per_delivery:.1f} | {t['rate']} | {t['ratio']} | {t['trace']} |"
        )
    return "\n".join(lines)


NOTES = (
    "Rates are deliveries per second of wall time, so a baseline run on fewer messages (the "
    "naive baselines default to 100 000 publishes/records, the models to 1 000 000) is compared "
    "fairly; the ratio divides a model's rate by its baseline's, measured in the same bench run.",
    "trace B/delivery = bytes held by the recorded deliveries ÷ deliveries (for the baselines: "
    "their Python lists of (message, time) tuples). Peak RSS Δ = growth of the process's peak "
    "resident set (getrusage) during the case, each case in a fresh process unless --in-process.",
    f"Targets: ≥{TARGET_RATE:,.0f} deliveries/s, ≥{TARGET_RATIO:g}× the naive baseline, "
    f"≤{TARGET_TRACE_BYTES:g} trace bytes per delivery. Reported, never enforced.",
)


def format_cases(cases: Iterable[BenchCase]) -> str:
    """One line per case, for ``bench --list``."""
    out = []
    for c in cases:
        against = f" (vs {c.baseline})" if c.baseline else " (baseline)" if c.is_baseline else ""
        out.append(f"{c.name}: {c.description} [n={c.n:,} {c.unit}]{against}")
    return "\n".join(out)


CSV_COLUMNS: tuple[str, ...] = (
    "case", "kind", "baseline", "n", "unit", "deliveries", "wall_s", "deliveries_per_s",
    "ratio_vs_baseline", "trace_bytes", "trace_bytes_per_delivery", "peak_rss_delta_bytes",
    "rss_bytes_per_delivery", "rate_target", "ratio_target", "trace_target", "version",
)


def write_bench(out: str | Path, rows: Sequence[BenchRow]) -> tuple[Path, Path]:
    """Write ``bench.csv`` and ``bench.md`` into ``out`` atomically."""
    out = Path(out)
    version = brokersim_version()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        t = r.targets()
        writer.writerow([
            r.case, r.kind, r.baseline, r.n, r.unit, r.deliveries, f"{r.wall_s:.6f}",
            f"{r.rate:.1f}", "" if r.ratio is None else f"{r.ratio:.4f}", r.trace_bytes,
            f"{r.trace_per_delivery:.3f}", r.rss_delta_bytes, f"{r.rss_per_delivery:.3f}",
            t["rate"], t["ratio"], t["trace"], version,
        ])
    csv_path = write_text(out / "bench.csv", buf.getvalue())
    md = ["# brokersim bench", "", f"brokersim {version}", "", format_table(rows), "",
          *(f"- {note}" for note in NOTES)]
    if not any(r.kind == "model" for r in rows):
        md += ["- No model cases are registered yet: add `BenchCase(...)` entries to a "
               "`BENCH_CASES` tuple in a module of `experiments/scenarios/`."]
    md_path = write_text(out / "bench.md", "\n".join(md) + "\n")
    return csv_path, md_path
