"""Redis replicas with subscribers, and what a Sentinel failover does to them (exact counts)."""

import numpy as np
import pytest

from models.redis_pubsub import RedisPubSub
from models.redis_pubsub.sentinel import Sentinel
from sim import Simulation
from sim.checker import assert_conserved, check_pubsub
from sim.faults import Fault, FaultSchedule
from sim.trace import REASON_CODE


def _pair(seed=1, **sentinel):
    s = Simulation(seed=seed)
    primary = RedisPubSub(s, name="primary")
    replica = RedisPubSub(s, name="replica")
    replica.replicaof(primary)
    return s, primary, replica, Sentinel(s, primary, **sentinel)


def _messages(frames):
    return [f["data"] for f in frames if f["type"] == "message"]


def test_publish_on_the_primary_reaches_replica_subscribers_after_the_link_latency():
    s = Simulation(seed=1)
    primary, replica = RedisPubSub(s, name="primary"), RedisPubSub(s, name="replica")
    replica.replicaof(primary, latency=0.005)
    on_primary, on_replica = primary.connect("a"), replica.connect("b")
    on_primary.execute("SUBSCRIBE", "c")
    on_replica.execute("SUBSCRIBE", "c")
    # PUBLISH counts only the receivers of the server that ran it
    assert primary.connect("pub").execute("PUBLISH", "c", b"hi") == 1
    s.run(until=0.004)
    assert _messages(on_primary.listen()) == [b"hi"] and _messages(on_replica.listen()) == []
    s.run(until=1)
    assert _messages(on_replica.listen()) == [b"hi"]
    executed = s.trace.tables["redis_publish"].to_dict()
    servers = [s.trace.servers.name(i) for i in executed["server"].tolist()]
    assert servers == ["primary", "replica"] and executed["receivers"].tolist() == [1, 1]
    assert executed["t"][1] - executed["t"][0] == pytest.approx(0.005, abs=1e-5)
    assert len(s.trace.published) == 1  # one message, executed twice
    assert check_pubsub(s.trace, drained=True).ok


def test_publish_on_a_replica_stays_on_the_replica():
    s = Simulation(seed=1)
    primary, middle, leaf = (RedisPubSub(s, name=n) for n in ("primary", "middle", "leaf"))
    middle.replicaof(primary)
    leaf.replicaof(middle)  # chained: middle proxies its primary's stream to leaf
    subs = {server.name: server.connect("s-" + server.name) for server in (primary, middle, leaf)}
    for client in subs.values():
        client.execute("SUBSCRIBE", "c")
    assert middle.connect("local").execute("PUBLISH", "c", b"from-middle") == 1
    assert primary.connect("pub").execute("PUBLISH", "c", b"from-primary") == 1
    s.run(until=1)
    got = {name: _messages(client.listen()) for name, client in subs.items()}
    assert got == {"primary": [b"from-primary"], "middle": [b"from-middle", b"from-primary"],
                   "leaf": [b"from-primary"]}
    assert check_pubsub(s.trace, drained=True).ok


def test_failover_loses_exactly_the_gap_and_what_was_on_the_link():
    """Primary crashes at t=10.00065 (just after executing the message sent at 10.0005, whose
    copy is still on the wire to the primary's subscriber and on the link to the replica);
    Sentinel promotes the replica 30 s + 2 s later. One message a millisecond from t=0.0005."""
    s, _primary, replica, sentinel = _pair()
    p = sentinel.subscriber("p", ["c"], reconnect_delay=0.3)  # on the primary
    r = sentinel.subscriber("r", ["c"], on=replica, reconnect_delay=0.5)
    times = np.arange(0, 60, 0.001) + 0.0005
    sentinel.feed(times, ["c"] * len(times), 100)
    FaultSchedule((Fault(10.00065, "crash", "primary"),)).attach(s, sentinel)
    s.run(until=61)
    promoted = 10.00065 + 30 + 2
    assert sentinel.failovers == [(promoted, "primary", "replica")]
    assert replica.role == "master" and sentinel.master is replica
    assert p.disconnects == [(10.00065, "server-restart")]
    assert r.disconnects == [(promoted, "failover")]  # CLIENT KILL TYPE pubsub at promotion
    assert p.server is replica and p.connected and r.connected
    report = check_pubsub(s.trace, drained=True)
    assert report.ok
    by = {x.receiver: x for x in report.receivers}
    # sent in [10.00065, promoted): refused by the dead primary, 32 000 messages, for everyone
    assert by["r"].away == {"no-primary": 32_000, "replication-link": 1,
                            # killed at the promotion, back and subscribed 0.5 s later
                            "failover": 500}
    # the 1 on the wire at the crash; 32 000 refused; 100 run on the new primary before it
    # was back (it retries every 0.3 s from the crash: 42.10065)
    assert by["p"].lost == {"server-restart": 1}
    assert by["p"].away == {"server-restart": 32_000 + 100}
    assert (by["p"].delivered, by["r"].delivered) == (60_000 - 32_101, 60_000 - 32_501)
    text = report.explain()
    assert "r missed 32 000 messages that its server never ran (no-primary)" in text
    assert "r missed 500 messages while it was not subscribed (failover)" in text
    assert by["p"].duplicated == by["r"].duplicated == 0
    assert by["p"].out_of_order == by["r"].out_of_order == 0
    sent = dict(zip(s.trace.published["msg"].tolist(), s.trace.published["t"].tolist(),
                    strict=True))
    dropped = s.trace.dropped
    gap = [sent[m] for m, why in zip(dropped["msg"].tolist(), dropped["reason"].tolist(),
                                     strict=True) if why == REASON_CODE["no-primary"]]
    assert min(gap) == pytest.approx(10.0015) and max(gap) == pytest.approx(promoted - 0.00015)
    assert_conserved(s.trace, drained=True)


