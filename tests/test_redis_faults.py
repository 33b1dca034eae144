"""Redis under faults: restarts, crashes, network cuts, pauses — what is lost and why."""

import numpy as np
import pytest

from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.subscriber import Subscriber
from sim import Simulation
from sim.faults import Fault, FaultSchedule


def _feed_every_ms(server, start, stop, size=100, channel="c"):
    times = np.arange(start, stop, 0.001) + 0.0005
    server.feed(times, [channel] * len(times), size)
    return times


def _sent_at(trace):
    return dict(zip(trace.published["msg"].tolist(), trace.published["t"].tolist(), strict=True))


def test_restart_loses_exactly_what_was_published_while_clients_were_away():
    s = Simulation(seed=1)
    r = RedisPubSub(s)
    sub = Subscriber(r, "s", ["c"], reconnect_delay=0.5)
    sent = _feed_every_ms(r, 0, 10)
    FaultSchedule.outage("redis", at=5, duration=2).attach(s, r)
    s.run(until=11)
    trace = s.trace
    assert trace.drop_counts() == {"server-restart": 2000}
    sent_at = _sent_at(trace)
    assert all(5 <= sent_at[m] < 7 for m in trace.dropped["msg"].tolist())
    assert len(trace.delivered) == len(sent) - 2000 and sub.connected


def test_short_network_cut_delays_but_loses_nothing():
    s = Simulation(seed=2)
    r = RedisPubSub(s)
    Subscriber(r, "s", ["c"], reconnect_delay=None)
    sent = _feed_every_ms(r, 0, 10)
    FaultSchedule.partition("redis", "s", at=3, duration=2).attach(s, r)
    s.run(until=12)
    trace = s.trace
    assert len(trace.delivered) == len(sent) and not len(trace.dropped)
    sent_at = _sent_at(trace)
    latency = trace.delivered["t"] - np.array([sent_at[m] for m in trace.delivered["msg"]])
    during = np.array([3 <= sent_at[m] < 5 for m in trace.delivered["msg"].tolist()])
    assert latency[during].max() == pytest.approx(2.0, abs=0.01)  # held until the heal
    assert latency[~during].max() < 0.001
    assert (np.diff(trace.delivered["msg"]) > 0).all()  # TCP: still in order


def test_long_cut_under_load_ends_in_the_output_buffer_limit():
    s = Simulation(seed=3)
    r = RedisPubSub(s)
    sub = Subscriber(r, "s", ["c"], reconnect_delay=None)
    _feed_every_ms(r, 0, 60, size=1000)
    FaultSchedule.partition("redis", "s", at=10, duration=100).attach(s, r)
    s.run(until=120)
    t, reason = sub.disconnects[0]
    assert reason == "output-buffer-limit"
    # ~1 MB/s piles up: 32 MiB + socket buffers after ~33 s of cut
    assert 10 + 32 < t < 10 + 35
    assert set(s.trace.drop_counts()) == {"output-buffer-limit"}


def test_long_cut_with_little_traffic_is_closed_by_tcp_keepalive():
    s = Simulation(seed=4)
    r = RedisPubSub(s)
    sub = Subscriber(r, "s", ["c"], reconnect_delay=None)
    times = np.arange(0, 1000, 1.0) + 0.5  # one small message a second
    r.feed(times, ["c"] * len(times), 10)
    FaultSchedule.partition("redis", "s", at=100, duration=2000).attach(s, r)
    s.run(until=1100)
    assert sub.disconnects == [(100 + 2 * 300, "network-cut")]
    dropped = s.trace.dropped
    # the 600 messages held back during the cut are lost when the connection is closed...
    assert (dropped["t"] == 700.0).sum() == 600
    # ...and the 300 published after it while this subscriber stays away
    assert s.trace.drop_counts() == {"network-cut": 900}
    assert len(s.trace.delivered) == 100


def test_server_pause_delays_everything_behind_it():
    s = Simulation(seed=5)
    r = RedisPubSub(s)
    Subscriber(r, "s", ["c"], reconnect_delay=None)
    sent = _feed_every_ms(r, 0, 5)
    FaultSchedule((Fault(2.0, "pause", "redis", {"duration": 0.5}),)).attach(s, r)
    s.run(until=6)
    trace = s.trace
    assert len(trace.delivered) == len(sent)
    sent_at = _sent_at(trace)
    latency = trace.delivered["t"] - np.array([sent_at[m] for m in trace.delivered["msg"]])
    assert latency.max() == pytest.approx(0.5, abs=0.002)


def test_client_crash_loses_until_restart_then_resumes():
    s = Simulation(seed=6)
    r = RedisPubSub(s)
    sub = Subscriber(r, "s", ["c"], reconnect_delay=0.1)
    _feed_every_ms(r, 0, 10)
    FaultSchedule.outage("s", at=2, duration=3).attach(s, r)
    s.run(until=11)
    assert s.trace.drop_counts() == {"client-crash": 3000}
    assert sub.connected and sub.disconnects == [(2.0, "client-crash")]


def test_lossy_link_delays_by_retransmission_but_keeps_order():
    s = Simulation(seed=7)
    r = RedisPubSub(s)
    Subscriber(r, "s", ["c"], reconnect_delay=None)
    sent = _feed_every_ms(r, 0, 5)
    FaultSchedule((Fault(1.0, "loss", ("redis", "s"), {"p": 0.01}),)).attach(s, r)
    s.run(until=7)
    trace = s.trace
    assert len(trace.delivered) == len(sent)
    sent_at = _sent_at(trace)
    latency = trace.delivered["t"] - np.array([sent_at[m] for m in trace.delivered["msg"]])
    assert latency.max() >= 0.2 and (np.diff(trace.delivered["msg"]) > 0).all()
