"""Replication: followers fetch, the ISR shrinks and grows, the HW is the lowest LEO in the ISR,
min.insync.replicas gates acks=all and the HW, a crashed follower is fenced and comes back."""

import numpy as np
import pytest

from models.kafka import KafkaCluster
from models.kafka.errors import NotEnoughReplicasError
from models.kafka.invariants import step_violations
from models.kafka.network import broker_name
from sim import Simulation
from sim.faults import Fault, FaultSchedule

LAT = 0.0005


def setup(rf=3, min_isr=1, brokers=3, partitions=1, seed=0, **topic):
    s = Simulation(seed=seed)
    k = KafkaCluster(s, brokers=brokers)
    k.create_topic("t", partitions=partitions, replication_factor=rf,
                   config={"min.insync.replicas": min_isr, **topic})
    return s, k, k.partition("t", 0)


def send_every(s, producer, start, stop, step, partition=0):
    """One 100-byte record every ``step`` seconds in [start, stop); the send events."""
    events = []

    def run():
        t = start
        while t < stop:
            yield s.timeout(t - s.now)
            events.append(producer.send("t", value=b"x" * 100, partition=partition))
            t += step

    s.process(run())
    return events


def cut_leader(part, at, until=None):
    """Cut the leader off from every follower at ``at`` (and heal at ``until``)."""
    faults = []
    for b in part.replicas:
        if b != part.leader:
            pair = (broker_name(part.leader), broker_name(b))
            faults.append(Fault(at, "cut", pair))
            if until is not None:
                faults.append(Fault(until, "heal", pair))
    return FaultSchedule(tuple(faults))


def test_followers_copy_the_leader_and_the_hw_follows_the_slowest_isr_member():
    s, k, part = setup()
    p = k.producer({"linger.ms": 0})
    send_every(s, p, 0.0, 2.0, 0.01)
    s.run(until=0.995)
    # steady: the rounds' outcome is computed, not simulated (no event per fetch round)
    assert part.log_end_offset == 100 and not k.replicating
    assert [part.replica_leo(b) for b in part.replicas] == [100, 100, 100]
    assert part.high_watermark == 100 and part.isr == part.replicas
    assert sum(fx.rounds for fx in k.controller.fetchers.values()) == 0
    # any fault starts the rounds (here one that does not touch replication: latency between
    # the producer and a follower): one per append and follower, never one per record
    pair = (p.client_id, broker_name(part.replicas[1]))
    FaultSchedule((Fault(1.0, "latency", pair, {"extra": 0.01}),
                   Fault(2.05, "latency", pair, {"extra": 0.0}))).attach(s, k)
    s.run(until=2.04)
    assert k.replicating
    s.run(until=2.1)
    assert part.log_end_offset == 200 and part.high_watermark == 200
    assert [part.replica_leo(b) for b in part.replicas] == [200, 200, 200]
    rounds = sum(fx.rounds for fx in k.controller.fetchers.values())
    assert 200 <= rounds <= 200 + 2 * 3
    assert step_violations(k) == []
    # nothing is wrong and everyone has caught up: steady again
    assert not k.replicating
    kinds = [e.kind for e in s.trace.events if e.kind in ("replicating", "steady")]
    assert kinds[0] == "replicating" and kinds[-1] == "steady"


def test_a_cut_follower_holds_the_hw_until_it_leaves_the_isr_then_rejoins():
    s, k, part = setup()
    slow = part.replicas[1]
    FaultSchedule.partition(broker_name(part.leader), broker_name(slow), at=1.0,
                            duration=59.0).attach(s, k)
    p = k.producer({"linger.ms": 0, "acks": 1})
    send_every(s, p, 0.0, 50.0, 0.1)
    s.run(until=10)
    assert part.replica_leo(slow) == 10 and part.high_watermark == 10  # stuck at the cut
    assert part.log_end_offset == 100 and slow in part.isr
    # replica.lag.time.max.ms = 30 s: the ISR check every 15 s drops it at t=45
    s.run(until=44.9)
    assert slow in part.isr and part.high_watermark == 10
    s.run(until=45.1)
    assert slow not in part.isr and part.high_watermark == part.log_end_offset == 451
    shrink = [e for e in s.trace.events_of("isr-shrink")]
    assert [(e.t, e.detail["brokers"], e.detail["reason"]) for e in shrink] == [
        (45.0, (slow,), "lagging")]
    # healed at 60: its pending fetch, held by TCP, reaches the leader; the answer brings it
    # up to date and its next fetch (at the HW) puts it back in the ISR
    s.run(until=60.01)
    assert slow in part.isr and part.replica_leo(slow) == part.log_end_offset == 500
    assert [e.t for e in s.trace.events_of("isr-expand")] == [pytest.approx(60 + 3 * LAT)]


