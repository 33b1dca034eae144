"""Differential tests: brokersim's Redis model against a real ``redis-server`` (RESP2).

The same script of commands from 2-4 clients runs on the real server (through raw redis-py
connections) and on :class:`models.redis_pubsub.RedisPubSub`; every reply must be equal, and so
must every frame each client receives, shaped as redis-py's ``PubSub.get_message()`` returns it.

How the real side is read exactly, without sleeps: after each command the harness sends
``PING <marker>`` on the same connection and reads until the marker comes back, so everything read
before it is the command's reply and frames (Redis answers one connection's commands in order).
After each step it does the same on every other connection, which collects the frames a PUBLISH
appended to their output buffers (Redis appends them while PUBLISH executes, before it reads the
next command). Frames are turned into dicts by redis-py's own ``PubSub.handle_message``; the
harness does not read through ``PubSub.get_message()`` because that returns ``None`` whenever
redis-py's bookkeeping thinks the connection is not subscribed, which hides real frames such as
the ``unsubscribe <nil> 0`` reply to UNSUBSCRIBE on a connection subscribed to nothing.

What is compared, and how strictly (``reference/redis-pubsub.md`` §1.2-1.8):

* replies: exactly, errors by their text (redis-py's, i.e. without the ``ERR`` prefix); the list
  from ``PUBSUB CHANNELS`` as a set, since Redis walks a hash table;
* frames: in order, per client, except that the frames one PUBLISH sends one client (one per
  matching subscription: ``message`` and one ``pmessage`` per matching pattern) are compared as a
  multiset, since their order follows Redis's dict iteration.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.redis_pubsub import RedisPubSub
from models.redis_pubsub import ResponseError as ModelResponseError
from sim import Simulation
from tests.redis_server import RedisServer, reset_pubsub_state

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.redis_server

Arg = str | bytes
Step = tuple[int, tuple[Arg, ...]]
"""One command: (client index, command arguments)."""

SUBSCRIPTION_COMMANDS = frozenset({"SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE"})


@dataclass(frozen=True)
class Error:
    """An error reply, by redis-py's message text."""

    text: str


@dataclass
class StepResult:
    """What one step produced: the command's reply and the frames each client received."""

    reply: Any
    frames: list[list[dict]] = field(default_factory=list)


def _name(args: Sequence[Arg]) -> str:
    first = args[0]
    return (first.decode() if isinstance(first, bytes) else first).upper()


# --- the two backends -----------------------------------------------------------------------


class RealRedis:
    """Clients on a real redis-server, read deterministically with ``PING <marker>``."""

    def __init__(self, server: RedisServer, n_clients: int) -> None:
        self._conns = []
        for _ in range(n_clients):
            conn = redis.Connection(host=server.host, port=server.port, protocol=2,
                                    socket_timeout=5)
            conn.connect()
            self._conns.append(conn)
        # Only its handle_message() is used: the exact dict redis-py makes of a raw frame.
        self._shaper = redis.Redis(host=server.host, port=server.port, protocol=2).pubsub()
        self._pending: list[list[dict]] = [[] for _ in range(n_clients)]
        self._markers = itertools.count()

    def close(self) -> None:
        for conn in self._conns:
            conn.disconnect()

    def _read_until_marker(self, client: int) -> list[Any]:
        conn = self._conns[client]
        marker = b"__brokersim-sync-%d__" % next(self._markers)
        conn.send_command("PING", marker)
        items: list[Any] = []
        while True:
            try:
                item = conn.read_response()
            except redis.ResponseError as error:
                item = Error(str(error))
            if item == marker or item == [b"pong", marker]:
                return items
            items.append(item)

    def execute(self, client: int, args: tuple[Arg, ...]) -> Any:
        self._conns[client].send_command(*args)
        items = self._read_until_marker(client)
        is_subscription = _name(args) in SUBSCRIPTION_COMMANDS
        frames: list[dict] = []
        replies: list[Any] = []
        for item in items:
            if isinstance(item, list) and item and (
                is_subscription or (_name(args) == "PING" and item[0] == b"pong")
            ):
                frames.append(self._shaper.handle_message(item))
            else:
                replies.append(item)
        self._pending[client].extend(frames)
        assert len(replies) <= 1, f"{args!r} got several replies: {replies!r}"
        return replies[0] if replies else None

    def collect(self, client: int) -> list[dict]:
        frames = self._pending[client]
        self._pending[client] = []
        for item in self._read_until_marker(client):
            assert isinstance(item, list), f"client {client} got a non-frame {item!r}"
            frames.append(self._shaper.handle_message(item))
        return frames


