"""Connections and subscription windows, rebuilt from a push broker's control events.

Redis evaluates each PUBLISH against the subscription table *at the instant it executes*
(``shared/reference/redis-pubsub.md`` §0.1, ``pubsubPublishMessageInternal``). So what a
connection was owed is decided by when its SUBSCRIBE / PSUBSCRIBE / UNSUBSCRIBE / PUNSUBSCRIBE
took effect and when its connection ended (a disconnect — output-buffer limit, a kill, a server
restart — ends every subscription of the connection, §2). This module turns ``trace.events``
(``connect``, ``disconnect``, ``subscribe``, ``psubscribe``, ``unsubscribe``, ``punsubscribe``)
into arrays: one row per connection lifetime (an *epoch*) and one row per subscription window
``[start, end)`` with the subscription it belongs to.

Events are read per connection in the order they were recorded (the server's order); their
times are server execution times. Nothing here is Redis-specific beyond those event names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.trace import Names, Trace

OPEN, UNSUBSCRIBED, DISCONNECTED = 0, 1, 2


class LocalIds:
    """A trace's name → id table, extended locally (never mutating the trace) for new names."""

    def __init__(self, names: Names) -> None:
        self._ids = names.ids
        self.names = list(names.names)
        self._extra: dict[str, int] = {}

    def id(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._extra.get(name)
            if found is None:
                found = self._extra[name] = len(self.names)
                self.names.append(name)
        return found


def as_text(name: bytes | str) -> str:
    """Trace name of a channel or pattern (bytes decoded as the models do)."""
    return name if isinstance(name, str) else name.decode("utf-8", "surrogateescape")


def as_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Windows:
    """Connection epochs and subscription windows, as parallel arrays.

    Epoch ``e``: ``conn_receiver[e]`` was connected to server ``conn_server[e]`` (an id of
    ``servers``, -1 when the trace does not say) over ``[conn_start[e], conn_end[e])``
    (``inf`` if still open), closed for ``conn_reason[e]``. Window ``w``: ``receiver[w]`` held
    subscription ``via[w]`` (-1 for a channel subscription, else the pattern's
    ``trace.subscriptions`` id) on ``channel[w]`` (channel windows; -1 for patterns) over
    ``[start[w], end[w])`` within epoch ``epoch[w]`` on server ``server[w]``, ended by
    ``closed_by[w]``.
    """

    conn_receiver: np.ndarray
    conn_server: np.ndarray
    conn_start: np.ndarray
    conn_end: np.ndarray
    conn_reason: tuple[str, ...]
    receiver: np.ndarray
    epoch: np.ndarray
    via: np.ndarray
    channel: np.ndarray
    start: np.ndarray
    end: np.ndarray
    closed_by: np.ndarray
    server: np.ndarray
    receivers: list[str]
    channels: list[str]
    patterns: list[str]
    servers: list[str]

    def __len__(self) -> int:
        return len(self.receiver)


def subscription_windows(trace: Trace) -> Windows:
    """Rebuild connections and subscription windows from ``trace.events``."""
    receivers = LocalIds(trace.receivers)
    channels = LocalIds(trace.channels)
    patterns = LocalIds(trace.subscriptions)
    servers = LocalIds(getattr(trace, "servers", Names()))
    conn: list[list] = []  # [receiver, start, end, reason, server]
    rows: list[list] = []  # [receiver, epoch, via, channel, start, end, closed_by]
    current: dict[str, int] = {}  # who -> open epoch row
    open_windows: dict[str, dict[tuple[int, int], int]] = {}

    def epoch_of(who: str, t: float) -> int:
        e = current.get(who)
        if e is None:  # subscribed without a recorded connect: connected since forever
            e = current[who] = len(conn)
            conn.append([receivers.id(who), -math.inf, math.inf, "", -1])
            open_windows[who] = {}
        return e

    def close(who: str, key: tuple[int, int], t: float, how: int) -> None:
        w = open_windows[who].pop(key, None)
        if w is not None:
            rows[w][5], rows[w][6] = t, how

    for ev in trace.events:
        kind, who, t = ev.kind, ev.who, float(ev.t)
        if kind == "connect":
            if who in current:  # a reconnect without a recorded disconnect
                for key in list(open_windows[who]):
                    close(who, key, t, DISCONNECTED)
                conn[current[who]][2:4] = [t, "reconnect"]
            current[who] = len(conn)
            server = ev.detail.get("server")
            conn.append([receivers.id(who), t, math.inf, "",
                         -1 if server is None else servers.id(str(server))])
            open_windows[who] = {}
        elif kind == "disconnect":
            e = current.pop(who, None)
            if e is None:
                continue
            for key in list(open_windows[who]):
                close(who, key, t, DISCONNECTED)
            conn[e][2:4] = [t, str(ev.detail.get("reason", "disconnected"))]
        elif kind in ("subscribe", "psubscribe"):
            e = epoch_of(who, t)
            if kind == "subscribe":
                key = (-1, channels.id(as_text(ev.detail["channel"])))  # type: ignore[arg-type]
            else:
                key = (patterns.id(as_text(ev.detail["pattern"])), -1)  # type: ignore[arg-type]
            if key not in open_windows[who]:
                open_windows[who][key] = len(rows)
                rows.append([receivers.id(who), e, key[0], key[1], t, math.inf, OPEN])
        elif kind in ("unsubscribe", "punsubscribe") and who in current:
            if kind == "unsubscribe":
                key = (-1, channels.id(as_text(ev.detail["channel"])))  # type: ignore[arg-type]
            else:
                key = (patterns.id(as_text(ev.detail["pattern"])), -1)  # type: ignore[arg-type]
            close(who, key, t, UNSUBSCRIBED)

    c = np.array(conn, dtype=object).reshape(-1, 5)
    r = np.array(rows, dtype=np.float64).reshape(-1, 7)
    conn_server = c[:, 4].astype(np.int64)
    epoch = r[:, 1].astype(np.int64)
    return Windows(
        conn_receiver=c[:, 0].astype(np.int64), conn_server=conn_server,
        conn_start=c[:, 1].astype(np.float64),
        conn_end=c[:, 2].astype(np.float64), conn_reason=tuple(str(x) for x in c[:, 3]),
        receiver=r[:, 0].astype(np.int64), epoch=epoch,
        via=r[:, 2].astype(np.int64), channel=r[:, 3].astype(np.int64), start=r[:, 4].copy(),
        end=r[:, 5].copy(), closed_by=r[:, 6].astype(np.int8), server=conn_server[epoch],
        receivers=receivers.names, channels=channels.names, patterns=patterns.names,
        servers=servers.names,
    )
