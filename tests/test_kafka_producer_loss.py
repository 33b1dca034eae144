"""The producer over a lossy or cut client link: what idempotence and ``acks=0`` do with lost
hops (kafka.md §2.3, §2.4). Exact outcomes, each checked against the raw trace."""

from __future__ import annotations

import numpy as np
import pytest

from models.kafka import KafkaCluster
from models.kafka.network import broker_name
from sim import Simulation
from sim.faults import FaultSchedule
from sim.trace import REASON_CODE


def cluster(seed: int = 1) -> tuple[Simulation, KafkaCluster]:
    s = Simulation(seed=seed)
    k = KafkaCluster(s, brokers=1)
    k.create_topic("t", partitions=1, replication_factor=1)
    return s, k


@pytest.mark.parametrize("seed", [1, 2])
def test_idempotent_producer_under_link_loss_loses_nothing_and_keeps_order(seed):
    """1 % of client-broker hops lost; one record every 10 ms, each its own batch. A request
    or answer lost costs one ``request.timeout.ms`` (30 s) and a retry. The broker remembers
    the last 5 batches per producer id and the producer never numbers more than 5 batches from
    its oldest unresolved one, so a batch written whose answer was lost comes back as a
    duplicate with its offsets. Before: the producer kept sending, the retry fell outside the
    broker's 5 batches, got OutOfOrderSequence until delivery.timeout.ms (~120 s stall), and
    reported a loss of a record that was in the log."""
    s, k = cluster(seed)
    k.link.loss = 0.01
    p = k.producer({"linger.ms": 0})
    sends = []

    def go():
        for _ in range(2000):
            sends.append(p.send("t", value=b"x" * 100))
            yield s.env.timeout(0.01)
    s.process(go())
    s.run(until=200)
    assert all(e.triggered and e.ok for e in sends)
    offsets = [e.value.offset for e in sends]
    assert offsets == list(range(2000))                 # in send order, no duplicate
    assert s.trace.drop_counts() == {}
    assert "send_failed" not in s.trace.tables or len(s.trace.tables["send_failed"]) == 0
    app = s.trace.tables["appended"]
    assert len(app) == 2000
    pub = dict(zip(s.trace.published["msg"].tolist(), s.trace.published["t"].tolist(),
                   strict=True))
    latency = [t - pub[m] for m, t in zip(s.trace.acked["msg"].tolist(),
                                          s.trace.acked["t"].tolist(), strict=True)]
    assert max(latency) < 30 + 1.0                      # one request timeout, then a retry


def test_idempotent_producer_numbers_again_after_a_batch_expires():
    """The client link is cut from 10 s to 150 s, longer than ``delivery.timeout.ms``: the
    records sent up to 30 s expire, one of them written but unanswered. Kafka's idempotent
    producer bumps its epoch when a numbered batch fails with no later one acknowledged
    (KIP-360), so the records sent after the heal are written. Before: their sequences
    followed the expired ones, every one was OutOfOrderSequence and all expired too."""
    s, k = cluster()
    k.link.cut(10.0, 150.0)
    p = k.producer({"linger.ms": 0})
    times = np.arange(3000) * 0.1
    bulk = p.produce("t", times, np.full(3000, 100))
    s.run(until=500)
    after = times >= 150.0
    assert np.all(bulk.error[after] == 0) and not np.isnan(bulk.acked_at[after]).any()
    assert np.all(bulk.error[times < 10.0] == 0)
    assert np.all(bulk.error[(times >= 10.0) & (times < 30.0)] != 0)
    app = s.trace.tables["appended"]
    assert len(np.unique(app["msg"])) == len(app)       # nothing written twice
    written = np.isin(bulk.msg, app["msg"])
    assert np.all(written[bulk.error == 0])


@pytest.mark.parametrize("cut", [5.0, 50.0])
def test_acks_0_records_lost_to_a_cut_are_traced_as_dropped(cut):
    """``acks=0``: a send completes when it leaves. Across a cut TCP holds the bytes; if the
    cut heals within ``request.timeout.ms`` they arrive, else they are gone — each such record
    is traced ``dropped`` (receiver -1, reason ``acks-0``), so published = appended + dropped.
    Before: the records held by a cut that healed too late vanished without a trace."""
    s, k = cluster()
    p = k.producer({"acks": "0", "linger.ms": 0, "client.id": "p"})
    bulk = p.produce("t", np.arange(2000) * 0.05, np.full(2000, 100))
    FaultSchedule.partition("p", broker_name(0), at=10.0, duration=cut).attach(s, k)
    s.run(until=200)
    assert bulk.acked == 2000                           # acks=0: every send "succeeded"
    app = s.trace.tables["appended"]["msg"]
    dropped = s.trace.dropped
    assert set(dropped["reason"].tolist()) <= {REASON_CODE["acks-0"]}
    assert np.all(dropped["receiver"] == -1)
    assert sorted([*app.tolist(), *dropped["msg"].tolist()]) == sorted(bulk.msg.tolist())
    if cut < 30.0:
        assert len(dropped) == 0
    else:  # sent during the cut, 30 s or more before the heal at 60 s
        assert len(dropped) > 0
        lost_times = bulk.times[np.isin(bulk.msg, dropped["msg"])]
        assert lost_times.min() >= 10.0 and lost_times.max() <= 60.0 - 30.0 + 0.05


@pytest.mark.parametrize("nulls", [1, 4])
def test_idempotent_producer_after_a_rejected_batch_keeps_the_order_of_later_sends(nulls):
    """``nulls`` batches are rejected for good (a null key on a compacted topic:
    InvalidRecord) while later batches of the partition are in flight; they come back
    OutOfOrderSequence (the broker never saw the rejected sequence). The producer bumps its
    epoch (KIP-360), numbers them anew in the order they were first sent, and numbers no new
    batch while one of the old epoch is in flight. Found by the property machine: before,
    the later batches expired after delivery.timeout.ms (a phantom loss); with the epoch bump
    alone, they were written out of order."""
    s = Simulation(seed=0)
    k = KafkaCluster(s, brokers=1, latency=0.005)
    k.create_topic("state", partitions=1, replication_factor=1,
                   config={"cleanup.policy": "compact"})
    p = k.producer({"linger.ms": 0})
    sends = []

    def go(nulls: int):
        for i in range(nulls + 3):
            sends.append(p.send("state", value=b"x", key=None if i < nulls else b"a"))
            yield s.env.timeout(0.002)
    s.process(go(nulls))
    s.run(until=10)
    assert not any(e.ok for e in sends[:nulls])
    assert [e.ok for e in sends[nulls:]] == [True] * 3
    assert [e.value.offset for e in sends[nulls:]] == [0, 1, 2]
    assert s.trace.acked["t"].max() < 5.0            # retry backoffs, not delivery.timeout