class ModelRedis:
    """Clients of brokersim's :class:`RedisPubSub`, run forward one simulated second a step."""

    def __init__(self, n_clients: int, seed: int = 7) -> None:
        self.sim = Simulation(seed=seed)
        self.redis = RedisPubSub(self.sim)
        self._clients = [self.redis.connect(f"c{i}") for i in range(n_clients)]

    def close(self) -> None:
        pass

    def execute(self, client: int, args: tuple[Arg, ...]) -> Any:
        try:
            return self._clients[client].execute(*args)
        except ModelResponseError as error:
            return Error(str(error))

    def collect(self, client: int) -> list[dict]:
        self.sim.run(until=self.sim.now + 1)
        frames = []
        while (frame := self._clients[client].get_message()) is not None:
            frames.append(frame)
        return frames


def run_script(backend: RealRedis | ModelRedis, n_clients: int,
               steps: Sequence[Step]) -> list[StepResult]:
    """Run ``steps`` in order; after each, collect every client's frames."""
    results = []
    for client, args in steps:
        result = StepResult(backend.execute(client, args))
        result.frames = [backend.collect(c) for c in range(n_clients)]
        results.append(result)
    return results


def _normalised(steps: Sequence[Step], results: Sequence[StepResult]) -> list[tuple]:
    """Results with the orders Redis leaves unspecified put in a canonical order.

    * ``PUBSUB CHANNELS``: the list is sorted (Redis walks its channel dict);
    * ``PUBLISH``: each client's frames are sorted (one per matching subscription, in dict order);
    * ``UNSUBSCRIBE`` / ``PUNSUBSCRIBE`` without arguments: the acks' names are sorted apart
      from their counts, which must still count down in order (Redis walks the client's dict).
    """
    out = []
    for (client, args), result in zip(steps, results, strict=True):
        name = _name(args)
        reply = result.reply
        if name == "PUBSUB" and len(args) > 1 and _name(args[1:2]) == "CHANNELS":
            reply = sorted(reply) if isinstance(reply, list) else reply
        frames: list[Any] = list(result.frames)
        if name == "PUBLISH":
            frames = [sorted(f, key=repr) for f in frames]
        elif name in ("UNSUBSCRIBE", "PUNSUBSCRIBE") and len(args) == 1:
            acks = frames[client]
            frames[client] = (
                sorted((f["channel"] for f in acks), key=repr),
                [{**f, "channel": "*"} for f in acks],
            )
        out.append((reply, frames))
    return out


def describe_mismatch(steps: Sequence[Step], expected: list[StepResult],
                      got: list[StepResult]) -> str | None:
    """``None`` if the model's results equal Redis's, else the first difference, readably."""
    want, have = _normalised(steps, expected), _normalised(steps, got)
    for i, (step, (w_reply, w_frames), (h_reply, h_frames)) in enumerate(
        zip(steps, want, have, strict=True)
    ):
        lines = []
        if w_reply != h_reply:
            lines.append(f"  reply: redis {w_reply!r}\n         model {h_reply!r}")
        for c, (w, h) in enumerate(zip(w_frames, h_frames, strict=True)):
            if w != h:
                lines.append(f"  frames of client c{c}:\n    redis {w!r}\n    model {h!r}")
        if lines:
            script = "\n".join(f"  {j}: c{cl} {a!r}" for j, (cl, a) in enumerate(steps[: i + 1]))
            return f"step {i} (c{step[0]} {step[1]!r}) differs:\n" + "\n".join(lines) + (
                f"\nscript so far:\n{script}"
            )
    return None


# --- scripts --------------------------------------------------------------------------------

