"""Scenario tests of the Redis Pub/Sub model: stories with outcomes known exactly."""

import math

import numpy as np
import pytest

from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.frames import message_frame_size
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.network import Link
from sim.trace import REASON_CODE


def _feed_every_ms(server, start, stop, size=100, channel="news"):
    times = np.arange(start, stop, 0.001) + 0.0005
    server.feed(times, [channel] * len(times), size)
    return times


def test_subscriber_offline_for_10s_misses_exactly_what_was_published_meanwhile():
    s = Simulation(seed=1)
    r = RedisPubSub(s)
    sub = Subscriber(r, "s1", ["news"], reconnect_delay=None)
    sub.go_offline(at=10.0, duration=10.0)
    sent = _feed_every_ms(r, 0, 30)
    s.run(until=31)
    trace = s.trace
    offline = (sent >= 10) & (sent < 20)
    assert offline.sum() == 10_000
    assert trace.drop_counts() == {"disconnected": 10_000}
    lost = np.sort(trace.dropped["msg"])
    published = trace.published.to_dict()
    by_msg = dict(zip(published["msg"].tolist(), published["t"].tolist(), strict=True))
    assert all(10 <= by_msg[m] < 20 for m in lost.tolist())
    assert len(trace.delivered) == 20_000
    assert sub.connected


def test_publish_returns_number_of_copies_channel_plus_patterns():
    s = Simulation()
    r = RedisPubSub(s)
    a, b = r.connect("a"), r.connect("b")
    a.execute("SUBSCRIBE", "foo.bar")
    a.execute("PSUBSCRIBE", "foo.*", "*bar")
    b.execute("PSUBSCRIBE", "foo.*")
    pub = r.connect("pub")
    assert pub.execute("PUBLISH", "foo.bar", "hello") == 4
    assert pub.execute("PUBLISH", "nothing", "x") == 0
    s.run(until=1)
    kinds = [m["type"] for m in a.listen() if m["type"].endswith("message")]
    assert kinds == ["message", "pmessage", "pmessage"]
    delivered = s.trace.delivered
    assert len(delivered) == 4 and s.trace.tables["redis_publish"]["receivers"].tolist() == [4, 0]


def _reference_hard_cut(exec_t, sizes, latency, service, sock, hard):
    """Plain-loop reference: index of the first append that takes the counted buffer to >= hard,
    and the read times of everything before it."""
    reads, done = [], 0.0
    for e in exec_t:
        start = max(e + latency, done)
        done = start + service
        reads.append(start)
    reads = np.array(reads)
    cum = np.cumsum(sizes)
    for i, e in enumerate(exec_t):
        unread = cum[i] - sizes[reads <= e].sum()
        if unread - sock >= hard:
            return i, reads
    return None, reads


def test_slow_subscriber_cut_at_hard_limit_loses_buffer_and_everything_after():
    s = Simulation(seed=2)
    r = RedisPubSub(s)
    slow = Subscriber(r, "slow", ["news"], service=0.002, reconnect_delay=None)
    fast = Subscriber(r, "fast", ["news"], reconnect_delay=None)
    sent = _feed_every_ms(r, 0, 100, size=1000)
    s.run(until=110)
    trace = s.trace
    assert slow.disconnects and slow.disconnects[0][1] == "output-buffer-limit"
    cut_t = slow.disconnects[0][0]
    exec_t = trace.tables["redis_publish"]["t"]
    frame = int(message_frame_size(4, 1000))
    cfg = r.config
    i, reads = _reference_hard_cut(exec_t, np.full(len(exec_t), frame), cfg.latency, 0.002,
                                   cfg.socket_buffer, cfg.client_output_buffer_limit.hard)
    assert cut_t == pytest.approx(exec_t[i])
    unread_at_cut = int((reads[: i + 1] > exec_t[i]).sum())
    expected_lost = unread_at_cut + (len(sent) - i - 1)
    # growth is 500 frames/s: the cut comes when (hard + socket buffers) bytes are unread
    assert cut_t == pytest.approx((cfg.client_output_buffer_limit.hard + cfg.socket_buffer)
                                  / (500 * frame), abs=0.01)
    slow_id = trace.receivers.id("slow")
    delivered = trace.delivered["receiver"] == slow_id
    lost = trace.dropped["receiver"] == slow_id
    assert lost.sum() == expected_lost  # the buffered frames and everything after
    assert unread_at_cut > 32 * 1024 * 1024 // frame
    assert delivered.sum() + lost.sum() == len(sent)  # nothing vanishes
    assert (trace.dropped["reason"][lost] == REASON_CODE["output-buffer-limit"]).all()
    assert (trace.delivered["receiver"] == trace.receivers.id("fast")).sum() == len(sent)
    assert fast.connected and not slow.connected


