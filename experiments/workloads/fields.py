"""Checks shared by the workload file parsers; each failure is a :class:`FieldError` naming the
field by its path in the file (``producers[1].sizes``, ``producerRate``)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from experiments.workloads.description import FieldError
from sim.units import parse_duration, parse_size

T = TypeVar("T")


def shown(value: Any) -> str:
    """A value as the error message shows it: ``'fast'``, ``3.5``, ``true``, ``a table``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def suggest(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest valid name, and the valid names if few."""
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if len(valid) <= 20:
        hint += f" (valid: {', '.join(valid)})"
    return hint


def check_keys(table: Mapping[str, Any], valid: Iterable[str], path: str = "") -> None:
    """Reject the first key of ``table`` not in ``valid``, suggesting the closest valid one."""
    valid = list(valid)
    for key in table:
        if key not in valid:
            raise FieldError(join(path, str(key)),
                             f"unknown field{suggest(str(key), valid)}")


def require(table: Mapping[str, Any], key: str, path: str = "") -> Any:
    if key not in table:
        raise FieldError(join(path, key), "missing (this field is required)")
    return table[key]


def join(path: str, key: str | int) -> str:
    """``join("producers[0]", "sizes")`` → ``"producers[0].sizes"``; ``join("a", 2)`` →
    ``"a[2]"``; keys that are not plain words are quoted (``redis."hz"`` stays readable)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    part = key if key.replace("_", "").replace("-", "").replace(".", "").isalnum() \
        else repr(key)
    return f"{path}.{part}" if path else part


def integer(value: Any, path: str, minimum: int = 0) -> int:
    """An integer ``>= minimum`` (``3.0`` is accepted as 3; ``true`` is not a number)."""
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())
    if not ok or value < minimum:
        raise FieldError(path, f"must be an integer >= {minimum}, got {shown(value)}")
    return int(value)


def number(value: Any, path: str, minimum: float = 0.0, maximum: float = math.inf,
           strict: bool = False) -> float:
    """A finite number in ``[minimum, maximum]`` (``> minimum`` when ``strict``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value < minimum or value > maximum or (strict and value == minimum)):
        ok = False
    if not ok:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        if maximum < math.inf:
            bound = f"between {minimum:g} and {maximum:g}"
        raise FieldError(path, f"must be a number {bound}, got {shown(value)}")
    return float(value)


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(path, f"must be true or false, got {shown(value)}")
    return value


def text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(path, f"must be a non-empty string, got {shown(value)}")
    return value


def names(value: Any, path: str) -> tuple[str, ...]:
    """A name or a list of names (at least one, no repeats)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise FieldError(path, f"must be a name or a list of names, got {shown(value)}")
    for i, item in enumerate(items):
        text(item, join(path, i) if not isinstance(value, str) else path)
    if len(set(items)) != len(items):
        raise FieldError(path, f"names repeat: {items}")
    return tuple(items)


def duration(value: Any, path: str, positive: bool = False) -> float:
    """Seconds from ``"60s"``, ``"500ms"``, ``"2min"`` or a number of seconds."""
    try:
        seconds = parse_duration(value)
    except ValueError as err:
        raise FieldError(path, str(err)) from None
    if not math.isfinite(seconds) or (positive and seconds <= 0):
        raise FieldError(path, f"must be a positive duration, got {shown(value)}")
    return seconds


def size(value: Any, path: str) -> int:
    """Bytes from ``"1kb"``, ``"32mb"`` or a number."""
    try:
        return parse_size(value)
    except ValueError as err:
        raise FieldError(path, str(err)) from None


def table(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FieldError(path, f"must be a table, got {shown(value)}")
    return value


def tables(value: Any, path: str) -> list[Mapping[str, Any]]:
    """A list of tables (TOML ``[[path]]``)."""
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise FieldError(path, f"must be a list of tables ([[{path}]] in TOML), "
                               f"got {shown(value)}")
    return value


def parsed(path: str, parse: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``parse(*args, **kwargs)``, a ``ValueError`` from it becoming a :class:`FieldError` at
    ``path``."""
    try:
        return parse(*args, **kwargs)
    except FieldError:
        raise
    except (ValueError, TypeError) as err:
        raise FieldError(path, str(err)) from None