CHANNELS: list[Arg] = ["", "a", "b", "ab", "a.b", "news", "é", "[a]", "*", b"\xff", b"x\x00y"]
FIXED_PATTERNS: list[Arg] = [
    "*", "a*", "?", "[ab]", "[^a]*", "a\\*", "", "*b", "[a-b]*", "h[!e]llo", "[", "a[", "\\",
    "??", "*.*", "[b-a]", "é*", "?\\", b"\xff*", b"[\x80-\xff]", b"x\x00*",
]
_pattern_text = st.lists(st.sampled_from(list("ab.*?[]^-\\!")), max_size=4).map("".join)
patterns = st.one_of(st.sampled_from(FIXED_PATTERNS), _pattern_text)
channels = st.sampled_from(CHANNELS)
payloads = st.sampled_from([b"", "x", b"\x00\xffbin", "héllo"])


def _as_sent(arg: Arg, as_bytes: bool) -> Arg:
    """Sometimes send a str as UTF-8 bytes (both sides must encode str the same way)."""
    return arg.encode() if as_bytes and isinstance(arg, str) else arg


def steps_for(n_clients: int) -> st.SearchStrategy[Step]:
    """Commands from any client; PUBLISH and PUBSUB mostly from the last one (the publisher)."""
    anyone = st.integers(0, n_clients - 1)
    publisher = st.one_of(st.just(n_clients - 1), anyone)

    def command(name: str, args: st.SearchStrategy[list[Arg]]) -> st.SearchStrategy[tuple]:
        return st.tuples(args, st.booleans()).map(
            lambda a: (name, *(_as_sent(x, a[1]) for x in a[0]))
        )

    return st.one_of(
        st.tuples(anyone, command("SUBSCRIBE", st.lists(channels, min_size=1, max_size=3))),
        st.tuples(anyone, command("UNSUBSCRIBE", st.lists(channels, max_size=2))),
        st.tuples(anyone, command("PSUBSCRIBE", st.lists(patterns, min_size=1, max_size=3))),
        st.tuples(anyone, command("PUNSUBSCRIBE", st.lists(patterns, max_size=2))),
        st.tuples(publisher, command("PUBLISH", st.tuples(channels, payloads).map(list))),
        st.tuples(publisher, command("PUBLISH", st.tuples(channels, payloads).map(list))),
        st.tuples(publisher, command("PUBSUB", st.one_of(
            st.just(["NUMPAT"]),
            st.just(["CHANNELS"]),
            patterns.map(lambda p: ["CHANNELS", p]),
            st.lists(channels, max_size=3).map(lambda c: ["NUMSUB", *c]),
        ))),
        st.tuples(anyone, command("PING", st.one_of(
            st.just([]), st.sampled_from(["", "hello", b"\xff"]).map(lambda a: [a])
        ))),
    )


@st.composite
def scripts(draw: st.DrawFn, max_steps: int = 25) -> tuple[int, list[Step]]:
    n_clients = draw(st.integers(2, 4), label="clients")
    steps = draw(st.lists(steps_for(n_clients), min_size=1, max_size=max_steps), label="steps")
    return n_clients, steps


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def real(clean_redis: RedisServer) -> RedisServer:
    """The real server, with no client left over from an earlier test."""
    return clean_redis


def run_real(server: RedisServer, n_clients: int, steps: Sequence[Step]) -> list[StepResult]:
    backend = RealRedis(server, n_clients)
    try:
        return run_script(backend, n_clients, steps)
    finally:
        backend.close()
        reset_pubsub_state(server)


def run_model(n_clients: int, steps: Sequence[Step]) -> list[StepResult]:
    return run_script(ModelRedis(n_clients), n_clients, steps)


def assert_model_matches(server: RedisServer, n_clients: int,
                         steps: Sequence[Step]) -> list[StepResult]:
    """Run ``steps`` on both; fail with the first difference. Returns Redis's results."""
    expected = run_real(server, n_clients, steps)
    got = run_model(n_clients, steps)
    problem = describe_mismatch(steps, expected, got)
    assert problem is None, problem
    return expected


def frames(result: StepResult, client: int) -> list[tuple]:
    """One client's frames of one step as (type, pattern, channel, data) tuples."""
    return [(f["type"], f["pattern"], f["channel"], f["data"]) for f in result.frames[client]]


