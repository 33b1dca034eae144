"""Arrival processes: when a producer sends. Frozen descriptions with a vectorised ``times``.

``process.times(rng, start, end, origin=0.0)`` returns the sorted arrival times (float64 seconds)
in ``[start, end)`` of a process whose own clock starts at absolute time ``origin`` (a workload
passes the producer's start). Every process here is a pure function of its random stream and
the window, so a run can be cut into consecutive windows ``[t0, t1), [t1, t2), …``:

- deterministic processes (:class:`Constant`, :class:`OnOff` with fixed durations or with a
  constant inner rate, :class:`TraceReplay`) give bit-identical times however the run is cut;
- random ones (:class:`Poisson`, the Poisson inner rate of :class:`OnOff`) are memoryless, so
  consecutive windows drawn from one stream are one exact realisation of the process. The draws
  depend on where the cuts fall; a :class:`~sim.workload.WorkloadFeed` cuts on a fixed grid so
  that every model sees the same messages.

Rates are messages per second; durations accept :func:`~sim.units.parse_duration` strings.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from sim.distributions import build, did_you_mean, parse_quantity
from sim.units import parse_duration, parse_size

Inner = Literal["poisson", "constant"]
Durations = Literal["fixed", "exponential"]


def _rate(obj: object, value: Any) -> float:
    what = f"{type(obj).__name__}.rate"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(
                f"{what} must be a number of messages per second, not {value!r}"
            ) from None
    rate = parse_quantity(value, None, what)
    if rate < 0:
        raise ValueError(f"{what} must not be negative: {rate!r}")
    return rate


def _duration(obj: object, name: str, value: Any, positive: bool = False) -> float:
    what = f"{type(obj).__name__}.{name}"
    try:
        seconds = parse_duration(value)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None
    if not math.isfinite(seconds) or (positive and seconds <= 0):
        raise ValueError(f"{what} must be a positive, finite duration: {value!r}")
    return seconds


def _first_k(base: np.ndarray | float, rate: float, x: np.ndarray | float) -> np.ndarray:
    """Smallest ``k >= 0`` with ``base + k / rate >= x`` exactly as computed in float64.

    Times on a grid are always computed as ``base + k / rate``, which is monotone in ``k``, so
    a window ``[a, b)`` holds exactly ``k`` in ``[_first_k(a), _first_k(b))`` and neighbouring
    windows share their boundary: each grid point falls in exactly one of them.
    """
    base = np.asarray(base, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):  # a tiny rate puts k=1 at infinity, which is right
        k = np.maximum(np.ceil((x - base) * rate), 0.0)
        for _ in range(8):
            down = (k > 0) & (base + (k - 1) / rate >= x)
            up = base + k / rate < x
            if not (down.any() or up.any()):
                break
            k = k - down + up
    return k


def _grid_times(
    base: np.ndarray, rate: float, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """All ``base[i] + k / rate`` (``k >= 0``) in ``[lo[i], hi[i])``, interval by interval."""
    k0 = _first_k(base, rate, lo)
    k1 = np.maximum(_first_k(base, rate, hi), k0)
    counts = (k1 - k0).astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0)
    which = np.repeat(np.arange(len(counts)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return base[which] + (k0[which] + offsets) / rate


def _uniform_over(
    rng: np.random.Generator, rate: float, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """A Poisson process of ``rate`` over the union of disjoint intervals ``[lo[i], hi[i])``."""
    lengths = hi - lo
    total = float(lengths.sum())
    n = int(rng.poisson(rate * total)) if total > 0 else 0
    if n == 0:
        return np.empty(0)
    u = rng.uniform(0.0, total, n)
    u.sort()
    if len(lengths) == 1:
        return np.minimum(lo[0] + u, np.nextafter(hi[0], -np.inf))
    cum = np.cumsum(lengths)
    which = np.minimum(np.searchsorted(cum, u, side="right"), len(lengths) - 1)
    t = lo[which] + (u - (cum[which] - lengths[which]))
    # Clamp rounding at interval edges; u is sorted and intervals ordered, so t stays sorted.
    return np.minimum(np.maximum(t, lo[which]), np.nextafter(hi[which], -np.inf))


class ArrivalProcess:
    """When messages are sent. Subclasses are frozen dataclasses.

    ``deterministic`` processes use no randomness: ``count`` knows how many messages fall in a
    window without drawing them, and ``times`` accepts ``rng=None``.
    """

    deterministic: bool = False

    def times(
        self, rng: np.random.Generator | None, start: float, end: float, origin: float = 0.0
    ) -> np.ndarray:
        """Sorted arrival times in ``[start, end)``; the process's own time 0 is ``origin``."""
        raise NotImplementedError

    def count(self, start: float, end: float, origin: float = 0.0) -> int:
        """Number of arrivals in ``[start, end)`` (deterministic processes only)."""
        if not self.deterministic:
            raise ValueError(f"{self!r} is random: its count in a window is not known in advance")
        return len(self.times(None, start, end, origin))

    @property
    def mean_rate(self) -> float:
        """Long-run messages per second."""
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(ArrivalProcess):
    """One message every ``1/rate`` seconds, the first ``offset`` after the start.

    Reproduces a paced producer or benchmark driver (OpenMessaging Benchmark's fixed
    ``producerRate``, a sensor sampling at a fixed frequency). Arrival ``k`` is at
    ``origin + offset + k/rate`` — its phase is tied to absolute time, never to chunking.
    """

    rate: float
    offset: float = 0.0
    deterministic = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", _rate(self, self.rate))
        object.__setattr__(self, "offset", _duration(self, "offset", self.offset))

    def _range(self, start: float, end: float, origin: float) -> tuple[float, float, float]:
        base = origin + self.offset
        k0 = float(_first_k(base, self.rate, start))
        k1 = max(float(_first_k(base, self.rate, end)), k0)
        return base, k0, k1

    def times(
        self, rng: np.random.Generator | None, start: float, end: float, origin: float = 0.0
    ) -> np.ndarray:
        if self.rate == 0 or end <= start:
            return np.empty(0)
        base, k0, k1 = self._range(start, end, origin)
        return base + np.arange(k0, k1) / self.rate

    def count(self, start: float, end: float, origin: float = 0.0) -> int:
        if self.rate == 0 or end <= start:
            return 0
        _, k0, k1 = self._range(start, end, origin)
        return int(k1 - k0)

    @property
    def mean_rate(self) -> float:
        return self.rate


