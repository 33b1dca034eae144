"""Message-size and service-time distributions, and how a message picks a key or a channel.

All are frozen dataclasses: inert descriptions that draw from a random stream they are given
(``sim.rng(name)``), never from global random state.

- :class:`Distribution` — ``draw(rng, n)`` returns ``n`` float64 values: message sizes in bytes,
  service times or network jitter in seconds. :class:`Fixed`, :class:`Uniform`,
  :class:`Exponential`, :class:`LogNormal` (parametrised by its mean), :class:`Empirical`.
- :class:`Choice` — ``draw(rng, n, first=0)`` returns ``n`` int64 indices in ``[0, self.n)``:
  which key (Kafka) or channel (Redis) each message goes to. :class:`UniformChoice`,
  :class:`Zipf` (bounded, exact), :class:`RoundRobin`.

Parameters accept numbers or the strings people write in configs: ``Fixed("1kb")`` is 1024 bytes,
``Exponential("2ms")`` has a mean of 0.002 s. ``parse_distribution("lognormal:1kb,0.5")`` and
``parse_choice("zipf:100,1.1")`` read the short forms used in workload files.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from sim.units import parse_duration, parse_size

Kind = Literal["size", "duration"] | None


def parse_quantity(value: Any, kind: Kind = None, what: str = "value") -> float:
    """A number from ``value``: a plain number, or a size (``"1kb"``) or duration (``"2ms"``).

    ``kind`` says which units to accept; with ``None`` the unit decides, and ``"1m"`` (a minute
    or a million bytes?) is refused as ambiguous.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {value!r}")
    if isinstance(value, int | float | np.integer | np.floating):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{what} must be finite, not {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a number or a string like '1kb' or '2ms', not {value!r}")
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if kind == "size":
        return float(_reraise(parse_size, text, what))
    if kind == "duration":
        return _reraise(parse_duration, text, what)
    as_size = _try(parse_size, text)
    as_time = _try(parse_duration, text)
    if as_size is not None and as_time is not None:
        raise ValueError(
            f"{what} {value!r} is ambiguous: write '1min' for a duration or '1mb'/'1000000' "
            "for a size"
        )
    if as_size is not None:
        return float(as_size)
    if as_time is not None:
        return as_time
    raise ValueError(
        f"cannot parse {what} {value!r}: use a number, a size like '1kb' or a duration like '2ms'"
    )


def _try(parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except ValueError:
        return None


def _reraise(parse: Any, text: str, what: str) -> Any:
    try:
        return parse(text)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _nonneg(obj: object, name: str, kind: Kind = None, positive: bool = False) -> float:
    what = f"{type(obj).__name__}.{name}"
    value = parse_quantity(getattr(obj, name), kind, what)
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be {'positive' if positive else 'non-negative'}: {value!r}")
    _set(obj, name, value)
    return value


# ---------------------------------------------------------------- value distributions


class Distribution:
    """A distribution of non-negative values: ``draw(rng, n)`` → ``n`` float64 values.

    Every distribution also has a ``mean`` (a field or a property).
    """

    mean: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class Fixed(Distribution):
    """Always ``v``: benchmark payloads of one size (OpenMessaging Benchmark's ``messageSize``)."""

    v: float

    def __post_init__(self) -> None:
        _nonneg(self, "v")

    def draw(self, rng: np.random.Generator | None, n: int) -> np.ndarray:
        return np.full(n, self.v, dtype=np.float64)

    @property
    def mean(self) -> float:
        return self.v


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on ``[lo, hi)``: payloads or service times known only by their range."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        lo, hi = _nonneg(self, "lo"), _nonneg(self, "hi")
        if hi < lo:
            raise ValueError(f"Uniform: hi ({hi!r}) must not be below lo ({lo!r})")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.lo, self.hi, n)

    @property
    def mean(self) -> float:
        return (self.lo + self.hi) / 2


@dataclass(frozen=True)
class Exponential(Distribution):
    """Exponential with mean ``mean``: memoryless service times (the M in M/M/1)."""

    mean: float

    def __post_init__(self) -> None:
        _nonneg(self, "mean")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, n)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """Log-normal with the given *mean* and log-space ``sigma``: skewed real payload sizes and
    request latencies (most small, a long tail of large ones). ``mu = ln(mean) - sigma²/2``."""

    mean: float
    sigma: float

    def __post_init__(self) -> None:
        _nonneg(self, "mean", positive=True)
        _nonneg(self, "sigma")

    @property
    def mu(self) -> float:
        return math.log(self.mean) - self.sigma**2 / 2

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, n)


