"""Redis glob matching for PSUBSCRIBE and ``PUBSUB CHANNELS pattern``, byte for byte.

Redis matches pub/sub patterns with ``stringmatchlen(pattern, channel, nocase=0)`` from
``src/util.c`` (see ``reference/redis-pubsub.md`` §1.6). Python's ``fnmatch`` disagrees with it in
many places and must not be used. What Redis 7 does, and so what this module does:

* ``*`` matches any run of bytes, ``?`` exactly one byte; runs of ``*`` count as one.
* ``[abc]`` is a set of bytes, ``[^abc]`` its complement; ``[!abc]`` is *not* a negation (``!``
  is an ordinary member). ``]`` as the first member closes the set at once: ``[]]`` is the empty
  set followed by a literal ``]``.
* ``[a-z]`` is a range, and a reversed range ``[z-a]`` is swapped, so it still works. A range
  needs three bytes before the end of the pattern, its ends are taken verbatim (``[a-\\]`` is the
  range ``\\``..``a``), and its bounds are compared as C ``char``, which is *signed* on x86-64:
  ``[a-\\xff]`` is the range -1..97, i.e. ``\\xff`` and ``\\x00``..``a``.
* ``\\x`` matches ``x`` literally, outside and inside brackets. A ``\\`` that is the last byte of
  the pattern (or of an unclosed set) is a literal backslash.
* An unclosed ``[`` takes the rest of the pattern as its members: ``a[b`` matches ``ab``;
  ``a[`` matches nothing (empty set); ``a[^`` matches ``a`` and any one byte.
* **An empty channel matches only the empty pattern.** Redis's loop runs only while both the
  pattern and the channel are non-empty, so ``*`` does not match ``""``: after ``PSUBSCRIBE *``,
  ``PUBLISH "" x`` returns 0.
* **Nesting guard** (CVE-2024-31228): a match that needs the matcher to recurse through more than
  1000 ``*`` groups fails. Every successful match of a pattern recurses once per ``*`` group,
  except a ``*`` group that ends the pattern, so a pattern with more than
  :data:`MAX_STAR_NESTING` such groups matches nothing.
* ``skipLongerMatches`` (CVE-2022-36021) only stops Redis's backtracking early; it never changes
  a result. This module does not backtrack at all: each piece between two ``*`` groups has a fixed
  length, so taking the leftmost place where each piece fits is enough (linear-ish time, no
  exponential blow-up on hostile patterns).

:func:`stringmatch` answers one question; :func:`compile_pattern` turns a pattern into a fast
predicate that a broker keeps for as long as the pattern is subscribed (:class:`PatternCache`
does that bookkeeping, per instance, so there is no module-level state).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["MAX_STAR_NESTING", "PatternCache", "compile_pattern", "stringmatch", "tokenize"]

MAX_STAR_NESTING = 1000
"""Deepest ``*`` recursion Redis allows; a match needing more is "no match" (``nesting > 1000``)."""

Token = frozenset[int] | None
"""One pattern token: ``None`` for a ``*`` group, else the set of byte values it accepts."""

_ALL_BYTES = frozenset(range(256))


def _as_signed_char(byte: int) -> int:
    """The value of ``byte`` as a C ``char`` on x86-64 (signed), as Redis compares range ends."""
    return byte - 256 if byte >= 128 else byte


def _byte_range(first: int, last: int) -> frozenset[int]:
    """Bytes in the set range ``[first-last]``: ends swapped if reversed, compared as signed."""
    low, high = sorted((_as_signed_char(first), _as_signed_char(last)))
    return frozenset(b for b in range(256) if low <= _as_signed_char(b) <= high)


def tokenize(pattern: bytes) -> tuple[Token, ...]:
    """Split ``pattern`` into tokens exactly as Redis's ``stringmatchlen`` reads it.

    Every token but ``*`` consumes exactly one byte of the channel, so a token is the set of byte
    values it accepts (a literal is a one-element set, ``?`` is all 256 values). Consecutive
    ``*`` become one ``None``.
    """
    if not isinstance(pattern, bytes | bytearray):
        raise TypeError(f"a Redis glob pattern is bytes, not {type(pattern).__name__}")
    tokens: list[Token] = []
    end = len(pattern)
    i = 0
    while i < end:
        byte = pattern[i]
        if byte == 0x2A:  # '*': a run of stars is one group
            while i + 1 < end and pattern[i + 1] == 0x2A:
                i += 1
            tokens.append(None)
            i += 1
        elif byte == 0x3F:  # '?'
            tokens.append(_ALL_BYTES)
            i += 1
        elif byte == 0x5B:  # '['
            i += 1
            negate = i < end and pattern[i] == 0x5E  # '^' (and only '^'; '!' is a member)
            if negate:
                i += 1
            members: set[int] = set()
            while True:
                if end - i >= 2 and pattern[i] == 0x5C:  # '\x' inside a set: literal x
                    members.add(pattern[i + 1])
                    i += 2
                elif i < end and pattern[i] == 0x5D:  # ']' closes the set
                    i += 1
                    break
                elif i >= end:  # unclosed: the set ran to the end of the pattern
                    break
                elif end - i >= 3 and pattern[i + 1] == 0x2D:  # 'a-z', either way round
                    members |= _byte_range(pattern[i], pattern[i + 2])
                    i += 3
                else:
                    members.add(pattern[i])
                    i += 1
            tokens.append(_ALL_BYTES - members if negate else frozenset(members))
        elif byte == 0x5C and end - i >= 2:  # '\x': literal x
            tokens.append(frozenset((pattern[i + 1],)))
            i += 2
        else:  # any other byte, including a trailing '\', is itself
            tokens.append(frozenset((byte,)))
            i += 1
    return tuple(tokens)


def _star_nesting(tokens: tuple[Token, ...]) -> int:
    """How deep Redis recurses on any successful match: one level per non-final ``*`` group."""
    stars = sum(1 for token in tokens if token is None)
    return stars - 1 if tokens and tokens[-1] is None else stars


def stringmatch(pattern: bytes, string: bytes) -> bool:
    """Whether Redis's ``stringmatchlen(pattern, string, nocase=0)`` says ``string`` matches.

    The uncached form: it re-reads ``pattern`` on every call. For repeated matching against one
    pattern use :func:`compile_pattern` (or a :class:`PatternCache`).
    """
    tokens = tokenize(pattern)
    if not string:
        return not pattern  # Redis's loop never runs on an empty channel
    if _star_nesting(tokens) > MAX_STAR_NESTING:
        return False
    # Classic wildcard scan: on a mismatch, let the most recent '*' absorb one more byte.
    n_tokens = len(tokens)
    n_bytes = len(string)
    t = s = 0
    star_t = -1
    star_s = 0
    while s < n_bytes:
        if t < n_tokens:
            token = tokens[t]
            if token is None:
                star_t, star_s = t, s
                t += 1
                continue
            if string[s] in token:
                t += 1
                s += 1
                continue
        if star_t < 0:
            return False
        star_s += 1
        t, s = star_t + 1, star_s
    while t < n_tokens and tokens[t] is None:
        t += 1
    return t == n_tokens


def _token_regex(token: frozenset[int]) -> bytes:
    """A one-byte regex (for ``re.DOTALL``) accepting exactly the bytes in ``token``."""
    if len(token) == 256:
        return b"."
    if not token:
        return b"(?!)"
    if len(token) == 1:
        return re.escape(bytes(token))
    parts: list[bytes] = []
    values = sorted(token)
    start = prev = values[0]
    for value in [*values[1:], -2]:
        if value != prev + 1:
            single = start == prev
            parts.append(b"\\x%02x" % start if single else b"\\x%02x-\\x%02x" % (start, prev))
            start = value
        prev = value
    return b"[" + b"".join(parts) + b"]"


def _segment_regex(segment: list[frozenset[int]]) -> re.Pattern[bytes]:
    return re.compile(b"".join(_token_regex(token) for token in segment), re.DOTALL)


def _never(_string: bytes) -> bool:
    return False


def compile_pattern(pattern: bytes) -> Callable[[bytes], bool]:
    """Compile ``pattern`` into a predicate ``f(channel) -> bool`` equal to :func:`stringmatch`.

    The pattern is split at its ``*`` groups into fixed-length pieces, each compiled to a regular
    expression with no repetition in it; a channel matches if the first piece matches at its start,
    the last at its end, and each piece in between fits somewhere after the one before (leftmost
    is always best, because the pieces have fixed lengths). The empty-channel rule and the nesting
    guard are applied first, as in Redis.
    """
    tokens = tokenize(pattern)
    if not tokens:
        return lambda string: not string  # the empty pattern matches only the empty channel
    if _star_nesting(tokens) > MAX_STAR_NESTING:
        return _never
    segments: list[list[frozenset[int]]] = [[]]
    for token in tokens:
        if token is None:
            segments.append([])
        else:
            segments[-1].append(token)
    if len(segments) == 1:  # no '*': a fixed-length pattern
        only = segments[0]
        if all(len(token) == 1 for token in only):
            literal = bytes(next(iter(token)) for token in only)
            return lambda string: string == literal
        whole = _segment_regex(only)
        return lambda string: whole.fullmatch(string) is not None
    head_len, tail_len = len(segments[0]), len(segments[-1])
    head = _segment_regex(segments[0]) if head_len else None
    tail = _segment_regex(segments[-1]) if tail_len else None
    middles = tuple(_segment_regex(segment) for segment in segments[1:-1] if segment)
    min_len = max(1, sum(len(segment) for segment in segments))

    def match(string: bytes) -> bool:
        n = len(string)
        if n < min_len:  # also rejects the empty channel, which never matches a '*' pattern
            return False
        if head is not None and head.match(string) is None:
            return False
        end = n - tail_len
        if tail is not None and tail.match(string, end) is None:
            return False
        pos = head_len
        for piece in middles:
            found = piece.search(string, pos, end)
            if found is None:
                return False
            pos = found.end()
        return True

    return match


class PatternCache:
    """Compiled patterns kept per owner (one per simulated server), not per module.

    ``cache.match(pattern, channel)`` compiles ``pattern`` on first use. At most ``maxsize``
    patterns are kept; the oldest is dropped first (a long-running ``PUBSUB CHANNELS pattern``
    workload cannot grow it without bound).
    """

    def __init__(self, maxsize: int = 4096) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize!r}")
        self.maxsize = maxsize
        self._compiled: dict[bytes, Callable[[bytes], bool]] = {}

    def matcher(self, pattern: bytes) -> Callable[[bytes], bool]:
        """The compiled predicate for ``pattern``."""
        compiled = self._compiled.get(pattern)
        if compiled is None:
            if len(self._compiled) >= self.maxsize:
                del self._compiled[next(iter(self._compiled))]
            compiled = self._compiled[bytes(pattern)] = compile_pattern(pattern)
        return compiled

    def match(self, pattern: bytes, string: bytes) -> bool:
        """Whether ``string`` matches ``pattern`` (see :func:`stringmatch`)."""
        return self.matcher(pattern)(string)

    def __len__(self) -> int:
        return len(self._compiled)