# --- the randomised differential tests ------------------------------------------------------

_RANDOM = settings(
    max_examples=80, deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no slow "explain"
    # the server fixture is function-scoped, but every example starts and ends with a reset
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_RANDOM
@given(script=scripts())
def test_model_matches_real_redis(real: RedisServer, script: tuple[int, list[Step]]) -> None:
    n_clients, steps = script
    assert_model_matches(real, n_clients, steps)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=scripts(max_steps=15))
def test_harness_reads_real_redis_deterministically(
    real: RedisServer, script: tuple[int, list[Step]]
) -> None:
    """The harness itself: the same script twice on the real server gives equal results."""
    n_clients, steps = script
    first = run_real(real, n_clients, steps)
    second = run_real(real, n_clients, steps)
    assert describe_mismatch(steps, first, second) is None


# --- explicit edge cases (each also asserts what Redis does) --------------------------------


def test_unsubscribe_without_subscriptions_still_replies(real: RedisServer) -> None:
    """pubsub.c: UNSUBSCRIBE / PUNSUBSCRIBE with no arguments and nothing subscribed reply with
    one frame ``(p)unsubscribe <nil> 0`` (test "PUNSUBSCRIBE and UNSUBSCRIBE should always
    reply")."""
    steps: list[Step] = [(0, ("UNSUBSCRIBE",)), (0, ("PUNSUBSCRIBE",))]
    r = assert_model_matches(real, 2, steps)
    assert r[0].reply is None and frames(r[0], 0) == [("unsubscribe", None, None, 0)]
    assert frames(r[1], 0) == [("punsubscribe", None, None, 0)]


def test_unsubscribe_all_acks_each_and_then_nothing(real: RedisServer) -> None:
    steps: list[Step] = [
        (0, ("SUBSCRIBE", "a", "b")), (0, ("PSUBSCRIBE", "x*")), (0, ("UNSUBSCRIBE",)),
        (0, ("PUNSUBSCRIBE",)), (0, ("UNSUBSCRIBE",)), (0, ("UNSUBSCRIBE", "zz", "a")),
    ]
    r = assert_model_matches(real, 2, steps)
    acks = frames(r[2], 0)  # one per channel, in the order of Redis's dict; counts go down
    assert sorted(a[2] for a in acks) == [b"a", b"b"]
    assert [(a[0], a[3]) for a in acks] == [("unsubscribe", 2), ("unsubscribe", 1)]
    assert frames(r[3], 0) == [("punsubscribe", None, b"x*", 0)]
    assert frames(r[4], 0) == [("unsubscribe", None, None, 0)]
    assert frames(r[5], 0) == [("unsubscribe", None, b"zz", 0), ("unsubscribe", None, b"a", 0)]


def test_repeated_subscribe_acks_every_argument(real: RedisServer) -> None:
    """``SUBSCRIBE c c c`` acks ``1 1 1``; the count is channels + patterns."""
    steps: list[Step] = [(0, ("SUBSCRIBE", "c", "c", "c")), (0, ("PSUBSCRIBE", "c", "c")),
                         (0, ("SUBSCRIBE", "d"))]
    r = assert_model_matches(real, 2, steps)
    assert frames(r[0], 0) == [("subscribe", None, b"c", 1)] * 3
    assert frames(r[1], 0) == [("psubscribe", None, b"c", 2)] * 2
    assert frames(r[2], 0) == [("subscribe", None, b"d", 3)]


def test_channel_and_pattern_give_two_deliveries(real: RedisServer) -> None:
    """Test "Mix SUBSCRIBE and PSUBSCRIBE": PUBLISH returns 2; ``message`` then ``pmessage``."""
    steps: list[Step] = [(0, ("SUBSCRIBE", "foo.bar")), (0, ("PSUBSCRIBE", "foo.*")),
                         (1, ("PUBLISH", "foo.bar", "hello"))]
    r = assert_model_matches(real, 2, steps)
    assert r[2].reply == 2
    # exact-channel subscribers are served before patterns (pubsub.c), so this order is fixed
    both = [("message", None, b"foo.bar", b"hello"), ("pmessage", b"foo.*", b"foo.bar", b"hello")]
    assert frames(r[2], 0) == both
    assert frames(run_model(2, steps)[2], 0) == both