@dataclass(frozen=True)
class Poisson(ArrivalProcess):
    """Independent exponential gaps of mean ``1/rate``: many independent clients (web requests,
    users, devices) whose merged sends are memoryless — the M in M/M/1."""

    rate: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", _rate(self, self.rate))

    def times(
        self, rng: np.random.Generator | None, start: float, end: float, origin: float = 0.0
    ) -> np.ndarray:
        if self.rate == 0 or end <= start:
            return np.empty(0)
        if rng is None:
            raise ValueError("Poisson arrivals need a random stream (rng)")
        return _uniform_over(rng, self.rate, np.array([start], float), np.array([end], float))

    @property
    def mean_rate(self) -> float:
        return self.rate


# The exponential ON/OFF schedule is drawn in blocks of _CYCLES cycles, whose ON and OFF totals
# are Gamma(_CYCLES) draws made _BLOCKS at a time; a block's cycles are its totals split by
# normalised exponentials (Dirichlet(1, …, 1)), which gives exactly i.i.d. exponential periods.
# Any window's schedule is thus found from a few seeded draws, without state or replay.
_CYCLES = 128
_BLOCKS = 64
_ONOFF_TAG = 0x0F0F


def _child(rng: np.random.Generator, *key: int) -> np.random.Generator:
    seq = rng.bit_generator.seed_seq
    child = np.random.SeedSequence(entropy=seq.entropy, spawn_key=(*seq.spawn_key, *key))
    return np.random.Generator(np.random.PCG64(child))


