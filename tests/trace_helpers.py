"""Trace comparison the determinism properties share."""

from __future__ import annotations

import numpy as np

from sim.trace import Trace


def traces_equal(ta: Trace, tb: Trace) -> bool:
    """Whether two traces hold the same tables, columns, rows and events (NaN equal to NaN)."""
    if set(ta.tables) != set(tb.tables) or ta.events != tb.events:
        return False
    return all(
        np.array_equal(ta.tables[name][col], tb.tables[name][col], equal_nan=True)
        for name in ta.tables for col in ta.tables[name].columns
    )