def test_several_patterns_and_subscribers_count_every_copy(real: RedisServer) -> None:
    steps: list[Step] = [
        (0, ("PSUBSCRIBE", "*", "n*", "news", "?ews")), (1, ("PSUBSCRIBE", "n*")),
        (1, ("SUBSCRIBE", "news")), (2, ("PUBLISH", "news", "x")), (2, ("PUBSUB", "NUMPAT")),
        (2, ("PUBSUB", "NUMSUB", "news", "n*", "news")), (2, ("PUBSUB", "CHANNELS")),
    ]
    r = assert_model_matches(real, 3, steps)
    assert r[3].reply == 6
    assert r[4].reply == 4  # unique patterns, not pattern subscriptions (6.2+)
    assert r[5].reply == [b"news", 1, b"n*", 0, b"news", 1]
    assert r[6].reply == [b"news"]


@pytest.mark.parametrize("command", [("PUBLISH", "c", "x"), ("GET", "k"), ("PUBSUB", "NUMPAT"),
                                     ("PUBSUB", "CHANNELS"), ("pubsub", "NumSub", "c"),
                                     ("ECHO", "e"), ("publish", "c", "x")])
def test_subscribed_resp2_connection_rejects_other_commands(real: RedisServer,
                                                            command: tuple[str, ...]) -> None:
    """server.c: in RESP2 a subscribed client may only send (P|S)(UN)SUBSCRIBE, PING, QUIT and
    RESET; anything else is refused with Redis's exact message, and the connection stays."""
    steps: list[Step] = [(0, ("SUBSCRIBE", "c")), (0, command), (1, ("PUBLISH", "c", "y"))]
    r = assert_model_matches(real, 2, steps)
    # Redis names the command by its full lower-case name, container|subcommand for PUBSUB
    sub = f"|{command[1].lower()}" if command[0].upper() == "PUBSUB" else ""
    name = command[0].lower() + sub
    assert r[1].reply == Error(
        f"Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
        "are allowed in this context"
    )
    assert r[2].reply == 1


def test_ping_in_and_out_of_subscribed_mode(real: RedisServer) -> None:
    """RESP2: PING replies PONG (or its argument) normally, and a ``pong`` frame
    ``["pong", <arg or "">]`` while subscribed."""
    steps: list[Step] = [
        (0, ("PING",)), (0, ("PING", "hi")), (0, ("SUBSCRIBE", "c")), (0, ("PING",)),
        (0, ("PING", "hi")), (0, ("UNSUBSCRIBE",)), (0, ("PING",)),
    ]
    r = assert_model_matches(real, 2, steps)
    assert r[0].reply == b"PONG" and r[1].reply == b"hi"
    assert r[3].reply is None and frames(r[3], 0) == [("pong", None, None, b"")]
    assert frames(r[4], 0) == [("pong", None, None, b"hi")]
    assert r[6].reply == b"PONG"


def test_psubscribe_star_misses_the_empty_channel(real: RedisServer) -> None:
    """``stringmatchlen("*", "")`` is 0: ``PUBLISH "" x`` reaches only exact subscribers."""
    steps: list[Step] = [(0, ("PSUBSCRIBE", "*")), (1, ("PUBLISH", "", "x")),
                         (2, ("SUBSCRIBE", "")), (1, ("PUBLISH", "", "y")),
                         (1, ("PUBSUB", "CHANNELS", "*")), (1, ("PUBSUB", "CHANNELS"))]
    r = assert_model_matches(real, 3, steps)
    assert r[1].reply == 0
    assert r[3].reply == 1 and frames(r[3], 2) == [("message", None, b"", b"y")]
    assert r[4].reply == [] and r[5].reply == [b""]


