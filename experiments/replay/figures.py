"""Figures of a replay: latency CDF, what was owed / delivered / lost over time, rate search."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from experiments.experiment import RunResult
from experiments.plotting import axis_label, model_style, save_figure


def _models(result: RunResult) -> list[str]:
    return [k for k in result.series if "/" not in k]


def latency_cdf(result: RunResult, out_dir: Path, title: str) -> list[Path]:
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    drawn = False
    for model in _models(result):
        s = result.series[model]
        lat = np.asarray(s.get("latency_s", ()), dtype=float) * 1e3
        if len(lat):
            style = model_style(model)
            ax.plot(np.maximum(lat, 1e-3), s["latency_q"], color=style.color,
                    linestyle=style.linestyle, label=model)
            drawn = True
    if not drawn:
        return []
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # label decades only: cheaper, cleaner
    ax.set_title(f"{title}: end-to-end latency")
    ax.set_xlabel(axis_label("latency, send to delivery (log scale)", "ms"))
    ax.set_ylabel(axis_label("fraction of delivered copies", ""))
    ax.grid(True, alpha=0.3)
    return save_figure(fig, out_dir, "latency_cdf")


def timeline(result: RunResult, out_dir: Path, title: str, shade: Sequence[tuple[float, float,
             str]]) -> list[Path]:
    models = _models(result)
    if not models:
        return []
    fig = Figure(figsize=(7.0, 2.4 * len(models) + 0.6), layout="constrained")
    axes = fig.subplots(len(models), 1, sharex=True, squeeze=False)[:, 0]
    for ax, model in zip(axes, models, strict=True):
        s = result.series[model]
        style = model_style(model)
        for start, end, label in shade:
            if end > start:
                ax.axvspan(start, end, color="0.9", zorder=0, label=label)
        ax.plot(s["t"], s["owed"], color="0.3", linestyle="--", label="owed (sent × groups)")
        ax.plot(s["t"], s["delivered"], color=style.color, label="delivered")
        ax.plot(s["t"], s["lost"], color="black", linestyle=":", label="lost")
        ax.set_title(model, fontsize="medium")
        ax.set_ylabel(axis_label("copies (cumulative)", ""))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel(axis_label("simulated time", "s"))
    fig.suptitle(f"{title}: owed, delivered and lost copies")
    return save_figure(fig, out_dir, "timeline")


def rate_search(result: RunResult, out_dir: Path, title: str) -> list[Path]:
    searches = {k.split("/")[0]: v for k, v in result.series.items() if k.endswith("/search")}
    if not searches:
        return []
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for model, s in searches.items():
        style = model_style(model)
        n = np.arange(1, len(s["rate"]) + 1)
        ok = s["sustainable"].astype(bool)
        ax.plot(n, s["rate"], color=style.color, linestyle=style.linestyle, alpha=0.5)
        ax.scatter(n[ok], s["rate"][ok], color=style.color, marker=style.marker,
                   label=f"{model}: sustainable")
        ax.scatter(n[~ok], s["rate"][~ok], color=style.color, marker="x",
                   label=f"{model}: not sustainable")
    ax.set_yscale("log")
    ax.set_title(f"{title}: maximum-rate search")
    ax.set_xlabel(axis_label("trial", ""))
    ax.set_ylabel(axis_label("total producer rate (log scale)", "msg/s"))
    ax.grid(True, alpha=0.3, which="both")
    return save_figure(fig, out_dir, "rate_search")