def test_primary_back_before_down_after_means_no_failover():
    s, primary, replica, sentinel = _pair()
    p = sentinel.subscriber("p", ["c"], reconnect_delay=0.5)
    r = sentinel.subscriber("r", ["c"], on=replica, reconnect_delay=0.5)
    times = np.arange(0, 20, 0.001) + 0.0005
    sentinel.feed(times, ["c"] * len(times), 100)
    FaultSchedule.outage("primary", at=5, duration=10).attach(s, sentinel)  # < 30 s
    s.run(until=21)
    assert sentinel.failovers == [] and primary.role == "master" and replica.role == "replica"
    assert r.disconnects == [] and p.server is primary and p.connected
    counts = s.trace.drop_counts()
    assert counts["no-primary"] == 10_000  # published while the primary was down
    by = {x.receiver: x for x in check_pubsub(s.trace, drained=True).receivers}
    assert by["r"].delivered == 10_000 and by["r"].away == {"no-primary": 10_000}
    assert by["p"].delivered + sum(by["p"].away.values()) + sum(by["p"].lost.values()) == 20_000


def test_old_primary_comes_back_as_a_replica_of_the_new_one():
    s, primary, replica, sentinel = _pair(down_after=3.0, failover_delay=1.0)
    stale = primary.connect("stale")  # not Sentinel-aware: it stays with the old primary
    times = np.arange(0, 20, 0.001) + 0.0005
    sentinel.feed(times, ["c"] * len(times), 100)
    FaultSchedule.outage("primary", at=2, duration=6).attach(s, sentinel)
    s.run(until=9)
    assert sentinel.failovers == [(6.0, "primary", "replica")]
    assert primary.role == "replica" and primary.primary is replica
    stale = primary.connect("stale")
    stale.execute("SUBSCRIBE", "c")
    s.run(until=21)
    # what the new primary runs reaches the demoted one's subscribers: sent in (9, 20)
    assert len(_messages(stale.listen())) == pytest.approx(11_000, abs=1)
    assert_conserved(s.trace, drained=True)


def test_replicaof_no_one_by_hand_keeps_the_replica_subscribers():
    """Redis's own REPLICAOF NO ONE does not close Pub/Sub clients (only Sentinel does)."""
    s = Simulation(seed=2)
    primary, replica = RedisPubSub(s, name="primary"), RedisPubSub(s, name="replica")
    replica.replicaof(primary)
    sub = replica.connect("sub")
    sub.execute("SUBSCRIBE", "c")
    s.run(until=1)
    replica.replicaof(None)
    assert sub.connected and replica.connect("pub").execute("PUBLISH", "c", b"x") == 1
    assert primary.connect("pub").execute("PUBLISH", "c", b"y") == 0
    s.run(until=2)
    assert _messages(sub.listen()) == [b"x"]


def test_same_seed_and_schedule_give_the_same_trace():
    def run():
        s, _primary, replica, sentinel = _pair(seed=9, down_after=2.0, failover_delay=0.5)
        sentinel.subscriber("p", ["c"], reconnect_delay=0.25, service=0.0002)
        sentinel.subscriber("r", ["c"], on=replica, reconnect_delay=0.25)
        rng = s.rng("arrivals")
        times = np.cumsum(rng.exponential(1 / 2000, 20_000))
        sentinel.feed(times, ["c"] * len(times), 200)
        schedule = FaultSchedule.random(s.rng("faults"), ["primary"], rate=0.2,
                                        duration=8, downtime=(1.0, 6.0))
        schedule.attach(s, sentinel)
        s.run(until=times[-1] + 2)
        assert_conserved(s.trace, drained=True)
        return s.trace, len(schedule)

    (a, faults), (b, _) = run(), run()
    assert faults > 0
    for name, table in a.tables.items():
        for col, values in table.to_dict().items():
            assert np.array_equal(values, b.tables[name][col]), (name, col)
    assert a.events == b.events
    assert a.events_of("failover")  # the schedule did trigger at least one failover


@pytest.mark.parametrize("seed", range(6))
def test_random_crashes_of_either_server_keep_every_copy_accounted_for(seed):
    s, primary, replica, sentinel = _pair(seed=seed, down_after=1.5, failover_delay=0.5)
    sentinel.subscriber("p", ["c"], patterns=["c*"], reconnect_delay=0.2, service=0.0003)
    sentinel.subscriber("r", ["c"], on=replica, reconnect_delay=0.3)
    plain = primary.connect("plain")  # not Sentinel-aware: stays with its server
    plain.execute("SUBSCRIBE", "c")
    times = np.cumsum(s.rng("arrivals").exponential(1 / 1000, 15_000))
    sentinel.feed(times, ["c"] * len(times), 300)
    FaultSchedule.random(s.rng("faults"), ["primary", "replica"], rate=0.4, duration=12,
                         downtime=(0.5, 4.0)).attach(s, sentinel)
    s.run(until=times[-1] + 3)
    from models.redis_pubsub.glob import stringmatch

    report = check_pubsub(s.trace, stringmatch, drained=True)
    assert report.ok, report.explain()
    assert sum(x.duplicated for x in report.receivers) == 0


def test_a_cut_of_the_replication_link_is_refused_clearly():
    s, _primary, _replica, sentinel = _pair()
    FaultSchedule.partition("primary", "replica", at=1, duration=1).attach(s, sentinel)
    with pytest.raises(ValueError, match="replication link"):
        s.run(until=2)