def test_glob_rules_reach_delivery(real: RedisServer) -> None:
    """``[!e]`` is not negation, ``[^e]`` is; ``[c-a]`` is swapped; ``\\*`` is literal."""
    pats = ("h[!e]llo", "h[^e]llo", "h[c-a]llo", "h\\*llo")
    chans = ("hallo", "hello", "h!llo", "hbllo", "h*llo")
    steps: list[Step] = [(0, ("PSUBSCRIBE", *pats))] + [(1, ("PUBLISH", c, "x")) for c in chans]
    r = assert_model_matches(real, 2, steps)
    assert [x.reply for x in r[1:]] == [2, 1, 2, 2, 2]
    assert {f[1] for f in frames(r[1], 0)} == {b"h[^e]llo", b"h[c-a]llo"}
    assert {f[1] for f in frames(r[2], 0)} == {b"h[!e]llo"}


@pytest.mark.parametrize("command", [("SUBSCRIBE",), ("PSUBSCRIBE",), ("PUBLISH", "c"),
                                     ("PING", "a", "b"), ("PUBSUB",)])
def test_arity_errors(real: RedisServer, command: tuple[str, ...]) -> None:
    steps: list[Step] = [(0, command), (0, ("SUBSCRIBE", "c")), (0, command)]
    r = assert_model_matches(real, 2, steps)
    assert isinstance(r[0].reply, Error) and "wrong number of arguments" in r[0].reply.text


def test_commands_are_case_insensitive(real: RedisServer) -> None:
    steps: list[Step] = [
        (0, ("subscribe", "c")), (0, ("Psubscribe", "c*")), (1, ("publish", "c", "x")),
        (1, ("pubsub", "numsub", "c")), (1, ("PubSub", "Channels")), (1, ("pubsub", "numpat")),
        (0, ("punsubscribe",)), (0, ("ping",)), (0, ("unsubscribe", "c")), (0, ("ping",)),
    ]
    r = assert_model_matches(real, 2, steps)
    assert r[2].reply == 2 and r[3].reply == [b"c", 1] and r[5].reply == 1
    assert r[9].reply == b"PONG"


def test_reset_leaves_subscribed_mode(real: RedisServer) -> None:
    """RESET (6.2+) drops every subscription and replies ``RESET``; no unsubscribe frames."""
    steps: list[Step] = [
        (0, ("SUBSCRIBE", "a", "b")), (0, ("PSUBSCRIBE", "*")), (0, ("RESET",)),
        (1, ("PUBLISH", "a", "x")), (0, ("PUBLISH", "a", "x")), (0, ("PING",)),
        (1, ("PUBSUB", "NUMPAT")),
    ]
    r = assert_model_matches(real, 2, steps)
    assert r[2].reply == b"RESET" and frames(r[2], 0) == []
    assert r[3].reply == 0 and r[4].reply == 0 and r[5].reply == b"PONG" and r[6].reply == 0


@pytest.mark.parametrize(("subscribed", "command", "error"), [
    (False, ("NOSUCHCOMMAND", "k", "v"),
     "unknown command 'NOSUCHCOMMAND', with args beginning with: 'k' 'v' "),
    (True, ("NOSUCHCOMMAND",), "unknown command 'NOSUCHCOMMAND', with args beginning with: "),
    (False, ("PUBSUB", "NOSUCH"), "unknown subcommand 'NOSUCH'. Try PUBSUB HELP."),
    (False, ("PUBSUB", "CHANNELS", "a", "b"),
     "unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."),
    # NUMPAT's arity is fixed in the command table, so the generic arity error comes first
    (False, ("PUBSUB", "NUMPAT", "x"), "wrong number of arguments for 'pubsub|numpat' command"),
])
def test_unknown_commands_and_subcommands(real: RedisServer, subscribed: bool,
                                          command: tuple[str, ...], error: str) -> None:
    """Redis looks the command up before the subscribed-mode check (``processCommand``)."""
    steps: list[Step] = [(0, ("SUBSCRIBE", "c"))] if subscribed else []
    steps.append((0, command))
    r = assert_model_matches(real, 2, steps)
    assert r[-1].reply == Error(error)


def test_echo(real: RedisServer) -> None:
    r = assert_model_matches(real, 2, [(0, ("ECHO", "hi")), (0, ("ECHO", b""))])
    assert [x.reply for x in r] == [b"hi", b""]
