"""Consistent figures: fixed colours and markers per model, titles, unit labels, atomic saving.

Redis models are drawn in reds with circles, Kafka models in blues with squares, everything else
in greys/greens, so the two are told apart in colour and in black-and-white print. Figures are
built with matplotlib's object API (``matplotlib.figure.Figure``), not pyplot: no global figure
registry and no backend to switch, so plotting works in worker processes and headless runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from experiments.atomic import atomic_write
from experiments.experiment import RunResult
from experiments.stats import Summary, summarise

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 120


class Style(NamedTuple):
    """How one model is drawn."""

    color: str
    marker: str
    linestyle: str


_FAMILIES: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("redis", ("#d62728", "#ff7f0e", "#8c2d04", "#fb6a4a"), "o", "-"),
    ("kafka", ("#1f77b4", "#17becf", "#08306b", "#6baed6"), "s", "--"),
    ("", ("#2ca02c", "#7f7f7f", "#bcbd22", "#8c564b"), "^", ":"),
)


def model_style(model: str) -> Style:
    """Colour, marker and line style for ``model``: reds for Redis, blues for Kafka.

    The plain names ``"redis"`` and ``"kafka"`` get the family's first colour; variants
    (``"kafka acks=all"``) get another shade of the same family, chosen by a stable hash.
    """
    key = model.lower()
    family, colours, marker, linestyle = next(f for f in _FAMILIES if f[0] in key)  # "" matches
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=2).digest(), "little")
    if key == family:
        shade = 0
    elif family:
        shade = 1 + digest % (len(colours) - 1)
    else:
        shade = digest % len(colours)
    return Style(colours[shade], marker, linestyle)


def axis_label(quantity: str, unit: str) -> str:
    """``axis_label("latency", "ms")`` -> ``"latency (ms)"`` (no brackets for unitless)."""
    return f"{quantity} ({unit})" if unit else quantity


def new_figure(title: str, xlabel: str, ylabel: str, size: tuple[float, float] = (6.4, 4.0)
               ) -> tuple[Figure, Axes]:
    """A titled figure with one labelled axes (labels should carry units: :func:`axis_label`)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def plot_model(ax: Axes, model: str, x: Sequence[float], y: Sequence[float],
               yerr: Sequence[float] | np.ndarray | None = None, label: str | None = None) -> None:
    """One model's line (with error bars if given) in its fixed style."""
    style = model_style(model)
    ax.errorbar(x, y, yerr=yerr, label=label or model, color=style.color, marker=style.marker,
                linestyle=style.linestyle, capsize=3 if yerr is not None else 0)


def plot_cdf(ax: Axes, model: str, samples: Sequence[float] | np.ndarray,
             label: str | None = None) -> None:
    """The empirical CDF of ``samples`` for one model, as a step line in its style."""
    style = model_style(model)
    xs = np.sort(np.asarray(samples, dtype=float))
    ys = np.arange(1, len(xs) + 1) / max(len(xs), 1)
    ax.step(xs, ys, where="post", label=label or model, color=style.color,
            linestyle=style.linestyle)


def save_figure(fig: Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (dpi 120) and ``stem.svg`` atomically; close it.

    Adds a legend if the axes have labelled artists and none yet. Returns both paths.
    """
    for ax in fig.axes:
        if ax.get_legend() is None and ax.get_legend_handles_labels()[1]:
            ax.legend()
    paths = []
    for fmt, extra in (("png", {"dpi": DPI, "metadata": {"Software": None}}),
                       ("svg", {"metadata": {"Date": None}})):
        path = Path(out_dir) / f"{stem}.{fmt}"
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format=fmt, **extra)
        paths.append(path)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    return paths


def varying_params(results: Sequence[RunResult]) -> list[str]:
    """Parameter names whose values differ between the given runs (the swept ones)."""
    seen: dict[str, set[str]] = {}
    for r in results:
        for key, value in r.params.items():
            seen.setdefault(key, set()).add(json.dumps(value, sort_keys=True, default=str))
    return [key for key, values in seen.items() if len(values) > 1]


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def default_figures(results: Sequence[RunResult], out_dir: str | Path, name: str) -> list[Path]:
    """One figure per metric: mean and 95% CI per model.

    With one numeric swept parameter, the metric is drawn against it as lines; otherwise as
    grouped bars, one group per parameter point.
    """
    ok = [r for r in results if r.ok]
    summaries = summarise(ok)
    swept = varying_params(ok)
    axis = swept[0] if len(swept) == 1 and all(_numeric(r.params[swept[0]]) for r in ok) else None
    x_of_point = {r.point: r.params[axis] for r in ok} if axis else {}
    by_metric: dict[str, list[Summary]] = {}
    for s in summaries:
        by_metric.setdefault(s.metric, []).append(s)
    paths: list[Path] = []
    for metric, rows in by_metric.items():
        unit = rows[0].unit
        xlabel = axis if axis else "parameter point"
        fig, ax = new_figure(f"{name}: {metric}", xlabel, axis_label(metric, unit))
        models = list(dict.fromkeys(s.model for s in rows))
        points = list(dict.fromkeys(s.point for s in rows))
        width = 0.8 / max(len(models), 1)
        for i, model in enumerate(models):
            mine = [s for s in rows if s.model == model]
            err = np.array([[s.mean - s.low, s.high - s.mean] for s in mine]).T
            err = None if np.isnan(err).all() else np.nan_to_num(err)
            if axis:
                mine_x = [x_of_point[s.point] for s in mine]
                plot_model(ax, model, mine_x, [s.mean for s in mine], yerr=err)
            else:
                style = model_style(model)
                xs = [points.index(s.point) + (i - (len(models) - 1) / 2) * width for s in mine]
                ax.bar(xs, [s.mean for s in mine], width=width, yerr=err, label=model,
                       color=style.color, capsize=3)
        if not axis:
            ax.set_xticks(range(len(points)), [p.replace(",", "\n") for p in points],
                          fontsize="small")
        if any(math.isfinite(s.mean) for s in rows):
            paths += save_figure(fig, out_dir, _slug(metric))
    return paths


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_") or "figure"