def test_soft_limit_cuts_after_more_than_60_seconds_over_8mb():
    s = Simulation(seed=3)
    r = RedisPubSub(s)
    slow = Subscriber(r, "slow", ["c"], service=0.0011, reconnect_delay=None)
    _feed_every_ms(r, 0, 400, size=1000, channel="c")
    s.run(until=401)
    frame = int(message_frame_size(1, 1000))
    growth = (1000 - 1000 / 1.1) * frame  # bytes per second
    cfg = r.config.client_output_buffer_limit
    over_soft = (cfg.soft + r.config.socket_buffer) / growth
    t, reason = slow.disconnects[0]
    assert reason == "output-buffer-limit"
    # hard would only trip at ~ (32 MiB + socket) / growth, far later
    assert t < (cfg.hard + r.config.socket_buffer) / growth - 50
    # Redis: timer starts at the whole second it is first seen over; trips at elapsed > 60
    assert math.floor(over_soft) + 61 <= t < math.floor(over_soft) + 62.01


def test_soft_limit_enforced_by_cron_when_no_traffic():
    s = Simulation(seed=4)
    r = RedisPubSub(s)
    slow = Subscriber(r, "slow", ["c"], service=0.01, reconnect_delay=None)
    # ~20 MiB arrive in the first second, then nothing; the buffer drains at 100 frames/s,
    # so it stays over 8 MiB for ~115 s but never reaches 32 MiB
    times = np.arange(0, 1.0, 1e-3 / 20) + 1e-5
    r.feed(times, ["c"] * len(times), 1000)
    s.run(until=200)
    assert slow.disconnects and slow.disconnects[0][1] == "output-buffer-limit"
    t = slow.disconnects[0][0]
    assert 61 <= t <= 62.01
    assert t == math.floor(t)  # found by clientsCron, not on an append


def test_buffer_dipping_below_soft_resets_the_timer():
    s = Simulation(seed=5)
    r = RedisPubSub(s)
    slow = Subscriber(r, "slow", ["c"], service=0.001 * 1.5, reconnect_delay=None)
    # 40 s bursts at 1000/s then 40 s silence: each burst builds ~13 MB (over soft for < 60 s)
    for k in range(4):
        _feed_every_ms(r, 80 * k, 80 * k + 40, size=1000, channel="c")
    s.run(until=330)
    assert slow.disconnects == []
    assert len(s.trace.delivered) == 160_000


def test_limits_disabled_never_cut():
    s = Simulation(seed=6)
    r = RedisPubSub(s, {"client-output-buffer-limit": "pubsub 0 0 0"})
    slow = Subscriber(r, "slow", ["c"], service=0.01, reconnect_delay=None)
    _feed_every_ms(r, 0, 20, size=10_000, channel="c")
    s.run(until=30)
    assert slow.connected
    assert r.output_buffer_bytes("slow") > 100 * 1024 * 1024


def test_mm1_mean_time_in_system():
    """Poisson publishes (lambda) to one subscriber with exponential service (mu), no limit hit:
    the subscriber is an M/M/1 queue, so the mean time from PUBLISH executing to the handler
    finishing is 1/(mu - lambda). Tolerance: 5 % (200 000 messages, rho = 0.5)."""
    lam, mu = 500.0, 1000.0
    s = Simulation(seed=11)
    r = RedisPubSub(s, {"latency": 0})
    Subscriber(r, "sub", ["q"], service=lambda rng, n: rng.exponential(1 / mu, n),
               reconnect_delay=None)
    rng = s.rng("arrivals")
    times = np.cumsum(rng.exponential(1 / lam, 200_000)) + 0.001
    r.feed(times, ["q"] * len(times), 16)
    s.run(until=times[-1] + 10)
    trace = s.trace
    executed = trace.tables["redis_publish"].to_dict()
    exec_at = dict(zip(executed["msg"].tolist(), executed["t"].tolist(), strict=True))
    msgs = trace.delivered["msg"]
    sojourn = trace.delivered["t"] - np.array([exec_at[m] for m in msgs.tolist()])
    assert len(msgs) == 200_000
    assert sojourn.mean() == pytest.approx(1 / (mu - lam), rel=0.05)


def test_server_restart_loses_in_flight_and_what_is_published_while_down():
    s = Simulation(seed=7)
    r = RedisPubSub(s)
    sub = Subscriber(r, "s", ["c"], service=0.0005, reconnect_delay=0.5)
    sent = _feed_every_ms(r, 0, 10, size=100, channel="c")
    s.call_at(5.0, r.restart, 2.0)
    s.run(until=12)
    trace = s.trace
    counts = trace.drop_counts()
    assert set(counts) == {"server-restart"}
    assert len(trace.delivered) + counts["server-restart"] == len(sent)
    # down 5..7, back at 7 (retry every 0.5 s): what was sent while away is lost
    assert counts["server-restart"] == pytest.approx(2000, abs=3)
    assert sub.connected and len(sub.disconnects) == 1


