"""Redis glob matching (``models.redis_pubsub.glob``) against Redis's own rules and a real server.

Three layers of evidence:

1. the checked table of ``reference/redis-pubsub.md`` §1.6 and further edge cases, each stating
   what Redis 7 answers;
2. Hypothesis: the two fast matchers (:func:`stringmatch`, :func:`compile_pattern`) agree with
   :func:`step_by_step`, a slow oracle that follows ``stringmatchlen``'s documented control flow
   one byte at a time (nesting counter and ``skipLongerMatches`` flag included);
3. Hypothesis against a real ``redis-server``: one connection PSUBSCRIBEs to a batch of random
   patterns and SUBSCRIBEs to a batch of random channels, another PUBLISHes to each channel and
   asks ``PUBSUB CHANNELS pattern``; the ``pmessage`` frames, the PUBLISH counts and the channel
   lists must be exactly what the matcher predicts.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.redis_pubsub.glob import (
    MAX_STAR_NESTING,
    PatternCache,
    compile_pattern,
    stringmatch,
    tokenize,
)

Matcher = Callable[[bytes, bytes], bool]


def _compiled(pattern: bytes, string: bytes) -> bool:
    return compile_pattern(pattern)(string)


MATCHERS = [pytest.param(stringmatch, id="stringmatch"), pytest.param(_compiled, id="compiled")]


def step_by_step(pattern: bytes, string: bytes) -> bool:
    """Slow oracle: Redis's ``stringmatchlen(nocase=0)`` control flow, one byte at a time.

    Follows the documented behaviour literally: the loop runs while both pattern and string have
    bytes left; reading one past the end of the pattern sees the C string terminator (0); set
    ranges compare signed ``char`` values (x86-64); ``*`` tries the rest of the pattern at every
    non-empty suffix, with a nesting counter (more than 1000 levels is "no match") and the shared
    ``skipLongerMatches`` flag. Recursion depth equals the number of ``*`` groups, so keep
    patterns short.
    """
    plen, slen = len(pattern), len(string)
    skip_longer = [False]

    def at(i: int) -> int:
        return pattern[i] if i < plen else 0

    def signed(byte: int) -> int:
        return byte - 256 if byte >= 128 else byte

    def run(p: int, s: int, nesting: int) -> bool:
        if nesting > MAX_STAR_NESTING:
            return False
        while p < plen and s < slen:
            byte = pattern[p]
            if byte == ord("*"):
                while at(p + 1) == ord("*"):
                    p += 1
                if plen - p == 1:
                    return True
                while s < slen:
                    if run(p + 1, s, nesting + 1):
                        return True
                    if skip_longer[0]:
                        return False
                    s += 1
                skip_longer[0] = True
                return False
            if byte == ord("?"):
                s += 1
            elif byte == ord("["):
                p += 1
                negate = at(p) == ord("^")
                if negate:
                    p += 1
                hit = False
                while True:
                    left = plen - p
                    if at(p) == ord("\\") and left >= 2:
                        p += 1
                        hit = hit or pattern[p] == string[s]
                    elif at(p) == ord("]"):
                        break
                    elif left == 0:
                        p -= 1
                        break
                    elif left >= 3 and pattern[p + 1] == ord("-"):
                        low, high = sorted((signed(pattern[p]), signed(pattern[p + 2])))
                        p += 2
                        hit = hit or low <= signed(string[s]) <= high
                    else:
                        hit = hit or pattern[p] == string[s]
                    p += 1
                if hit == negate:
                    return False
                s += 1
            else:
                if byte == ord("\\") and plen - p >= 2:
                    p += 1
                if pattern[p] != string[s]:
                    return False
                s += 1
            p += 1
            if s == slen:
                while at(p) == ord("*"):
                    p += 1
                break
        return p == plen and s == slen

    return run(0, 0, 0)


# --- 1. The checked table (reference §1.6) and more edge cases --------------------------------

REFERENCE_TABLE = [
    (b"news.*", b"news.art.figurative", True),
    (b"news.*", b"news", False),
    (b"h?llo", b"hllo", False),
    (b"h*llo", b"hllo", True),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[!e]llo", b"hallo", False),  # '!' is not negation
    (b"h[!e]llo", b"h!llo", True),
    (b"h[c-a]llo", b"hbllo", True),  # reversed range is swapped
    (rb"h\*llo", b"h*llo", True),
    (rb"h[\]]llo", b"h]llo", True),
    (b"a[", b"a[", False),  # unclosed '[' at the end: an empty set
    (b"a[b", b"ab", True),  # unclosed set takes the rest of the pattern
    (b"[]]", b"]", False),  # ']' first closes an empty set
    (b"foo\\", b"foo\\", True),  # trailing escape is a literal backslash
    (b"*", b"", False),  # '*' never matches the empty channel
    (b"?*", b"", False),
    (b"ab*c*d", b"abxxcyyd", True),
]

EDGE_CASES = [
    # the empty string and the empty pattern
    (b"", b"", True),
    (b"", b"a", False),
    (b"**", b"", False),
    (b"[^", b"", False),
    (b"*", b"a", True),
    (b"**", b"abc", True),
    (b"a*", b"a", True),  # trailing stars are skipped once the string is used up
    (b"a**", b"a", True),
    (b"a*?", b"a", False),
    (b"*a", b"a", True),
    (b"*a*", b"bab", True),
    (b"a*b*c", b"abc", True),
    (b"a*b*c", b"acb", False),
    (b"*.error", b"app.error", True),
    (b"*.error", b".errors", False),
    # '?' is one byte, not one character
    (b"?", "é".encode(), False),
    (b"??", "é".encode(), True),
    # escapes
    (rb"\?", b"?", True),
    (rb"\?", b"a", False),
    (rb"\a", b"a", True),
    (rb"\\", b"\\", True),
    (b"\\", b"\\", True),
    (rb"a\[b", b"a[b", True),
    # sets
    (b"[abc]", b"b", True),
    (b"[abc]", b"d", False),
    (b"[^abc]", b"d", True),
    (b"[^abc]", b"a", False),
    (b"[]", b"]", False),  # empty set
    (b"[]", b"a", False),
    (b"[^]", b"a", True),  # negated empty set: any byte
    (b"[^]", b"]", True),
    (b"[", b"[", False),
    (b"[^", b"x", True),  # unclosed negated empty set: any byte
    (b"a[^", b"ax", True),
    (b"[a-c]", b"b", True),
    (b"[a-c]", b"d", False),
    (b"[c-a]", b"a", True),
    (b"[a-]", b"b", False),  # 'a-]' is a range from ']' to 'a'; the set is left unclosed
    (b"[a-]", b"_", True),
    (b"[a-]", b"]", True),
    (b"[a-]x", b"x", True),  # ... so the 'x' after it is a member, not a literal
    (b"[a-]x", b"ax", False),
    (b"[-a]", b"-", True),
    (b"[a-b-c]", b"-", True),  # 'a-b' then '-' then 'c'
    (b"[ab-]", b"-", False),  # 'b-]' is a range ']'..'b', and the set is left unclosed
    (b"[ab-]", b"_", True),
    (b"[a-b-]", b"-", True),  # too short for a second range: '-' is a member, ']' closes
    (b"[a-b-]", b"]", False),
    (b"[\\", b"\\", True),  # '\' as the last byte of an unclosed set is a member
    (b"[\\", b"]", False),
    (rb"[\]", b"]", True),  # '\]' is an escaped ']', so this set is {']'}, unclosed
    (rb"[\]", b"\\", False),
    (rb"[\-a]", b"-", True),  # an escape wins over a range
    (rb"[\-a]", b"b", False),
    (rb"[a-\]]", b"]]", True),  # a range end is taken verbatim: '\'..'a', then ']' closes
    (rb"[a-\]]", b"\\]", True),
    (rb"[a-\]]", b"b]", False),
    (rb"[a-\]]", b"]", False),
    (b"[*]", b"*", True),  # '*' and '?' are members inside a set
    (b"[*]", b"a", False),
    (b"[?]", b"a", False),
    (b"[[]", b"[", True),
    (b"[^^]", b"^", False),
    (b"[a^]", b"^", True),
    # NUL bytes are ordinary bytes
    (b"a\x00*", b"a\x00b", True),
    (b"[\x00]", b"\x00", True),
    (b"?", b"\x00", True),
    # range ends compare as signed char (x86-64): 0x80..0xff sort below 0x00
    (b"[a-\xff]", b"\xff", True),
    (b"[a-\xff]", b"\x00", True),
    (b"[a-\xff]", b"b", False),
    (b"[a-\xff]", b"\x80", False),
    (b"[\x80-\xff]", b"\xc3", True),
    (b"[\x80-\xff]", b"a", False),
    (b"[\x00-\x7f]", b"\x80", False),
    (b"[^\x00-\x7f]", b"\xe9", True),
]


@pytest.mark.parametrize("match", MATCHERS)
@pytest.mark.parametrize(("pattern", "string", "expected"), REFERENCE_TABLE + EDGE_CASES)
def test_redis_glob_cases(match: Matcher, pattern: bytes, string: bytes, expected: bool) -> None:
    assert match(pattern, string) is expected
    assert step_by_step(pattern, string) is expected


@pytest.mark.parametrize("match", MATCHERS)
def test_star_nesting_guard(match: Matcher) -> None:
    """CVE-2024-31228: more than 1000 nested ``*`` recursions is "no match"."""
    assert match(b"*a" * 1000, b"a" * 1000)
    assert not match(b"*a" * 1001, b"a" * 1001)
    # a '*' that ends the pattern does not recurse, so it does not count
    assert match(b"*a" * 1000 + b"*", b"a" * 1000 + b"b")
    assert not match(b"*a" * 1001 + b"*", b"a" * 1001 + b"b")
    assert match(b"a*" * 1001, b"a" * 1001 + b"b")
    # stars inside sets or escaped do not count
    assert match(b"[*]" * 1500, b"*" * 1500)
    assert match(b"\\*" * 1500, b"*" * 1500)


@pytest.mark.parametrize("match", MATCHERS)
def test_hostile_patterns_are_fast(match: Matcher) -> None:
    """CVE-2022-36021-style patterns must not backtrack exponentially."""
    started = time.perf_counter()
    assert not match(b"*a" * 40 + b"b", b"a" * 2000)
    assert not match(b"a*" * 200 + b"b", b"a" * 2000)
    assert match(b"*?*?*?" * 50, b"x" * 150)
    assert not match(b"*?*?*?" * 50, b"x" * 149)
    assert time.perf_counter() - started < 2.0


def test_fnmatch_would_be_wrong() -> None:
    """Guards against a regression to ``fnmatch``: these are the cases where it differs."""
    assert not stringmatch(b"h[!e]llo", b"hallo")
    assert stringmatch(b"h[^e]llo", b"hallo")
    assert not stringmatch(b"*", b"")


def test_tokenize_shapes() -> None:
    assert tokenize(b"") == ()
    assert tokenize(b"a**b") == (frozenset(b"a"), None, frozenset(b"b"))
    assert tokenize(b"[") == (frozenset(),)
    assert tokenize(b"[^") == (frozenset(range(256)),)
    assert len(tokenize(b"?")[0]) == 256
    with pytest.raises(TypeError):
        tokenize("a*")  # type: ignore[arg-type]


def test_pattern_cache_is_bounded_and_per_instance() -> None:
    cache = PatternCache(maxsize=2)
    assert cache.match(b"a*", b"ab")
    assert not cache.match(b"b*", b"ab")
    assert cache.matcher(b"a*") is cache.matcher(b"a*")
    cache.match(b"c*", b"c")
    assert len(cache) == 2
    assert len(PatternCache()) == 0
    with pytest.raises(ValueError):
        PatternCache(maxsize=0)


# --- 2. The fast matchers against the step-by-step oracle -------------------------------------

GLOB_BYTES = b"ab*?[]^-\\!"
_special_heavy = st.lists(st.sampled_from(list(GLOB_BYTES)), max_size=8).map(bytes)
_any_bytes = st.binary(max_size=8)
patterns = st.one_of(_special_heavy, _any_bytes, st.lists(
    st.sampled_from([b"*", b"?", b"a", b"b", b"[a-b]", b"[^a]", b"\\*", b"["]), max_size=6,
).map(b"".join))
strings = st.one_of(st.lists(st.sampled_from(list(b"ab*?[]^-\\!")), max_size=8).map(bytes),
                    st.binary(max_size=8))


@settings(max_examples=300, deadline=None)
@given(pattern_batch=st.lists(patterns, min_size=1, max_size=12),
       string_batch=st.lists(strings, min_size=1, max_size=12))
def test_fast_matchers_agree_with_step_by_step(
    pattern_batch: list[bytes], string_batch: list[bytes]
) -> None:
    """Every pattern of a batch against every string of a batch (cheaper than one per example)."""
    for pattern in pattern_batch:
        compiled = compile_pattern(pattern)
        for string in string_batch:
            expected = step_by_step(pattern, string)
            assert stringmatch(pattern, string) is expected, (pattern, string)
            assert compiled(string) is expected, (pattern, string)


# --- 3. Against a real redis-server -------------------------------------------------------------

SERVER_ALPHABET = list(b"ab*?[]^-\\!")
server_patterns = st.lists(st.sampled_from(SERVER_ALPHABET), max_size=6).map(bytes)
server_channels = st.lists(st.sampled_from(SERVER_ALPHABET), max_size=5).map(bytes)
# ``connections`` is function-scoped but each example resets it first (see ``_check_batch``).
_SERVER_CHECKS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
HIGH_BYTES = [*b"a-[]^\\*?", 0x00, 0x7F, 0x80, 0xC3, 0xE9, 0xFF]


@pytest.fixture
def connections(clean_redis) -> Iterator[tuple[object, object]]:
    """Two raw RESP2 redis-py connections: (subscriber, publisher)."""
    redis = pytest.importorskip("redis")
    made = [redis.Connection(host=clean_redis.host, port=clean_redis.port, protocol=2)
            for _ in range(2)]
    for conn in made:
        conn.connect()
    yield made[0], made[1]
    for conn in made:
        conn.disconnect()


def _sync(conn, marker: bytes) -> list:
    """Everything ``conn`` receives before the reply to ``PING marker`` (sent now)."""
    conn.send_command("PING", marker)
    received = []
    while True:
        reply = conn.read_response()
        if reply in (marker, [b"pong", marker]):
            return received
        received.append(reply)


def _check_batch(sub, pub, pats: list[bytes], chans: list[bytes]) -> None:
    """Subscribe ``sub`` to ``pats`` and ``chans``, publish to each channel, compare all.

    Starts by dropping whatever an earlier (failed) example left subscribed or unread.
    """
    sub.send_command("PUNSUBSCRIBE")
    sub.send_command("UNSUBSCRIBE")
    _sync(sub, b"__clear__")
    _sync(pub, b"__clear__")
    pats = list(dict.fromkeys(pats))
    chans = list(dict.fromkeys(chans))
    if pats:
        sub.send_command("PSUBSCRIBE", *pats)
    if chans:
        sub.send_command("SUBSCRIBE", *chans)
    acks = _sync(sub, b"__acks__")
    assert len(acks) == len(pats) + len(chans)
    for channel in chans:
        pub.send_command("PUBLISH", channel, b"x")
    for pattern in pats:
        pub.send_command("PUBSUB", "CHANNELS", pattern)
    counts = [pub.read_response() for _ in chans]
    listed = [pub.read_response() for _ in pats]
    frames = _sync(sub, b"__frames__")
    got = {(f[1], f[2]) for f in frames if f[0] == b"pmessage"}
    want = {(p, c) for p in pats for c in chans if stringmatch(p, c)}
    assert got == want, {"missing": want - got, "unexpected": got - want}
    assert counts == [1 + sum(stringmatch(p, c) for p in pats) for c in chans]
    for pattern, names in zip(pats, listed, strict=True):
        assert sorted(names) == sorted(c for c in chans if stringmatch(pattern, c)), pattern


def test_server_agrees_on_reference_table(connections) -> None:
    sub, pub = connections
    cases = REFERENCE_TABLE + EDGE_CASES
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        cases = [c for c in cases if max(c[0], default=0) < 0x80]  # signed-char ranges: x86 only
    for pattern, channel, _expected in cases:
        _check_batch(sub, pub, [pattern], [channel])


def test_server_star_nesting_guard(connections) -> None:
    sub, pub = connections
    _check_batch(sub, pub, [b"*a" * 1000, b"*a" * 1001, b"*a" * 1001 + b"*"],
                 [b"a" * 1000, b"a" * 1001, b"a" * 1001 + b"b"])


def test_psubscribe_star_does_not_get_the_empty_channel(connections) -> None:
    sub, pub = connections
    sub.send_command("PSUBSCRIBE", "*")
    assert _sync(sub, b"m") == [[b"psubscribe", b"*", 1]]
    pub.send_command("PUBLISH", "", "x")
    assert pub.read_response() == 0
    pub.send_command("PUBLISH", "c", "x")
    assert pub.read_response() == 1


@settings(max_examples=150, deadline=None, suppress_health_check=_SERVER_CHECKS)
@given(data=st.data())
def test_matches_real_server(connections, data: st.DataObject) -> None:
    """Random patterns and channels from ``ab*?[]^-\\!`` (and the empty channel)."""
    sub, pub = connections
    pats = data.draw(st.lists(server_patterns, min_size=1, max_size=25), label="patterns")
    chans = data.draw(st.lists(server_channels, min_size=1, max_size=12), label="channels")
    _check_batch(sub, pub, pats, chans)


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="Redis compares set-range ends as C char, which is signed on x86-64 only",
)
@settings(max_examples=60, deadline=None, suppress_health_check=_SERVER_CHECKS)
@given(data=st.data())
def test_matches_real_server_on_high_bytes(connections, data: st.DataObject) -> None:
    """Bytes 0x80-0xff and NUL in patterns and channels (ranges compare signed chars)."""
    sub, pub = connections
    pats = data.draw(st.lists(st.lists(st.sampled_from(HIGH_BYTES), max_size=6).map(bytes),
                              min_size=1, max_size=25), label="patterns")
    chans = data.draw(st.lists(st.lists(st.sampled_from(HIGH_BYTES), max_size=4).map(bytes),
                               min_size=1, max_size=12), label="channels")
    _check_batch(sub, pub, pats, chans)
