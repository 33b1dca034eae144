"""The run's trace: columnar tables of facts every model records in the same shape.

One object per message would not fit millions of deliveries in memory, so each table is a set of
typed numpy columns grown in chunks. Models append whole batches (``extend``) on hot paths and
single rows (``append``) for rare facts. A delivery costs 24 bytes (message id, receiver,
subscription, time).

Core tables (the checker reads these):

- ``published`` — a message entered the system (Redis PUBLISH executed; Kafka ``send()``).
- ``acked`` — the system told the producer it has the message (Kafka produce response; Redis
  PUBLISH reply), with partition and offset where there is one.
- ``delivered`` — a receiver got a message (Redis subscriber read the frame; Kafka consumer
  received the record from ``poll()``). ``via`` names the subscription that matched it (a pattern
  id for Redis ``pmessage``; -1 for a plain channel subscription or a Kafka partition fetch).
- ``dropped`` — a copy a receiver was owed is gone, with a reason from ``DROP_REASONS``
  (``replication-link``: executed on a Redis primary, still on its way to a replica when the
  primary died; ``failover``: lost to a Sentinel failover — a connection killed at the
  promotion, or copies published while the subscriber was moving to the new primary;
  ``no-primary``: published while no primary accepted it, between a primary's crash and the
  promotion of its replica).
- ``committed`` — a consumer group committed an offset (the next offset to read, as in Kafka).

Models may register further tables with :meth:`Trace.table`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

DROP_REASONS: tuple[str, ...] = (
    "not-subscribed",
    "disconnected",
    "output-buffer-limit",
    "server-restart",
    "network-cut",
    "client-crash",
    "retention",
    "offset-reset",
    "unclean-election",
    "acks-0",
    "acks-1",
    "delivery-timeout",
    "not-enough-replicas",
    "compaction",
    "log-truncation",
    "replication-link",
    "failover",
    "no-primary",
    "commit-failed",
)
REASON_CODE: Mapping[str, int] = {name: code for code, name in enumerate(DROP_REASONS)}

_CORE_SCHEMAS: dict[str, dict[str, str]] = {
    "published": {
        "msg": "i8", "t": "f8", "source": "i4", "channel": "i4", "size": "i4",
        "partition": "i4", "offset": "i8",
    },
    "acked": {"msg": "i8", "t": "f8", "partition": "i4", "offset": "i8"},
    "delivered": {"msg": "i8", "receiver": "i4", "via": "i4", "t": "f8"},
    "dropped": {"msg": "i8", "receiver": "i4", "t": "f8", "reason": "i1"},
    "committed": {"receiver": "i4", "channel": "i4", "partition": "i4", "offset": "i8", "t": "f8"},
}


def _is_array(value: object) -> bool:
    """Whether an ``extend`` column is an array (else a scalar to broadcast)."""
    kind = type(value)
    if kind is np.ndarray:
        return value.ndim > 0  # type: ignore[union-attr]
    if kind is int or kind is float or isinstance(value, int | float):
        return False
    return isinstance(value, list | tuple) or bool(np.ndim(value))


class _Fill:
    """A column chunk of ``n`` copies of one value, expanded when the column is read (the
    receiver of a batch of deliveries, the time of a poll): ``extend`` costs no array then."""

    __slots__ = ("n", "value")

    def __init__(self, value: object, n: int) -> None:
        self.value = value
        self.n = n


def _expand(chunks: list, dtype: np.dtype) -> np.ndarray:
    """One array of a column's chunks (arrays and ``_Fill`` runs), in order."""
    if len(chunks) == 1 and type(chunks[0]) is np.ndarray:
        return chunks[0]
    total = sum(c.n if type(c) is _Fill else len(c) for c in chunks)
    out = np.empty(total, dtype=dtype)
    i = 0
    for c in chunks:
        if type(c) is _Fill:
            out[i:i + c.n] = c.value
            i += c.n
        else:
            out[i:i + len(c)] = c
            i += len(c)
    return out


