"""White-box replication invariants (``shared/reference/checking.md`` §7.B, W1–W7).

The black-box checker (``sim.checker.check_log``) judges what clients saw; these functions look
inside the model, where the ground truth is. Each returns a list of violations as sentences
(empty when all is well). ``step_violations`` holds the cheap state-only ones (W1, W3, W4, W7),
meant to run after simulation steps (``watch``); ``run_violations`` the ones that read the
trace (W2, W5, W6), meant for the end of a run.

- W1 LogMatching: replicas agree below their common end. The replicas share one copy of the
  records (``models.kafka.replication``), so this holds by construction; what is checked is
  that no replica's LEO is beyond the leader's log.
- W2 LeaderCompleteness: the leader holds every record acknowledged with ``acks=all``, at the
  offset the producer was told, and its LEO is at least the HW.
- W3 StrongIsr: every live ISR member holds every offset below the HW.
- W4 the HW never goes back (checked against the highest HW ever exposed; per-replica HWs may,
  and are not checked).
- W5 ConsistentRead: a record once consumed at an offset is still there on the leader.
- W6 NoCommittedRecordLostGlobally: no leader change ever truncated below the HW of the time.
- W7 LeaderInIsr: a partition with a leader has it in its ISR.

With ``acks=1``, unclean leader election or ``min.insync.replicas`` < 2 some of these are
*expected* to break; the tests then assert that the black-box checker reports the loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import simpy


def step_violations(cluster: Any) -> list[str]:
    """W1, W3, W4, W7 on the cluster's current state."""
    out = []
    for part in cluster.all_partitions():
        name = part._name()
        log = part.log
        leo, hw = log.log_end_offset, log.high_watermark
        for b in part.replicas:
            if part.replica_leo(b) > leo:
                out.append(f"W1 {name}: replica {b} has LEO {part.replica_leo(b)} beyond the "
                           f"leader's {leo}")
        if part.leader >= 0:
            if part.leader not in part.isr:
                out.append(f"W7 {name}: leader {part.leader} is not in the ISR {part.isr}")
            for b in part.isr:
                if cluster.broker_live(b) and part.replica_leo(b) < hw:
                    out.append(f"W3 {name}: ISR member {b} has LEO {part.replica_leo(b)} "
                               f"below the HW {hw}")
        if hw < part.max_high_watermark:
            out.append(f"W4 {name}: the HW went back from {part.max_high_watermark} to {hw}")
    return out


def _placed(part: Any) -> dict[int, int]:
    cols = part.log.columns()
    return dict(zip(cols["offset"].tolist(), cols["msg"].tolist(), strict=True))


def run_violations(cluster: Any, acks_all_sources: Iterable[str] = ()) -> list[str]:
    """W2 (for the producers named in ``acks_all_sources``), W5, W6 from the trace."""
    trace = cluster.trace
    out = []
    by_part = {(p.topic_id, p.index): p for p in cluster.all_partitions()}
    logs = {key: _placed(p) for key, p in by_part.items()}
    deleted = set()
    ld = trace.tables.get("log_deleted")
    if ld is not None and len(ld):
        deleted = set(ld["msg"].tolist())
    pub = trace.published
    topic_of = dict(zip(pub["msg"].tolist(), pub["channel"].tolist(), strict=True))
    # W2: acks=all acknowledgements are on the leader at their offset
    sources = {trace.sources.id(s) for s in acks_all_sources}
    if sources:
        src_of = dict(zip(pub["msg"].tolist(), pub["source"].tolist(), strict=True))
        ack = trace.acked
        for msg, partition, offset in zip(ack["msg"].tolist(), ack["partition"].tolist(),
                                          ack["offset"].tolist(), strict=True):
            if src_of.get(msg) not in sources or offset < 0 or msg in deleted:
                continue
            found = logs[(topic_of[msg], partition)].get(offset)
            if found != msg:
                out.append(f"W2 acknowledged record {msg} is not at offset {offset} of "
                           f"partition {partition} (found {found})")
    for (_t, _i), part in by_part.items():
        if part.leader >= 0 and part.log.log_end_offset < part.log.high_watermark:
            out.append(f"W2 {part._name()}: LEO below the HW")
    # W5: consumed records are still in the log (a read is below the HW, so a record read
    # and later truncated everywhere was truncated below the HW)
    app, tr = trace.tables.get("appended"), trace.tables.get("truncated")
    if app is not None and tr is not None and len(tr) and len(trace.delivered):
        rows = set(zip(app["msg"].tolist(), app["channel"].tolist(),
                       app["partition"].tolist(), app["offset"].tolist(), strict=True))
        gone = set(zip(tr["msg"].tolist(), tr["channel"].tolist(), tr["partition"].tolist(),
                       tr["offset"].tolist(), strict=True))
        alive = {row[0] for row in rows - gone}
        read = set(np.unique(trace.delivered["msg"]).tolist())
        for msg in sorted((read & {row[0] for row in gone}) - alive - deleted):
            out.append(f"W5 record {msg} was read, and a leader change removed it")
    # W6: no truncation below the HW of its time
    for part in by_part.values():
        for t, end, n, hw in part.truncations_below_hw():
            out.append(f"W6 {part._name()}: a leader change at t={t:g}s removed {n} records "
                       f"from offset {end}, below the HW {hw}")
    return out


def watch(cluster: Any, period: float, found: list[str]) -> simpy.Process:
    """A process that appends ``step_violations`` to ``found`` every ``period`` seconds."""
    env = cluster.env

    def run():
        while True:
            yield env.timeout(period)
            found.extend(f"t={env.now:g}s {v}" for v in step_violations(cluster))

    return env.process(run())
