"""Unit tests of the Redis model's commands, replies and frames (redis-py shapes)."""

import pytest

from models.redis_pubsub import ConnectionError, RedisConfig, RedisPubSub, ResponseError
from sim import Simulation


@pytest.fixture
def server():
    return RedisPubSub(Simulation(seed=0))


def frames(sim, client):
    sim.run(until=sim.now + 1)
    return client.listen()


def test_subscribe_acks_carry_running_count_and_repeat_names(server):
    a = server.connect("a")
    assert a.execute("SUBSCRIBE", "c", "c", "c") is None
    a.execute("PSUBSCRIBE", "p*")
    got = [(f["type"], f["channel"], f["data"]) for f in frames(server.sim, a)]
    assert got == [("subscribe", b"c", 1)] * 3 + [("psubscribe", b"p*", 2)]


def test_unsubscribe_without_arguments_replies_even_when_subscribed_to_nothing(server):
    a = server.connect("a")
    a.execute("UNSUBSCRIBE")
    a.execute("PUNSUBSCRIBE")
    got = [(f["type"], f["channel"], f["data"]) for f in frames(server.sim, a)]
    assert got == [("unsubscribe", None, 0), ("punsubscribe", None, 0)]


def test_unsubscribe_all_lists_each_channel_with_falling_count(server):
    a = server.connect("a")
    a.execute("SUBSCRIBE", "x", "y")
    a.execute("PSUBSCRIBE", "z*")
    a.execute("UNSUBSCRIBE")
    got = [(f["type"], f["channel"], f["data"]) for f in frames(server.sim, a)][3:]
    assert got == [("unsubscribe", b"x", 2), ("unsubscribe", b"y", 1)]
    assert a.subscription_count == 1


def test_subscribed_connection_refuses_other_commands_in_resp2(server):
    a = server.connect("a")
    a.execute("SUBSCRIBE", "c")
    with pytest.raises(ResponseError, match="Can't execute 'publish'"):
        a.execute("PUBLISH", "c", "x")
    a.execute("UNSUBSCRIBE")
    assert a.execute("PUBLISH", "c", "x") == 0


def test_ping_replies_pong_normally_and_a_pong_frame_when_subscribed(server):
    a = server.connect("a")
    assert a.execute("PING") == b"PONG"
    assert a.execute("PING", "hi") == b"hi"
    a.execute("SUBSCRIBE", "c")
    assert a.execute("PING", "x") is None
    assert frames(server.sim, a)[-1] == {"type": "pong", "pattern": None, "channel": None,
                                         "data": b"x"}


def test_pubsub_introspection(server):
    a, b, q = server.connect("a"), server.connect("b"), server.connect("q")
    a.execute("SUBSCRIBE", "news.art", "news.tech")
    b.execute("SUBSCRIBE", "news.art")
    b.execute("PSUBSCRIBE", "news.*", "news.*", "x*")
    assert sorted(q.execute("PUBSUB", "CHANNELS")) == [b"news.art", b"news.tech"]
    assert q.execute("PUBSUB", "CHANNELS", "*tech") == [b"news.tech"]
    assert q.execute("PUBSUB", "NUMSUB", "news.art", "none") == [b"news.art", 2, b"none", 0]
    assert q.execute("PUBSUB", "NUMPAT") == 2  # unique patterns (Redis 6.2+)
    a.execute("UNSUBSCRIBE", "news.tech")
    assert q.execute("PUBSUB", "CHANNELS") == [b"news.art"]


def test_errors_for_unknown_commands_and_arity(server):
    a = server.connect("a")
    with pytest.raises(ResponseError, match="unknown command 'FOO'"):
        a.execute("FOO", "bar")
    with pytest.raises(ResponseError, match="wrong number of arguments for 'subscribe'"):
        a.execute("SUBSCRIBE")
    with pytest.raises(ResponseError, match="wrong number of arguments for 'publish'"):
        a.execute("PUBLISH", "c")


def test_disconnected_client_raises_and_reconnect_starts_clean(server):
    a = server.connect("a")
    a.execute("SUBSCRIBE", "c")
    a.disconnect()
    with pytest.raises(ConnectionError):
        a.execute("PING")
    a.reconnect()
    assert a.subscription_count == 0
    assert server.connect("p").execute("PUBLISH", "c", "x") == 0


def test_message_to_client_subscribed_twice_comes_as_message_then_pmessage(server):
    a = server.connect("a")
    a.execute("SUBSCRIBE", "foo.bar")
    a.execute("PSUBSCRIBE", "foo.*")
    assert server.connect("p").execute("PUBLISH", "foo.bar", "hello") == 2
    got = frames(server.sim, a)[2:]
    assert got == [
        {"type": "message", "pattern": None, "channel": b"foo.bar", "data": b"hello"},
        {"type": "pmessage", "pattern": b"foo.*", "channel": b"foo.bar", "data": b"hello"},
    ]


def test_config_from_redis_names_and_suggestions():
    cfg = RedisConfig.from_mapping({"client-output-buffer-limit": "pubsub 1mb 512kb 5", "hz": 20})
    assert (cfg.client_output_buffer_limit.hard, cfg.client_output_buffer_limit.soft) == (
        1024 * 1024, 512 * 1024)
    assert cfg.client_output_buffer_limit.soft_seconds == 5
    with pytest.raises(ValueError, match="did you mean 'client-output-buffer-limit'"):
        RedisConfig.from_mapping({"client-output-buffer-limits": "pubsub 1mb 1mb 1"})
    with pytest.raises(ValueError, match="client-output-buffer-limit"):
        RedisConfig.from_mapping({"client-output-buffer-limit": "pubsub 1mb"})


def test_publish_latency_grows_with_fanout_and_patterns():
    def exec_time(subscribers, patterns):
        s = Simulation()
        r = RedisPubSub(s)
        for i in range(subscribers):
            r.connect(f"s{i}", keep_frames=False).execute("SUBSCRIBE", "c")
        for i in range(patterns):
            r.connect(f"p{i}", keep_frames=False).execute("PSUBSCRIBE", f"nomatch{i}*")
        s.run(until=1)
        p = r.connect("pub")
        p.execute("PUBLISH", "c", "x")
        return float(s.trace.tables["redis_publish"]["t"][-1]) - (s.now + r.config.latency)

    base = exec_time(0, 0)
    assert exec_time(1000, 0) == pytest.approx(base + 1000 * 0.9e-6, rel=1e-6)
    assert exec_time(0, 1000) == pytest.approx(base + 1000 * 0.24e-6, rel=1e-6)


def test_many_channels_cost_memory_in_proportion(server):
    a = server.connect("a")
    names = [f"ch{i}" for i in range(500)]
    a.execute("SUBSCRIBE", *names)
    p = server.connect("p")
    assert all(p.execute("PUBLISH", n, "x") == 1 for n in names)
    assert len(server._chan_len) < 4 * 1024
