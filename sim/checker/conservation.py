"""Conservation: every copy a receiver was owed is delivered, or dropped with a reason.

A message may be lost — Redis Pub/Sub is at-most-once and Kafka deletes by retention — but never
silently: the model must say where each owed copy went (``checking.md`` §6, "every run checks
conservation"). A copy that is neither delivered nor dropped is a bug in the model, so
:func:`assert_conserved` raises with the first examples.
"""

from __future__ import annotations

from sim.checker.findings import CheckReport
from sim.checker.pubsub import Match, check_pubsub
from sim.trace import Trace


def is_log_trace(trace: Trace) -> bool:
    """True for a partitioned-log trace (records have partitions and offsets)."""
    if "appended" in trace.tables:
        return True
    parts = trace.published["partition"]
    acked = trace.acked["offset"]
    return bool(len(acked) and (acked >= 0).any()) or bool(len(parts) and (parts >= 0).any())


def conservation_report(trace: Trace, match: Match | None = None, *,
                        drained: bool = False) -> CheckReport:
    """The checker's report for ``trace`` (pub/sub or log, whichever it is)."""
    if is_log_trace(trace):
        from sim.checker.log import check_log

        return check_log(trace, drained=drained)
    return check_pubsub(trace, match, drained=drained)


def assert_conserved(trace: Trace | CheckReport, match: Match | None = None, *,
                     drained: bool = False) -> None:
    """Raise ``AssertionError`` naming the first unexplained losses, if there are any.

    ``trace`` may be a trace (checked here; ``match`` is the broker's glob for pattern
    subscriptions) or a report already made. ``drained=True`` when the run went on until
    nothing was in flight, so copies still owed at the end count as lost.
    """
    report = trace if isinstance(trace, CheckReport) else conservation_report(
        trace, match, drained=drained)
    broken = report.of("unexplained-loss")
    if broken:
        lines = [f.sentence() for f in broken[:5]]
        total = sum(f.count for f in broken)
        raise AssertionError(
            f"conservation violated: {total} owed copies neither delivered nor dropped "
            "with a reason (a model bug)\n  " + "\n  ".join(lines))
