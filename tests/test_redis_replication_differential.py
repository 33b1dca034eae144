"""Differential test: PUBLISH propagation to a replica's subscribers, real Redis vs the model.

A real primary and a real ``redis-server --replicaof`` (started here, apart from the session's
server, so that no other test's PUBLISH reaches them) run the same script as a modelled
primary and replica: subscribers on both, PUBLISH on the primary (it reaches the replica's
subscriber too, and its reply counts only the primary's), PUBLISH on the replica (it stays
there), then ``REPLICAOF NO ONE`` on the replica (its subscriber stays connected: Redis does not
close Pub/Sub clients on a role change; only Sentinel does). Replies and the frames each
subscriber receives must be equal. Skips without ``redis-server`` or redis-py unless
``BROKERSIM_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from models.redis_pubsub import RedisPubSub
from sim import Simulation
from tests.redis_server import (
    REQUIRE_ENV,
    RedisServer,
    find_redis_server,
    redis_required,
    start_redis_server,
)

pytestmark = pytest.mark.redis_server


def _unavailable(reason: str) -> None:
    if redis_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this is an error)", pytrace=False)
    pytest.skip(f"{reason}; install redis-server or set {REQUIRE_ENV}=1 to make this an error")


@pytest.fixture(scope="module")
def real_pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    redis = pytest.importorskip("redis")
    binary = find_redis_server()
    if binary is None:
        _unavailable("redis-server is not installed (not on PATH)")
    started: list[RedisServer] = []
    try:
        primary = start_redis_server(binary)
        started.append(primary)
        replica = start_redis_server(binary, extra_args=(
            "--replicaof", primary.host, str(primary.port)))
        started.append(replica)
        client = redis.Redis(*replica.address)
        for _ in range(500):  # wait for the initial sync (no timing is asserted)
            if client.info("replication").get("master_link_status") == "up":
                break
            time.sleep(0.02)
        else:
            raise RuntimeError("the replica never synced:\n" + replica.log_tail())
        client.close()
    except (OSError, RuntimeError) as error:
        for server in started:
            server.stop()
        _unavailable(f"redis-server primary/replica could not be started: {error}")
    yield primary, replica
    for server in started:
        server.stop()


class Real:
    """The script on real servers, through redis-py."""

    def __init__(self, primary: RedisServer, replica: RedisServer) -> None:
        import redis

        self.redis = redis
        self.servers = {"primary": primary, "replica": replica}
        self.conns = {name: redis.Redis(*server.address) for name, server in
                      self.servers.items()}
        self.subs = {}

    def subscribe(self, on: str, channel: str) -> None:
        sub = self.conns[on].pubsub()
        sub.subscribe(channel)
        self.subs[on] = sub

    def publish(self, on: str, channel: str, data: bytes) -> int:
        return int(self.conns[on].publish(channel, data))

    def replicaof_no_one(self) -> None:
        self.conns["replica"].replicaof("NO", "ONE")

    def frames(self, on: str, expect: int) -> list[tuple]:
        """The next ``expect`` frames of subscriber ``on`` (waits for propagation), then
        whatever else has arrived after a short grace read."""
        sub, out = self.subs[on], []
        deadline = time.monotonic() + 10
        while len(out) < expect and time.monotonic() < deadline:
            frame = sub.get_message(timeout=0.5)
            if frame is not None:
                out.append(_shape(frame))
        while (frame := sub.get_message(timeout=0.2)) is not None:
            out.append(_shape(frame))
        return out

    def close(self) -> None:
        for sub in self.subs.values():
            sub.close()
        for conn in self.conns.values():
            conn.close()


class Model:
    """The same script on a modelled primary and replica."""

    def __init__(self) -> None:
        self.sim = Simulation(seed=1)
        primary = RedisPubSub(self.sim, name="primary")
        replica = RedisPubSub(self.sim, name="replica")
        replica.replicaof(primary)
        self.servers = {"primary": primary, "replica": replica}
        self.conns = {name: server.connect("pub-" + name) for name, server in
                      self.servers.items()}
        self.subs = {}

    def subscribe(self, on: str, channel: str) -> None:
        sub = self.servers[on].connect("sub-" + on)
        sub.execute("SUBSCRIBE", channel)
        self.subs[on] = sub

    def publish(self, on: str, channel: str, data: bytes) -> int:
        return self.conns[on].execute("PUBLISH", channel, data)

    def replicaof_no_one(self) -> None:
        self.servers["replica"].replicaof(None)

    def frames(self, on: str, expect: int) -> list[tuple]:
        self.sim.run(until=self.sim.now + 1.0)
        return [_shape(f) for f in self.subs[on].listen()]

    def close(self) -> None:
        pass


def _shape(frame: dict) -> tuple:
    channel = frame["channel"]
    channel = channel.encode() if isinstance(channel, str) else channel
    return frame["type"], channel, frame["data"]


def _script(side: Real | Model) -> list[object]:
    out: list[object] = []
    side.subscribe("primary", "news")
    side.subscribe("replica", "news")
    out.append(side.frames("primary", 1))
    out.append(side.frames("replica", 1))
    out.append(side.publish("primary", "news", b"m1"))  # counts only the primary's subscriber
    out.append(side.frames("replica", 1))  # ...and reaches the replica's through the stream
    out.append(side.publish("replica", "news", b"m2"))  # accepted on a replica, stays there
    out.append(side.publish("primary", "news", b"m3"))
    out.append(side.frames("replica", 2))
    out.append(side.frames("primary", 2))  # m1, m3: never m2
    side.replicaof_no_one()  # the replica's subscriber is kept
    out.append(side.publish("replica", "news", b"m4"))
    out.append(side.publish("primary", "news", b"m5"))  # no longer propagated
    out.append(side.frames("replica", 1))
    out.append(side.frames("primary", 1))
    return out


def test_publish_propagates_to_replica_subscribers_as_in_redis(real_pair):
    real = Real(*real_pair)
    try:
        expected = _script(real)
    finally:
        real.close()
    model = Model()
    assert _script(model) == expected
    # the script says what Redis does, whatever the model says
    assert expected[2] == 1 and expected[3] == [("message", b"news", b"m1")]
    assert expected[7] == [("message", b"news", b"m1"), ("message", b"news", b"m3")]
    assert expected[10] == [("message", b"news", b"m4")]
