"""Parse the time and size strings people write in Redis and Kafka configs.

Simulated time is a float in seconds; sizes are integer bytes.

Sizes follow Redis's ``memtoll`` (``src/util.c``): a bare number is bytes, ``k``/``m``/``g`` are
powers of 1000 and ``kb``/``mb``/``gb`` powers of 1024, so ``client-output-buffer-limit pubsub
32mb 8mb 60`` means 33 554 432 and 8 388 608 bytes. ``kib``/``mib``/``gib`` are accepted as
unambiguous synonyms of the 1024 forms.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {
    "": 1.0,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1024**4,
    "tib": 1024**4,
}
_NUMBER_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: str | float | int) -> float:
    """Return seconds for ``"500ms"``, ``"60s"``, ``"7d"``, ``"2h"``; a bare number is seconds."""
    if isinstance(value, bool):
        raise ValueError(f"duration must be a number or a string like '500ms', not {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value!r}")
        return float(value)
    match = _NUMBER_UNIT.match(str(value))
    if not match or match.group(2).lower() not in _DURATION_UNITS:
        raise ValueError(
            f"cannot parse duration {value!r}: use a number of seconds or a unit among "
            f"{', '.join(u for u in _DURATION_UNITS if u)} (e.g. '500ms', '7d')"
        )
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def parse_size(value: str | int | float) -> int:
    """Bytes for ``"8mb"`` (8·1024²), ``"1gb"``, ``"16k"`` (16 000); a bare number is bytes."""
    if isinstance(value, bool):
        raise ValueError(f"size must be a number or a string like '8mb', not {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"size must not be negative: {value!r}")
        return int(value)
    match = _NUMBER_UNIT.match(str(value))
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(
            f"cannot parse size {value!r}: use bytes or a unit among "
            f"{', '.join(u for u in _SIZE_UNITS if u)} (Redis spelling: 1mb = 1024*1024)"
        )
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def format_duration(seconds: float) -> str:
    """Short human form of a duration, for reports and plain-English findings."""
    if seconds >= 86400:
        return f"{seconds / 86400:.3g} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def format_size(nbytes: float) -> str:
    """Short human form of a byte count using binary units (MiB, GiB)."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(nbytes) >= factor:
            return f"{nbytes / factor:.3g} {unit}"
    return f"{int(nbytes)} B"
