"""Traces from columns: hand-built golden histories and mutated copies of real ones.

Trace tables are append-only, so a checker test that wants "this run, but with one delivery
duplicated" builds a fresh :class:`~sim.trace.Trace` from the old one's columns with the changed
table swapped in (:func:`replace_tables`); a golden history is written directly as columns
(:func:`trace_from_columns`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from sim.trace import Event, Names, Trace


def _schema_of(columns: Mapping[str, Any]) -> dict[str, str]:
    schema = {}
    for col, values in columns.items():
        kind = np.asarray(values).dtype.kind
        schema[col] = "f8" if kind == "f" else "i8" if kind in "iub" else "f8"
    return schema


def _names(values: Iterable[str] | Names) -> Names:
    if isinstance(values, Names):
        return Names(dict(values.ids), list(values.names))
    out = Names()
    for name in values:
        out.id(name)
    return out


def trace_from_columns(
    tables: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    events: Iterable[Event | tuple] = (),
    receivers: Iterable[str] = (),
    channels: Iterable[str] = (),
    sources: Iterable[str] = (),
    subscriptions: Iterable[str] = (),
    servers: Iterable[str] = (),
    receiver_groups: Mapping[int, str] | None = None,
    schemas: Mapping[str, Mapping[str, str]] | None = None,
) -> Trace:
    """A :class:`Trace` holding ``tables`` (``{table: {column: values}}``), events and names.

    Core tables keep their schema; other tables use ``schemas[name]`` or a schema inferred from
    the values (integers as ``i8``, the rest as ``f8``). Events are :class:`Event` or
    ``(t, kind, who, detail)`` tuples. Names are given in id order.
    """
    trace = Trace()
    trace.receivers, trace.channels = _names(receivers), _names(channels)
    trace.sources, trace.subscriptions = _names(sources), _names(subscriptions)
    trace.servers = _names(servers)
    trace.receiver_groups = dict(receiver_groups or {})
    for ev in events:
        trace.events.append(ev if isinstance(ev, Event) else Event(*ev))
    top = -1
    for name, columns in (tables or {}).items():
        schema = (schemas or {}).get(name)
        if name in trace.tables:
            table = trace.tables[name]
        else:
            table = trace.table(name, schema or _schema_of(columns))
        arrays = {col: np.asarray(columns[col]) for col in table.columns}
        if len(next(iter(arrays.values()))):
            table.extend(**arrays)
        if "msg" in arrays and len(arrays["msg"]):
            top = max(top, int(np.max(arrays["msg"])))
    trace._next_msg = top + 1
    return trace


def replace_tables(trace: Trace, **tables: Mapping[str, Any]) -> Trace:
    """A copy of ``trace`` with the given tables replaced by new columns (the rest copied)."""
    columns: dict[str, Mapping[str, Any]] = {
        name: {col: arr.copy() for col, arr in table.to_dict().items()}
        for name, table in trace.tables.items()
    }
    schemas = {name: {c: dt.str for c, dt in t.dtypes.items()} for name, t in trace.tables.items()}
    for name, cols in tables.items():
        if name not in columns:
            raise KeyError(f"no trace table {name!r}; known: {sorted(columns)}")
        missing = set(columns[name]) - set(cols)
        if missing:
            raise ValueError(f"replacement for {name!r} lacks columns {sorted(missing)}")
        columns[name] = cols
    out = trace_from_columns(
        columns, events=list(trace.events), receivers=trace.receivers.names,
        channels=trace.channels.names, sources=trace.sources.names,
        subscriptions=trace.subscriptions.names, servers=trace.servers.names,
        receiver_groups=trace.receiver_groups,
        schemas=schemas,
    )
    out._next_msg = max(out._next_msg, trace._next_msg)
    return out