@dataclass(frozen=True)
class Empirical(Distribution):
    """``values`` with probabilities ∝ ``weights`` (equal if omitted): a measured size histogram."""

    values: tuple[float, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        values = self.values
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
            raise ValueError(f"Empirical.values must be a sequence of numbers, not {self.values!r}")
        values = tuple(parse_quantity(v, None, "Empirical value") for v in self.values)
        if not values:
            raise ValueError("Empirical needs at least one value")
        if any(v < 0 for v in values):
            raise ValueError(f"Empirical values must be non-negative: {values}")
        _set(self, "values", values)
        if self.weights is not None:
            weights = tuple(parse_quantity(w, None, "Empirical weight") for w in self.weights)
            if len(weights) != len(values):
                raise ValueError(
                    f"Empirical: {len(values)} values but {len(weights)} weights"
                )
            if any(w < 0 for w in weights) or sum(weights) <= 0:
                raise ValueError(f"Empirical weights must be non-negative and not all 0: {weights}")
            _set(self, "weights", weights)

    @cached_property
    def _cdf(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights, float)
        cdf = np.cumsum(w) / w.sum()
        cdf[-1] = 1.0
        return cdf

    @property
    def probabilities(self) -> np.ndarray:
        return np.diff(self._cdf, prepend=0.0)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        idx = np.searchsorted(self._cdf, rng.random(n), side="right")
        return np.asarray(self.values, dtype=np.float64)[np.minimum(idx, len(self.values) - 1)]

    @property
    def mean(self) -> float:
        return float(np.dot(self.probabilities, self.values))


# ---------------------------------------------------------------- choices of key / channel


class Choice:
    """Which of ``n`` items (keys, channels) each message picks: ``draw(rng, count, first=0)``.

    ``first`` is the index of the first message among all this producer has sent; only
    sequential choices (``sequential = True``, i.e. :class:`RoundRobin`) use it.
    """

    n: int
    sequential: bool = False

    def draw(self, rng: np.random.Generator, count: int, first: int = 0) -> np.ndarray:
        raise NotImplementedError

    @property
    def probabilities(self) -> np.ndarray:
        """Long-run share of messages that goes to each item."""
        return np.full(self.n, 1.0 / self.n)

    def _check_n(self) -> None:
        n = self.n
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"{type(self).__name__}.n must be a positive integer, not {n!r}")
        _set(self, "n", int(n))


@dataclass(frozen=True)
class UniformChoice(Choice):
    """Each of ``n`` items equally likely, independently: random keys (OMB's ``RANDOM_NANO``)."""

    n: int

    def __post_init__(self) -> None:
        self._check_n()

    def draw(self, rng: np.random.Generator, count: int, first: int = 0) -> np.ndarray:
        return rng.integers(0, self.n, count, dtype=np.int64)


@dataclass(frozen=True)
class Zipf(Choice):
    """Bounded Zipf over ``n`` items: item ``k`` (0-based) has probability ∝ ``1/(k+1)**s``.

    Hot keys / hot channels: a few items take most of the traffic (``s≈1`` is classic Zipf;
    ``s=0`` is uniform). Exact over ``n`` items, unlike numpy's unbounded ``zipf`` (which needs
    ``s > 1`` and would have to be truncated and so re-weighted).
    """

    n: int
    s: float = 1.0

    def __post_init__(self) -> None:
        self._check_n()
        _nonneg(self, "s")

    @cached_property
    def _cdf(self) -> np.ndarray:
        w = np.arange(1, self.n + 1, dtype=np.float64) ** -self.s
        cdf = np.cumsum(w)
        cdf /= cdf[-1]
        cdf[-1] = 1.0
        return cdf

    @property
    def probabilities(self) -> np.ndarray:
        w = np.arange(1, self.n + 1, dtype=np.float64) ** -self.s
        return w / w.sum()

    def draw(self, rng: np.random.Generator, count: int, first: int = 0) -> np.ndarray:
        idx = np.searchsorted(self._cdf, rng.random(count), side="right")
        return np.minimum(idx, self.n - 1).astype(np.int64)


@dataclass(frozen=True)
class RoundRobin(Choice):
    """Items ``0, 1, …, n-1, 0, 1, …`` in turn (OMB's ``KEY_ROUND_ROBIN``); uses no randomness."""

    n: int
    sequential = True

    def __post_init__(self) -> None:
        self._check_n()

    def draw(self, rng: np.random.Generator | None, count: int, first: int = 0) -> np.ndarray:
        return (np.arange(first, first + count, dtype=np.int64)) % self.n


# ---------------------------------------------------------------- short forms: "kind:a,b,k=v"


def split_spec(text: str) -> tuple[str, list[str], dict[str, str]]:
    """``"lognormal:1kb,sigma=0.5"`` → ``("lognormal", ["1kb"], {"sigma": "0.5"})``."""
    kind, _, rest = str(text).partition(":")
    args: list[str] = []
    kwargs: dict[str, str] = {}
    for part in (p.strip() for p in rest.split(",")) if rest.strip() else ():
        if not part:
            raise ValueError(f"empty argument in {text!r}")
        name, eq, value = part.partition("=")
        if eq:
            kwargs[name.strip()] = value.strip()
        elif kwargs:
            raise ValueError(f"positional argument {part!r} after a named one in {text!r}")
        else:
            args.append(part)
    return kind.strip().lower(), args, kwargs


