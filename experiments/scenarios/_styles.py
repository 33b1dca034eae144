"""Distinct colours for the variants of one model drawn side by side.

:func:`experiments.plotting.model_style` picks a variant's shade by a hash, so two Kafka variants
in one figure may share a colour. :func:`distinct_styles` keeps each model's family (reds and
circles for Redis, blues and squares for Kafka) and gives the variants of a family the family's
shades in order, so every line in a figure is told apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from experiments.plotting import Style, model_style

_SHADES = MappingProxyType({
    "redis": ("#d62728", "#ff7f0e", "#8c2d04", "#fb6a4a"),
    "kafka": ("#1f77b4", "#17becf", "#08306b", "#6baed6", "#3f5fbf", "#9ecae1"),
})


def distinct_styles(models: Sequence[str]) -> dict[str, Style]:
    """``{model: Style}``: the family's marker and line style from :func:`model_style`, and
    within each family a different colour per model (in the order given; cycling if a family
    has more variants than shades)."""
    out: dict[str, Style] = {}
    used: dict[str, int] = {}
    for model in dict.fromkeys(models):
        base = model_style(model)
        family = next((f for f in _SHADES if f in model.lower()), None)
        if family is None:
            out[model] = base
            continue
        i = used.get(family, 0)
        used[family] = i + 1
        shades = _SHADES[family]
        out[model] = Style(shades[i % len(shades)], base.marker, base.linestyle)
    return out
