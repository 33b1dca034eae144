"""What an experiment is, what one run of it returns, and how parameters are given on the CLI.

An experiment module (one per file in ``experiments/scenarios/``) defines ``EXPERIMENT``, an
:class:`Experiment`: inert, frozen data (after Ciw: parameters apart from runtime state) naming
the question, the expected outcome, the default parameters and the callables that run, plot and
check it. ``run(params, seed)`` returns a :class:`RunResult` holding tidy metric rows; the runner
fills in the bookkeeping (after desmod: every run returns a result carrying its config, seed,
runtime and any error).
"""

from __future__ import annotations

import difflib
import importlib.metadata
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

Params = Mapping[str, Any]
"""One flat set of parameters: name -> value. Dotted Kafka/Redis names are fine as keys."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class UsageError(Exception):
    """Bad input from the user (unknown name, bad value): reported in one line, exit code 2."""


class Metric(NamedTuple):
    """One tidy number: which model, which metric, its value and its unit."""

    model: str
    metric: str
    value: float
    unit: str


def plain_number(value: Any) -> int | float:
    """A metric value as a Python ``int`` (integers and bools) or ``float`` (anything else)."""
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return int(value)
    return float(value)


class Verdict(NamedTuple):
    """One row of the "when to use which" table, computed from an experiment's runs.

    ``need``: the requirement in a user's words ("receivers that go offline must not lose
    messages"); ``choice``: ``"redis"``, ``"kafka"`` or ``"either"``; ``evidence``: the numbers
    behind it, in one sentence.
    """

    need: str
    choice: str
    evidence: str


@dataclass(frozen=True)
class RunResult:
    """What one run (experiment x parameter point x replication) produced.

    An experiment's ``run`` returns ``RunResult(metrics=[...], series={...})``; the runner fills
    in ``experiment``, ``params``, ``seed``, ``replication``, ``point``, ``wall_time_s``,
    ``version`` and, when ``run`` raised, ``error`` (the traceback text).

    ``series`` holds arrays for plots, e.g. ``{"redis/latency": {"t": ..., "latency": ...}}``;
    it is not written to the CSV.
    """

    metrics: Sequence[Metric] = ()
    series: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    experiment: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    point: str = "default"
    replication: int = 0
    seed: int = 0
    wall_time_s: float = 0.0
    version: str = ""
    error: str | None = None

    def __post_init__(self) -> None:
        metrics = tuple(
            Metric(str(model), str(metric), plain_number(value), str(unit))
            for model, metric, value, unit in self.metrics
        )
        object.__setattr__(self, "metrics", metrics)

    @property
    def ok(self) -> bool:
        """True when the run finished without an error."""
        return self.error is None

    def value(self, model: str, metric: str) -> float:
        """The value of ``metric`` for ``model`` (KeyError naming both if absent)."""
        for m in self.metrics:
            if m.model == model and m.metric == metric:
                return m.value
        raise KeyError(f"no metric {metric!r} for model {model!r} in {self.experiment or 'run'}")


@dataclass(frozen=True, eq=False)
class Experiment:
    """A named scenario: the question it answers and how to run, plot and check it.

    - ``params``: the defaults, name -> value; ``--set``/``--param`` may only name these keys,
      and values given on the command line are converted to the default's type.
    - ``quick``: overrides for ``--quick``, a size that runs in seconds.
    - ``run(params, seed) -> RunResult``: one replication; must be a module-level function (it
      is sent to worker processes by reference) and must draw all randomness from ``seed``.
    - ``plot(results, out_dir) -> [paths]``: optional; ``out_dir`` is ``figures/<name>/`` under
      ``--out`` and ``results`` are the successful runs; save with
      :func:`experiments.plotting.save_figure`. Without it the runner draws a default figure
      per metric.
    - ``check(results)``: optional; asserts the expected qualitative outcome (tests call it, the
      report shows whether it held).
    - ``verdicts(results) -> [Verdict]``: optional; what the runs say about choosing between
      the models, for the report's computed "when to use which" table.
    """

    name: str
    question: str
    expected: str
    params: Params
    run: Callable[[Params, int], RunResult]
    quick: Params = field(default_factory=dict)
    plot: Callable[[Sequence[RunResult], Path], list[Path]] | None = None
    check: Callable[[Sequence[RunResult]], None] | None = None
    verdicts: Callable[[Sequence[RunResult]], list[Verdict]] | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"experiment name {self.name!r}: use lowercase letters, digits, '-' or '_'"
            )
        for attr in ("question", "expected"):
            if not str(getattr(self, attr)).strip():
                raise ValueError(f"experiment {self.name!r} needs a one-sentence {attr}")
        unknown = set(self.quick) - set(self.params)
        if unknown:
            raise ValueError(f"experiment {self.name!r}: quick overrides unknown {sorted(unknown)}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "quick", MappingProxyType(dict(self.quick)))

    def resolve(self, *overrides: Params, quick: bool = False) -> dict[str, Any]:
        """Defaults, then the ``quick`` overrides if asked, then each override mapping in turn.

        Keys must be parameters of this experiment. A ``str`` value is command-line text and is
        converted to the type of the default (:func:`coerce`); other values are taken as given.
        """
        params = dict(self.params)
        if quick:
            params.update(self.quick)
        for more in overrides:
            for key, value in more.items():
                check_known(key, self.params, "parameter", where=f" of experiment {self.name!r}")
                if isinstance(value, str):
                    value = coerce(key, value, self.params[key])
                params[key] = value
        return params


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``name``, if any is close."""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def check_known(name: str, choices: Iterable[str], what: str, where: str = "") -> None:
    """Raise :class:`UsageError` naming ``name`` and the closest valid choice if it is unknown."""
    choices = list(choices)
    if name in choices:
        return
    hint = closest(name, choices)
    suggestion = f"; did you mean {hint!r}?" if hint else ""
    known = ", ".join(sorted(choices)) or "none"
    raise UsageError(f"unknown {what} {name!r}{where}{suggestion} (known: {known})")


_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})


def parse_value(text: str) -> int | float | bool | str:
    """Read a command-line value as int, float, bool (true/false/yes/no/on/off) or else str."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return text


def coerce(name: str, text: str, default: Any) -> Any:
    """Convert command-line ``text`` for parameter ``name`` to the type of its ``default``."""
    value = parse_value(text)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if value in (0, 1) and not isinstance(value, float):
            return bool(value)
        raise UsageError(f"parameter {name!r} expects true or false, not {text!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise UsageError(f"parameter {name!r} expects an integer, not {text!r}")
    if isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise UsageError(f"parameter {name!r} expects a number, not {text!r}")
    if isinstance(default, str):
        return text
    return value


def split_assignment(text: str, option: str) -> tuple[str, str]:
    """``"retention.ms=60000"`` -> ``("retention.ms", "60000")`` (split at the first ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{option} expects key=value, not {text!r}")
    return key.strip(), value.strip()


def brokersim_version() -> str:
    """The installed brokersim version, else the one in the source tree's pyproject.toml."""
    try:
        return importlib.metadata.version("brokersim")
    except importlib.metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        with pyproject.open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"