def test_under_min_isr_acks_all_fails_before_writing_and_the_hw_stays():
    s, k, part = setup(min_isr=2)
    cut_leader(part, at=1.0).attach(s, k)
    s.run(until=46)
    assert part.isr == [part.leader]  # both followers dropped at t=45
    strict = k.producer({"retries": 0})
    loose = k.producer({"acks": 1})
    before = part.log_end_offset
    refused = strict.send("t", value=b"v", partition=0)
    written = loose.send("t", value=b"v", partition=0)
    s.run(until=47)
    assert isinstance(refused.value, NotEnoughReplicasError)
    assert written.value.offset == before  # acks=1 writes ...
    assert part.log_end_offset == before + 1  # ... only its record; acks=all wrote nothing
    assert part.high_watermark == before  # and it is not visible (Kafka 3.7+)


def test_acks_1_answers_after_the_leader_append_acks_all_after_the_followers():
    s, k, _part = setup()
    one, everyone = k.producer({"acks": 1, "linger.ms": 0}), k.producer({"linger.ms": 0})
    a = one.send("t", value=b"v", partition=0)
    s.run(until=0.1)
    b = everyone.send("t", value=b"v", partition=0)
    s.run(until=0.2)
    acked = dict(zip(s.trace.acked["msg"].tolist(), s.trace.acked["t"].tolist(), strict=True))
    assert acked[a.value.msg] == pytest.approx(2 * LAT)
    assert acked[b.value.msg] == pytest.approx(0.1 + 4 * LAT)


def test_a_crashed_follower_is_fenced_then_catches_up_and_rejoins_the_isr():
    s, k, part = setup(min_isr=2)
    follower = part.replicas[2]
    FaultSchedule.outage(broker_name(follower), at=2.0, duration=18.0).attach(s, k)
    p = k.producer({"linger.ms": 0})
    events = send_every(s, p, 0.0, 30.0, 0.1)
    s.run(until=10.9)
    assert follower in part.isr  # not fenced yet: acks=all waits for it
    assert part.high_watermark == 20
    s.run(until=11.1)  # broker.session.timeout.ms = 9 s after the crash
    assert part.isr == [b for b in part.replicas if b != follower]
    assert part.high_watermark == part.log_end_offset
    s.run(until=20.1)
    assert follower in part.isr and part.replica_leo(follower) == part.log_end_offset
    s.run(until=31)
    assert all(e.ok for e in events)
    assert [e.value.offset for e in events] == list(range(300))
    fenced = s.trace.events_of("broker-fenced")
    assert [(e.t, e.who) for e in fenced] == [(11.0, broker_name(follower))]


def test_a_long_pause_of_the_leader_moves_the_leadership():
    s, k, part = setup(min_isr=2)
    old = part.leader
    FaultSchedule((Fault(1.0, "pause", broker_name(old), {"duration": 20.0}),)).attach(s, k)
    s.run(until=9.9)
    assert part.leader == old
    s.run(until=10.1)  # broker.session.timeout.ms after the pause began
    new = part.leader
    assert new != old and new in part.replicas and part.leader_epoch == 1
    s.run(until=21.1)  # it resumes, follows the new leader and catches up
    assert old in part.isr and part.leader == new


def test_replication_keeps_every_replica_on_the_leaders_log():
    s, k, part = setup(partitions=4, min_isr=2)
    p = k.producer({"linger.ms": 2})
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0, 30, 3000))
    p.produce("t", times, np.full(3000, 50))
    down = part.replicas[1]
    FaultSchedule.outage(broker_name(down), at=5.0, duration=10.0).attach(s, k)
    found = []
    for t in np.arange(0.05, 40, 0.05):
        s.run(until=float(t))
        found += step_violations(k)
    assert found == []
    assert all(p_.isr == p_.replicas or sorted(p_.isr) == sorted(p_.replicas)
               for p_ in k.topics["t"].partitions)