@dataclass(frozen=True)
class OnOff(ArrivalProcess):
    """Bursts: ON periods of ``on`` seconds sending at ``rate``, then OFF periods of ``off``
    seconds of silence, starting ON at the producer's start.

    Reproduces bursty sources — batch jobs, market opens, retry storms, IoT fleets waking up —
    whose peaks overload a push broker that cannot buffer. ``inner`` is how messages arrive
    while ON (``"poisson"`` or ``"constant"``, the latter restarting at each ON period);
    ``durations="exponential"`` makes ON and OFF lengths exponential with those means (a
    Markov-modulated source) instead of fixed. The exponential schedule is derived from the
    stream's seed and absolute time, so it does not depend on chunking either.
    """

    rate: float
    on: float
    off: float
    inner: Inner = "poisson"
    durations: Durations = "fixed"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", _rate(self, self.rate))
        object.__setattr__(self, "on", _duration(self, "on", self.on, positive=True))
        object.__setattr__(self, "off", _duration(self, "off", self.off))
        if self.inner not in ("poisson", "constant"):
            raise ValueError(f"OnOff.inner must be 'poisson' or 'constant', not {self.inner!r}")
        if self.durations not in ("fixed", "exponential"):
            raise ValueError(
                f"OnOff.durations must be 'fixed' or 'exponential', not {self.durations!r}"
            )

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        return self.inner == "constant" and (self.durations == "fixed" or self.off == 0)

    @property
    def mean_rate(self) -> float:
        return self.rate * self.on / (self.on + self.off)

    def on_periods(
        self, rng: np.random.Generator | None, start: float, end: float, origin: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """ON periods ``[s[i], e[i])`` (absolute, unclipped) that overlap ``[start, end)``."""
        if end <= start or end <= origin:
            return np.empty(0), np.empty(0)
        if self.off == 0:
            return np.array([origin]), np.array([np.inf])
        if self.durations == "fixed":
            cycle = self.on + self.off
            j0 = max(math.floor((start - origin) / cycle) - 1, 0)
            j1 = max(math.ceil((end - origin) / cycle) + 1, 0)
            s = origin + np.arange(j0, j1, dtype=np.float64) * cycle
            e = s + self.on
        else:
            if rng is None:
                raise ValueError("OnOff with exponential durations needs a random stream (rng)")
            s, e = self._exponential_periods(rng, start - origin, end - origin)
            s, e = origin + s, origin + e
        keep = (e > start) & (s < end)
        return s[keep], e[keep]

    def _exponential_periods(
        self, rng: np.random.Generator, t0: float, t1: float
    ) -> tuple[np.ndarray, np.ndarray]:
        on_tot: list[np.ndarray] = []
        off_tot: list[np.ndarray] = []
        block_end = np.zeros(1)
        while block_end[-1] < t1:
            gen = _child(rng, _ONOFF_TAG, 0, len(on_tot))
            on_tot.append(gen.standard_gamma(_CYCLES, _BLOCKS) * self.on)
            off_tot.append(gen.standard_gamma(_CYCLES, _BLOCKS) * self.off)
            ons, offs = np.concatenate(on_tot), np.concatenate(off_tot)
            block_end = np.cumsum(ons + offs)  # the same prefix whatever the window
        block_start = np.concatenate(([0.0], block_end[:-1]))
        first = int(np.searchsorted(block_end, t0, side="right"))
        last = int(np.searchsorted(block_start, t1, side="left"))
        starts, ends = [], []
        for b in range(first, last):
            gen = _child(rng, _ONOFF_TAG, 1, b)
            on_d, off_d = gen.standard_exponential(_CYCLES), gen.standard_exponential(_CYCLES)
            on_d *= ons[b] / on_d.sum()
            off_d *= offs[b] / off_d.sum()
            cycle_end = np.cumsum(on_d + off_d)
            s = block_start[b] + (cycle_end - on_d - off_d)
            starts.append(s)
            ends.append(s + on_d)
        if not starts:
            return np.empty(0), np.empty(0)
        return np.concatenate(starts), np.concatenate(ends)

    def times(
        self, rng: np.random.Generator | None, start: float, end: float, origin: float = 0.0
    ) -> np.ndarray:
        if self.rate == 0 or end <= start:
            return np.empty(0)
        s, e = self.on_periods(rng, start, end, origin)
        lo, hi = np.maximum(s, start), np.minimum(e, end)
        keep = hi > lo
        s, lo, hi = s[keep], lo[keep], hi[keep]
        if self.inner == "constant":
            return _grid_times(s, self.rate, lo, hi)
        if rng is None:
            raise ValueError("OnOff with Poisson inner arrivals needs a random stream (rng)")
        return _uniform_over(rng, self.rate, lo, hi)


# ---------------------------------------------------------------- trace replay


class TraceFileError(ValueError):
    """A malformed trace file; the message names the file, the line and the field."""


_TIME_COLUMNS: Mapping[str, float] = MappingProxyType(
    {"t": 1.0, "t_s": 1.0, "t_ms": 1e-3, "t_us": 1e-6}
)
_TARGET_COLUMNS = ("target", "channel", "topic")
_COLUMNS = (*_TIME_COLUMNS, "size", "key", *_TARGET_COLUMNS)


def _frozen_array(values: Any, dtype: Any) -> np.ndarray:
    arr = np.array(values, dtype=dtype)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class TraceReplay(ArrivalProcess):
    """Replay recorded send times: production traffic captured from a real system.

    ``TraceReplay("trace.csv")`` reads a CSV file (see :meth:`read_csv`);
    ``TraceReplay(t=[...], size=[...], key=[...], target=[...])`` takes arrays. Times are seconds
    after the producer's start and must not decrease. Optional per-message columns: ``size``
    (bytes), ``key`` (a non-negative integer key id; -1 for none) and ``target`` (channel or topic
    names). Arrays are kept read-only.
    """

    t: Any
    size: Any = None
    key: Any = None
    target: Any = None
    source: str = "<arrays>"
    deterministic = True

    def __post_init__(self) -> None:
        if isinstance(self.t, str | os.PathLike):
            loaded = self.read_csv(self.t)
            for name in ("t", "size", "key", "target", "source"):
                object.__setattr__(self, name, getattr(loaded, name))
            return
        t = _frozen_array(self.t, np.float64)
        if t.ndim != 1:
            raise ValueError("TraceReplay.t must be one-dimensional")
        if t.size and (not np.isfinite(t).all() or t[0] < 0 or (np.diff(t) < 0).any()):
            raise ValueError(
                "TraceReplay.t must be finite, non-negative and non-decreasing seconds"
            )
        object.__setattr__(self, "t", t)
        for name, dtype in (("size", np.int64), ("key", np.int64)):
            value = getattr(self, name)
            if value is not None:
                arr = _frozen_array(value, dtype)
                if arr.shape != t.shape:
                    raise ValueError(f"TraceReplay.{name} must have one value per time")
                if name == "size" and (arr < 0).any():
                    raise ValueError("TraceReplay.size must be non-negative")
                if name == "key" and (arr < -1).any():
                    raise ValueError("TraceReplay.key must be a key id >= 0, or -1 for no key")
                object.__setattr__(self, name, arr)
        if self.target is not None:
            target = _frozen_array(self.target, object)
            if target.shape != t.shape or not all(isinstance(x, str) and x for x in target):
                raise ValueError("TraceReplay.target must be one non-empty name per time")
            object.__setattr__(self, "target", target)

    def __repr__(self) -> str:
        cols = [c for c in ("size", "key", "target") if getattr(self, c) is not None]
        return f"TraceReplay({self.source!r}, {len(self.t)} messages, columns={cols})"

    @property
    def target_names(self) -> tuple[str, ...]:
        """Target names in order of first appearance (empty without a target column)."""
        if self.target is None:
            return ()
        return tuple(dict.fromkeys(self.target.tolist()))

    @property
    def mean_rate(self) -> float:
        span = float(self.t[-1]) if len(self.t) else 0.0
        return len(self.t) / span if span > 0 else 0.0

    def window(self, start: float, end: float, origin: float = 0.0) -> slice:
        """Rows whose absolute time ``origin + t`` lies in ``[start, end)`` (exactly)."""
        t = self.t
        i0 = int(np.searchsorted(t, start - origin, side="left"))
        i1 = int(np.searchsorted(t, end - origin, side="left"))
        n = len(t)
        while i0 > 0 and origin + t[i0 - 1] >= start:
            i0 -= 1
        while i0 < n and origin + t[i0] < start:
            i0 += 1
        while i1 > 0 and origin + t[i1 - 1] >= end:
            i1 -= 1
        while i1 < n and origin + t[i1] < end:
            i1 += 1
        return slice(i0, max(i0, i1))

    def times(
        self, rng: np.random.Generator | None, start: float, end: float, origin: float = 0.0
    ) -> np.ndarray:
        if end <= start:
            return np.empty(0)
        return origin + self.t[self.window(start, end, origin)]

    def count(self, start: float, end: float, origin: float = 0.0) -> int:
        if end <= start:
            return 0
        rows = self.window(start, end, origin)
        return rows.stop - rows.start

    @classmethod
    def read_csv(cls, path: str | os.PathLike[str]) -> TraceReplay:
        """Read a trace CSV: a header naming the columns, then one row per message.

        Columns: a time column ``t`` (seconds, or values with a unit such as ``12.5ms``) or
        ``t_s``/``t_ms``/``t_us`` (numbers in that unit); optional ``size`` (bytes or ``1kb``),
        ``key`` (integer id, empty for none) and one of ``target``/``channel``/``topic``.
        Blank lines and lines starting with ``#`` are skipped. Any malformed row raises
        :class:`TraceFileError` naming the line and the field.
        """
        name = os.fspath(path)
        try:
            with open(name, newline="", encoding="utf-8") as fh:
                return cls._parse_csv(fh, name)
        except OSError as err:
            raise TraceFileError(f"cannot read trace file {name!r}: {err.strerror}") from None
        except UnicodeDecodeError:
            raise TraceFileError(f"{name}: not a UTF-8 text (CSV) file") from None
        except csv.Error as err:
            raise TraceFileError(f"{name}: not a readable CSV file: {err}") from None

    @classmethod
    def _parse_csv(cls, fh: Any, name: str) -> TraceReplay:
        def fail(line: int, message: str) -> TraceFileError:
            return TraceFileError(f"{name}, line {line}: {message}")

        reader = csv.reader(fh)
        header: list[str] | None = None
        header_line = 0
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                header_line = reader.line_num
                continue
            if len(row) != len(header):
                raise fail(reader.line_num, f"expected {len(header)} fields "
                           f"({','.join(header)}), found {len(row)}")
            rows.append(row)
            lines.append(reader.line_num)
        if header is None:
            raise TraceFileError(f"{name}: empty trace file (no header line)")
        for column in header:
            if column not in _COLUMNS:
                hint = did_you_mean(column, _COLUMNS)
                raise fail(header_line, f"unknown column {column!r}{hint}")
        if len(set(header)) != len(header):
            raise fail(header_line, "a column is named twice")
        time_cols = [c for c in header if c in _TIME_COLUMNS]
        target_cols = [c for c in header if c in _TARGET_COLUMNS]
        if len(time_cols) != 1:
            raise fail(header_line, "need exactly one time column: t, t_s, t_ms or t_us")
        if len(target_cols) > 1:
            raise fail(header_line, f"only one of {', '.join(_TARGET_COLUMNS)} may be given")
        tcol = time_cols[0]
        columns = {c: [r[i].strip() for r in rows] for i, c in enumerate(header)}

        times = np.empty(len(rows))
        scale = _TIME_COLUMNS[tcol]
        for i, text in enumerate(columns[tcol]):
            try:
                value = float(text) * scale if tcol != "t" else float(text)
            except ValueError:
                if tcol != "t":
                    raise fail(lines[i], f"field {tcol!r}: {text!r} is not a number") from None
                try:
                    value = parse_duration(text)
                except ValueError:
                    raise fail(lines[i], f"field 't': cannot read {text!r} as a time "
                               "(seconds, or a number with a unit like '12.5ms')") from None
            if not math.isfinite(value) or value < 0:
                raise fail(lines[i], f"field {tcol!r}: time must be finite and >= 0, not {text!r}")
            if i and value < times[i - 1]:
                raise fail(lines[i], f"field {tcol!r}: time {text} is earlier than the previous "
                           "row's; trace rows must be in time order")
            times[i] = value

        size = key = target = None
        if "size" in columns:
            size = np.empty(len(rows), dtype=np.int64)
            for i, text in enumerate(columns["size"]):
                try:
                    size[i] = parse_size(text)
                except ValueError:
                    raise fail(lines[i], f"field 'size': {text!r} is not a size in bytes "
                               "(e.g. 100 or '1kb')") from None
        if "key" in columns:
            key = np.empty(len(rows), dtype=np.int64)
            for i, text in enumerate(columns["key"]):
                if not text:
                    key[i] = -1
                elif text.isascii() and text.isdigit():
                    key[i] = int(text)
                else:
                    raise fail(lines[i], f"field 'key': {text!r} is not a key id "
                               "(a non-negative integer, or empty for no key)")
        if target_cols:
            col = target_cols[0]
            for i, text in enumerate(columns[col]):
                if not text:
                    raise fail(lines[i], f"field {col!r} is empty")
            target = columns[col]
        return cls(times, size=size, key=key, target=target, source=name)

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write this trace in the format :meth:`read_csv` reads (times exactly, as ``repr``)."""
        cols = {"t": [repr(float(x)) for x in self.t]}
        if self.size is not None:
            cols["size"] = [str(x) for x in self.size]
        if self.key is not None:
            cols["key"] = ["" if x < 0 else str(x) for x in self.key]
        if self.target is not None:
            cols["target"] = list(self.target)
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(cols)
            writer.writerows(zip(*cols.values(), strict=True))


ARRIVALS: Mapping[str, type] = MappingProxyType(
    {"constant": Constant, "poisson": Poisson, "onoff": OnOff, "trace": TraceReplay}
)


def parse_arrivals(spec: Any) -> ArrivalProcess:
    """An arrival process from ``"poisson:1000"``, ``"constant:50000"``,
    ``"onoff:1000,on=1s,off=4s,inner=constant"``, ``"trace:path.csv"``, or a table
    ``{"kind": "poisson", "rate": 1000}``."""
    if isinstance(spec, ArrivalProcess):
        return spec
    return build(ARRIVALS, "arrivals", spec)
