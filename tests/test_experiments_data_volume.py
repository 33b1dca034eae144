"""data-volume: its phased workload and its byte-rate-limited Kafka reader."""

import numpy as np
import pytest

from experiments.scenarios import data_volume as dv
from experiments.scenarios._same_workload import MIB, workload_messages
from sim import Simulation


def test_phases_parse_and_reject_mismatches():
    params = dv.EXPERIMENT.resolve({"rates": "10, 20", "sizes": "100,2048"})
    assert dv.phases(params) == [(10.0, 100), (20.0, 2048)]
    with pytest.raises(ValueError, match="one entry per phase"):
        dv.phases(dv.EXPERIMENT.resolve({"rates": "1,2,3", "sizes": "5,6"}))


def test_each_phase_sends_its_own_rate_and_size():
    params = dv.EXPERIMENT.resolve({"rates": "50,200", "sizes": "1000,4000", "phase.s": 10.0})
    batch = workload_messages(dv._workload(params), Simulation(seed=2))
    first, second = batch.t < 10, batch.t >= 10
    assert set(batch.size[first].tolist()) == {1000}
    assert set(batch.size[second].tolist()) == {4000}
    assert first.sum() == pytest.approx(500, rel=0.15)
    assert second.sum() == pytest.approx(2000, rel=0.1)


def test_kafka_reader_takes_in_at_most_its_byte_rate():
    params = dv.EXPERIMENT.resolve({"rates": "40", "sizes": "262144", "phase.s": 5.0,
                                    "drain.s": 5.0, "receiver.MiBps": 4.0})
    metrics, series = dv.run_kafka(params, seed=1)
    values = {m.metric: m.value for m in metrics}
    # 10 MiB/s offered into a 4 MiB/s reader: it falls behind, reading <= 4 MiB/s
    assert values["delivered from phase 1"] <= 4 * MIB * 10 / 262144 + 4
    assert values["peak consumer lag"] > 20
    assert np.all(np.diff(series["kafka"]["t"]) > 0)