def build(registry: Mapping[str, type], what: str, spec: Any, convert: Any = None) -> Any:
    """Build an object from ``"kind:args"`` or ``{"kind": ..., **fields}`` using ``registry``.

    ``convert(cls, field_name, raw)`` may turn a raw argument into the field's value. Unknown
    kinds and fields are errors naming them and suggesting the closest valid one.
    """
    if isinstance(spec, Mapping):
        spec = dict(spec)
        if "kind" not in spec:
            raise ValueError(f"{what} {spec!r} needs a 'kind' (one of {', '.join(registry)})")
        kind, args, kwargs = str(spec.pop("kind")).lower(), [], spec
    elif isinstance(spec, str):
        kind, args, kwargs = split_spec(spec)
    else:
        raise ValueError(f"{what} must be a string like 'kind:args' or a table, not {spec!r}")
    cls = registry.get(kind)
    if cls is None:
        raise ValueError(f"unknown {what} kind {kind!r}{did_you_mean(kind, registry)}")
    names = [f.name for f in fields(cls) if f.init]
    if len(args) > len(names):
        raise ValueError(f"{what} {spec!r}: {kind} takes at most {len(names)} arguments "
                         f"({', '.join(names)})")
    values = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            raise ValueError(f"{what} {kind}: unknown field {key!r}{did_you_mean(key, names)}")
        if key in values:
            raise ValueError(f"{what} {kind}: {key!r} given twice")
        values[key] = value
    required = [f.name for f in fields(cls)
                if f.init and f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise ValueError(f"{what} {kind} needs {', '.join(map(repr, missing))} "
                         f"(fields: {', '.join(names)})")
    if convert is not None:
        values = {k: convert(cls, k, v) for k, v in values.items()}
    try:
        return cls(**values)
    except TypeError as err:
        raise ValueError(f"{what} {spec!r}: {err}") from None


def did_you_mean(name: str, valid: Any) -> str:
    """'; did you mean 'x'? (valid: ...)' — the tail of an error about an unknown name."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (valid: {', '.join(valid)})"


DISTRIBUTIONS: Mapping[str, type] = MappingProxyType({
    "fixed": Fixed, "uniform": Uniform, "exp": Exponential, "exponential": Exponential,
    "lognormal": LogNormal, "empirical": Empirical,
})
CHOICES: Mapping[str, type] = MappingProxyType({
    "uniform": UniformChoice, "zipf": Zipf, "round-robin": RoundRobin, "roundrobin": RoundRobin,
})


def parse_distribution(spec: Any, kind: Kind = None) -> Distribution:
    """A distribution from a short form: a bare quantity is :class:`Fixed` (``"1kb"``, ``100``);
    else ``"exp:2ms"``, ``"uniform:100,1kb"``, ``"lognormal:1kb,0.5"``,
    ``"empirical:100@0.9,1kb@0.1"`` (value@weight), or ``{"kind": "exp", "mean": "2ms"}``.
    ``kind="size"`` or ``"duration"`` says which units the quantities are in.
    """
    if isinstance(spec, Distribution):
        return spec
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return Fixed(spec)
    if isinstance(spec, str) and ":" not in spec:
        return Fixed(parse_quantity(spec, kind, "size" if kind == "size" else "value"))

    def convert(cls: type, name: str, raw: Any) -> Any:
        if cls is Empirical and name == "values" and isinstance(raw, str):
            return raw
        if name == "sigma" or not isinstance(raw, str):
            return raw
        return parse_quantity(raw, kind, f"{cls.__name__}.{name}")

    if isinstance(spec, str) and spec.split(":", 1)[0].strip().lower() == "empirical":
        pairs = [p.strip() for p in spec.split(":", 1)[1].split(",") if p.strip()]
        values, weights = [], []
        for pair in pairs:
            value, at, weight = pair.partition("@")
            values.append(parse_quantity(value, kind, "Empirical value"))
            weights.append(parse_quantity(weight, None, "Empirical weight") if at else 1.0)
        return Empirical(tuple(values), tuple(weights))
    return build(DISTRIBUTIONS, "distribution", spec, convert)


def parse_choice(spec: Any) -> Choice:
    """A key/channel choice from ``"uniform:16"``, ``"zipf:100,1.1"``, ``"round-robin:8"`` or a
    table ``{"kind": "zipf", "n": 100, "s": 1.1}``."""
    if isinstance(spec, Choice):
        return spec

    def convert(cls: type, name: str, raw: Any) -> Any:
        if name == "n" and isinstance(raw, str):
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{cls.__name__}.n must be an integer, not {raw!r}") from None
        return raw

    return build(CHOICES, "key choice", spec, convert)
