"""Fault schedules (sim.faults): validation, ordering, reproducible random schedules."""

import numpy as np
import pytest

from sim import Simulation
from sim.faults import Fault, FaultSchedule, schedule_from


def test_faults_are_sorted_and_validated():
    s = FaultSchedule((Fault(5, "restart", "redis"), Fault("2s", "crash", "redis")))
    assert [f.t for f in s] == [2.0, 5.0]
    with pytest.raises(ValueError, match="did you mean 'crash'"):
        Fault(1, "crsh", "redis")
    with pytest.raises(ValueError, match="pair of parties"):
        Fault(1, "cut", "redis")
    with pytest.raises(ValueError, match="0 <= p < 1"):
        Fault(1, "loss", ("a", "b"), {"p": 1.5})
    assert Fault(1, "pause", "redis", {"duration": "500ms"}).params["duration"] == 0.5


def test_builders_and_dicts():
    outage = FaultSchedule.outage("b1", at=10, duration=5)
    assert outage.describe() == ["t=10s crash b1", "t=15s restart b1"]
    cut = FaultSchedule.partition("redis", "s1", at=1, duration=2, direction="one-way")
    assert [f.action for f in cut] == ["cut", "heal"]
    from_dicts = schedule_from([{"t": 3, "action": "disconnect", "target": "s1"},
                                {"t": 1, "action": "cut", "target": ["redis", "s1"]}])
    assert [f.t for f in from_dicts] == [1.0, 3.0]


def test_random_schedule_is_reproducible_and_never_overlaps_a_target():
    def draw(seed):
        return FaultSchedule.random(Simulation(seed=seed).rng("faults"), ["b1", "b2", "b3"],
                                    rate=0.2, duration=1000, downtime=(1, 20))
    a, b = draw(3), draw(3)
    assert a == b and len(a) > 100 and a != draw(4)
    for target in ("b1", "b2", "b3"):
        mine = [f for f in a if f.target == target]
        actions = [f.action for f in mine]
        assert actions == ["crash", "restart"] * (len(mine) // 2)
        times = np.array([f.t for f in mine])
        assert (np.diff(times) >= 0).all()


def test_attach_rejects_unknown_parties_before_the_run():
    class Model:
        def fault_targets(self):
            return {"redis"}

        def apply_fault(self, fault):
            self.got = fault

    sim = Simulation()
    with pytest.raises(ValueError, match="no model has a party called 'nope'"):
        FaultSchedule((Fault(1, "crash", "nope"),)).attach(sim, Model())
    model = Model()
    FaultSchedule((Fault(1, "crash", "redis"),)).attach(sim, model)
    sim.run(until=2)
    assert model.got.action == "crash" and sim.trace.events_of("fault")[0].t == 1.0