class Table:
    """An append-only columnar table: typed numpy columns grown in chunks.

    ``extend`` keeps the arrays it is given (converted to the column's type if they are not of
    it) and a broadcast scalar as a ``_Fill`` run; ``column`` joins a column's chunks into one
    array the first time it is read after a change. ``nbytes`` counts the bytes the columns
    hold once joined.
    """

    __slots__ = ("_cache_len", "_chunks", "_feeders", "_first", "_len", "_pending", "_plan",
                 "dtypes", "name")

    def __init__(self, name: str, schema: Mapping[str, str]) -> None:
        self.name = name
        self.dtypes = {col: np.dtype(dt) for col, dt in schema.items()}
        self._chunks: dict[str, list] = {col: [] for col in self.dtypes}
        self._pending: dict[str, list] = {col: [] for col in self.dtypes}
        self._plan = tuple((col, dtype, self._chunks[col]) for col, dtype in self.dtypes.items())
        self._first = next(iter(self.dtypes))
        self._len = 0
        self._cache_len = -1
        self._feeders: list[Callable[[], None]] = []

    def add_feeder(self, feed: Callable[[], None]) -> None:
        """Register ``feed()``, called before the table is read (its length, a column, its
        size): a model that owes rows and writes them in bulk appends them then."""
        self._feeders.append(feed)

    def _feed(self) -> None:
        for feed in self._feeders:
            feed()

    def __len__(self) -> int:
        if self._feeders:
            self._feed()
        return self._len

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.dtypes)

    def append(self, **row: float) -> None:
        """Add one row; every column must be given."""
        pending = self._pending
        for col in self.dtypes:
            pending[col].append(row[col])
        self._len += 1

    def extend(self, **columns: np.ndarray | float) -> None:
        """Add many rows at once; scalars are broadcast to the length of the array columns."""
        n = None
        for value in columns.values():
            if _is_array(value):
                n = len(value)
                break
        if n is None:
            raise ValueError(f"{self.name}.extend needs at least one array column")
        if n == 0:
            return
        if self._pending[self._first]:
            self._flush_pending()
        for col, dtype, chunks in self._plan:
            value = columns[col]
            kind = type(value)
            if kind is np.ndarray and value.ndim > 0:
                if len(value) != n:
                    raise ValueError(f"{self.name}.extend: column {col!r} has the wrong length")
                chunks.append(value if value.dtype == dtype else value.astype(dtype))
            elif kind is int or kind is float or not _is_array(value):
                chunks.append(_Fill(dtype.type(value), n))
            else:
                if len(value) != n:
                    raise ValueError(f"{self.name}.extend: column {col!r} has the wrong length")
                chunks.append(np.asarray(value, dtype=dtype))
        self._len += n

    def _flush_pending(self) -> None:
        pending = self._pending
        first = next(iter(self.dtypes))
        if not pending[first]:
            return
        for col, dtype in self.dtypes.items():
            self._chunks[col].append(np.asarray(pending[col], dtype=dtype))
            pending[col] = []

    def column(self, col: str) -> np.ndarray:
        """The whole column as one array (consolidated once, then cached)."""
        if self._feeders:
            self._feed()
        if self._cache_len != self._len:
            self._flush_pending()
            for _name, dtype, chunks in self._plan:
                if len(chunks) != 1 or type(chunks[0]) is not np.ndarray:
                    joined = _expand(chunks, dtype) if chunks else np.empty(0, dtype)
                    chunks[:] = [joined]
            self._cache_len = self._len
        return self._chunks[col][0]

    def __getitem__(self, col: str) -> np.ndarray:
        return self.column(col)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {col: self.column(col) for col in self.dtypes}

    @property
    def nbytes(self) -> int:
        """Bytes held by the column data once joined (chunks, ``_Fill`` runs, pending rows)."""
        if self._feeders:
            self._feed()
        width = sum(dt.itemsize for dt in self.dtypes.values())
        return self._len * width


@dataclass
class Names:
    """Dense integer ids for names (receivers, channels, sources), both ways."""

    ids: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def id(self, name: str) -> int:
        found = self.ids.get(name)
        if found is None:
            found = self.ids[name] = len(self.names)
            self.names.append(name)
        return found

    def name(self, ident: int) -> str:
        return self.names[ident]


@dataclass(frozen=True, slots=True)
class Event:
    """A rare control fact: a subscribe, a disconnect, a crash, a rebalance, a retention pass."""

    t: float
    kind: str
    who: str
    detail: Mapping[str, object]


class Trace:
    """All facts of one run. ``enabled=False`` keeps only counters cheap models need anyway."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tables: dict[str, Table] = {
            name: Table(name, schema) for name, schema in _CORE_SCHEMAS.items()
        }
        self.events: list[Event] = []
        self.receivers = Names()
        self.channels = Names()
        self.sources = Names()
        self.subscriptions = Names()  # non-channel subscriptions: Redis glob patterns
        self.servers = Names()  # servers that execute commands (a Redis primary, its replicas)
        self.receiver_groups: dict[int, str] = {}
        self._next_msg = 0

    def table(self, name: str, schema: Mapping[str, str] | None = None) -> Table:
        """Return table ``name``, creating it with ``schema`` if a model adds its own facts."""
        found = self.tables.get(name)
        if found is None:
            if schema is None:
                raise KeyError(f"no trace table {name!r}; known: {sorted(self.tables)}")
            found = self.tables[name] = Table(name, schema)
        return found

    @property
    def published(self) -> Table:
        return self.tables["published"]

    @property
    def acked(self) -> Table:
        return self.tables["acked"]

    @property
    def delivered(self) -> Table:
        return self.tables["delivered"]

    @property
    def dropped(self) -> Table:
        return self.tables["dropped"]

    @property
    def committed(self) -> Table:
        return self.tables["committed"]

    def new_message_ids(self, n: int) -> np.ndarray:
        """Reserve ``n`` dense, run-unique message ids."""
        start = self._next_msg
        self._next_msg += n
        return np.arange(start, start + n, dtype=np.int64)

    def new_message_id(self) -> int:
        self._next_msg += 1
        return self._next_msg - 1

    def receiver(self, name: str, group: str | None = None) -> int:
        """Id of a receiver (a Redis connection, a Kafka consumer); ``group`` for Kafka groups."""
        ident = self.receivers.id(name)
        if group is not None:
            self.receiver_groups[ident] = group
        return ident

    def event(self, t: float, kind: str, who: str, **detail: object) -> None:
        self.events.append(Event(t, kind, who, detail))

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tables.values())

    def drop_counts(self) -> dict[str, int]:
        """Dropped copies per reason name."""
        reasons = self.dropped["reason"]
        counts = np.bincount(reasons.astype(np.int64), minlength=len(DROP_REASONS))
        return {DROP_REASONS[i]: int(c) for i, c in enumerate(counts) if c}