def test_same_seed_same_trace():
    def run():
        s = Simulation(seed=9)
        r = RedisPubSub(s)
        Subscriber(r, "a", ["c"], service=lambda rng, n: rng.exponential(0.0012, n))
        _feed_every_ms(r, 0, 50, size=2000, channel="c")
        s.run(until=60)
        return s.trace
    a, b = run(), run()
    for name in ("delivered", "dropped", "published"):
        for col in a.tables[name].columns:
            assert np.array_equal(a.tables[name][col], b.tables[name][col])


def test_thin_network_link_makes_a_fast_subscriber_slow():
    """A subscriber behind a 256 KiB/s link receiving ~1 MB/s is cut like a slow reader."""
    s = Simulation(seed=8)
    r = RedisPubSub(s)
    thin = Subscriber(r, "thin", ["c"], link=Link(latency="1ms", bandwidth="256kb"),
                      reconnect_delay=None)
    Subscriber(r, "lan", ["c"], reconnect_delay=None)
    _feed_every_ms(r, 0, 60, size=1000, channel="c")
    s.run(until=70)
    assert thin.disconnects and thin.disconnects[0][1] == "output-buffer-limit"
    frame = int(message_frame_size(1, 1000))
    growth = 1000 * frame - 256 * 1024
    cfg = r.config
    expected = (cfg.client_output_buffer_limit.hard + cfg.socket_buffer) / growth
    assert thin.disconnects[0][0] == pytest.approx(expected, abs=0.05)
    lan = s.trace.delivered["receiver"] == s.trace.receivers.id("lan")
    assert lan.sum() == 60_000


def test_jitter_never_reorders_a_connection():
    s = Simulation(seed=9)
    r = RedisPubSub(s)
    Subscriber(r, "j", ["c"], link=Link(latency="1ms", jitter="2ms"), reconnect_delay=None)
    _feed_every_ms(r, 0, 5, size=10, channel="c")
    s.run(until=6)
    msgs = s.trace.delivered["msg"]
    assert len(msgs) == 5000 and (np.diff(msgs) > 0).all()
    assert (np.diff(s.trace.delivered["t"]) >= 0).all()


def test_disconnect_right_after_publish_is_traced_after_it():
    """A PUBLISH already on its way is executed before the server sees the subscriber's socket
    close, so it counts the subscriber, and the copy is lost to the disconnect - in that order."""
    s = Simulation(seed=1)
    r = RedisPubSub(s)
    a = r.connect("a")
    a.execute("SUBSCRIBE", "c")
    s.run(until=1)
    assert r.connect("p").execute("PUBLISH", "c", "x") == 1
    a.disconnect()
    s.run(until=2)
    executed = float(s.trace.tables["redis_publish"]["t"][-1])
    closed = s.trace.events_of("disconnect")[-1].t
    assert executed <= closed
    assert s.trace.drop_counts() == {"disconnected": 1}
    assert float(s.trace.dropped["t"][0]) == closed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grouped_fast_path_equals_per_client_accounting(seed):
    """Subscribers that read on arrival share one computation (the fan-out fast path). With a
    zero service time given explicitly they take the per-client path instead; both must give
    the same deliveries and losses, through disconnects, patterns and a restart."""
    def run(service):
        s = Simulation(seed=seed)
        r = RedisPubSub(s, {"latency": 0.05})  # long wires: many frames in flight at a flush
        subs = [Subscriber(r, f"s{i}", ["a"] if i % 3 else ["a", "b"], ["a*"] if i % 4 == 0
                           else (), service=service, reconnect_delay=0.3) for i in range(12)]
        rng = np.random.default_rng(seed)
        times = np.sort(rng.uniform(0, 6, 4000))
        r.feed(times, rng.choice(["a", "b", "ab"], len(times)), 50)
        subs[1].go_offline(at=1.23456, duration=0.5)
        subs[5].go_offline(at=2.0, duration=1.0)
        s.call_at(4.0, r.restart, 0.25)
        s.call_at(3.3, lambda: subs[7].client.disconnect())  # seen one latency later
        s.run(until=8)
        t = s.trace
        d, x = t.delivered, t.dropped
        delivered = sorted(zip(d["msg"].tolist(), d["receiver"].tolist(), d["via"].tolist(),
                               d["t"].tolist(), strict=True))
        dropped = sorted(zip(x["msg"].tolist(), x["receiver"].tolist(), x["reason"].tolist(),
                             strict=True))
        return delivered, dropped

    fast, slow = run(None), run(0.0)
    assert len(fast[0]) > 10_000
    assert fast[1] == slow[1]
    assert [d[:3] for d in fast[0]] == [d[:3] for d in slow[0]]
    np.testing.assert_allclose([d[3] for d in fast[0]], [d[3] for d in slow[0]], atol=1e-9)
