"""Vectorised building blocks of the checkers: keys, grouped searches, ranges, group statistics.

Everything here works on whole columns (sort, ``searchsorted``, ``bincount``) so that a checker
costs a few sorts of the trace, never a Python step per message.
"""

from __future__ import annotations

import numpy as np

_I8 = np.int64
_LIMIT = 1 << 62


def unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort and a mask: faster than numpy 2's hashing ``np.unique``
    on the large integer and float columns the checkers use)."""
    if len(values) == 0:
        return np.asarray(values).copy()
    ordered = np.sort(values)
    return ordered[first_per_group(ordered)]


def composite(*columns: np.ndarray) -> np.ndarray:
    """One int64 key per row from non-negative integer columns (mixed radix, lexicographic).

    Rows with equal keys have equal columns, and keys sort as the tuples do.
    """
    cols = [np.asarray(c, dtype=_I8) for c in columns]
    n = len(cols[0])
    if n == 0:
        return np.empty(0, dtype=_I8)
    sizes = [int(c.max()) + 1 if len(c) else 1 for c in cols]
    total = 1
    for s in sizes:
        total *= max(s, 1)
    if total >= _LIMIT:
        raise OverflowError("checker keys overflow int64: too many distinct ids")
    if any(int(c.min()) < 0 for c in cols):
        raise ValueError("composite keys need non-negative columns")
    key = cols[0].copy()
    for c, s in zip(cols[1:], sizes[1:], strict=True):
        key *= s
        key += c
    return key


def composite_like(columns: list[np.ndarray], *others: list[np.ndarray]) -> list[np.ndarray]:
    """Composite keys for several tables with the same column meanings and one shared radix."""
    tables = [columns, *others]
    width = len(columns)
    sizes = []
    for j in range(width):
        top = 0
        for table in tables:
            col = np.asarray(table[j])
            if len(col):
                if int(col.min()) < 0:
                    raise ValueError("composite keys need non-negative columns")
                top = max(top, int(col.max()))
        sizes.append(top + 1)
    total = 1
    for s in sizes:
        total *= s
    if total >= _LIMIT:
        raise OverflowError("checker keys overflow int64: too many distinct ids")
    out = []
    for table in tables:
        key = np.asarray(table[0], dtype=_I8).copy()
        for col, s in zip(table[1:], sizes[1:], strict=True):
            key *= s
            key += np.asarray(col, dtype=_I8)
        out.append(key)
    return out


def grouped_searchsorted(a_group: np.ndarray, a_value: np.ndarray, q_group: np.ndarray,
                         q_value: np.ndarray, side: str = "left") -> np.ndarray:
    """``searchsorted`` of each query within its group: ``a`` is sorted by (group, value).

    Returns absolute indices into ``a``: the insertion point of ``q_value`` among the values of
    group ``q_group`` (the group's start if it is smaller than all of them, its end if larger).
    Exact for floats (values are ranked, not offset), groups are non-negative integers.
    """
    if len(q_group) == 0:
        return np.empty(0, dtype=_I8)
    values = unique(np.concatenate((a_value, q_value)))
    rank_a = np.searchsorted(values, a_value)
    rank_q = np.searchsorted(values, q_value)
    key_a, key_q = composite_like([a_group, rank_a], [q_group, rank_q])
    return np.searchsorted(key_a, key_q, side=side)  # type: ignore[call-overload]


def group_bounds(sorted_group: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each of ``groups`` in an array sorted by group."""
    return (np.searchsorted(sorted_group, groups, side="left"),
            np.searchsorted(sorted_group, groups, side="right"))


def expand_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ``(k, i)`` with ``lo[k] <= i < hi[k]``: the range index and the position, as arrays."""
    lengths = np.maximum(np.asarray(hi, dtype=_I8) - np.asarray(lo, dtype=_I8), 0)
    total = int(lengths.sum())
    which = np.repeat(np.arange(len(lengths), dtype=_I8), lengths)
    if total == 0:
        return which, np.empty(0, dtype=_I8)
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(total, dtype=_I8) - np.repeat(starts, lengths) + np.repeat(lo, lengths)
    return which, pos


def rank_in_group(sorted_key: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal keys of a sorted array."""
    n = len(sorted_key)
    if n == 0:
        return np.empty(0, dtype=_I8)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    run = np.diff(np.append(starts, n))
    return np.arange(n, dtype=_I8) - np.repeat(starts, run)


def running_max_in_group(sorted_group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running maximum of non-negative integer ``values`` restarting at each new group."""
    if len(values) == 0:
        return np.empty(0, dtype=_I8)
    dense = np.concatenate(([0], np.cumsum(sorted_group[1:] != sorted_group[:-1])))
    span = int(values.max()) + 1
    if (int(dense[-1]) + 1) * span >= _LIMIT:
        raise OverflowError("checker keys overflow int64")
    key = dense * span + values
    return np.maximum.accumulate(key) - dense * span


def quantiles_by_group(group: np.ndarray, value: np.ndarray, qs: tuple[float, ...]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group (``np.unique(group)``): counts, ``len(qs)`` quantiles (numpy's linear rule)
    and maxima. Returns (groups, counts, quantiles[groups, qs], maxima)."""
    if len(value) == 0:
        e = np.empty(0)
        return np.empty(0, dtype=_I8), np.empty(0, dtype=_I8), e.reshape(0, len(qs)), e
    order = np.lexsort((value, group))
    g, v = group[order], value[order]
    groups, start, counts = np.unique(g, return_index=True, return_counts=True)
    out = np.empty((len(groups), len(qs)))
    for j, q in enumerate(qs):
        pos = (counts - 1) * q
        low = np.floor(pos).astype(_I8)
        frac = pos - low
        high = np.minimum(low + 1, counts - 1)
        lo_v, hi_v = v[start + low], v[start + high]
        out[:, j] = lo_v + frac * (hi_v - lo_v)
    return groups, counts, out, v[start + counts - 1]


def first_per_group(sorted_key: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal keys in a sorted array."""
    mask = np.ones(len(sorted_key), dtype=bool)
    if len(sorted_key) > 1:
        np.not_equal(sorted_key[1:], sorted_key[:-1], out=mask[1:])
    return mask


def isin_sorted(sorted_haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """``np.isin`` against an already sorted array (binary search, no extra sort)."""
    if len(sorted_haystack) == 0:
        return np.zeros(len(needles), dtype=bool)
    pos = np.searchsorted(sorted_haystack, needles)
    pos = np.minimum(pos, len(sorted_haystack) - 1)
    return sorted_haystack[pos] == needles
