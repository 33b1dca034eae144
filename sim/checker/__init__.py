"""The delivery checker: what each receiver was owed, what it got, what it lost and why.

``check_pubsub(trace, match=stringmatch)`` checks a push broker (Redis Pub/Sub) trace;
``check_log(trace)`` a partitioned log (Kafka). Both return a :class:`CheckReport`: tidy
findings (anomaly, receiver, count, first time, cause) named after ``shared/reference/
checking.md`` §7 (and Jepsen's Kafka checker), a summary per receiver, ``.ok`` and
``.explain()`` in sentences. ``assert_conserved(trace)`` fails loudly when an owed copy was
neither delivered nor dropped with a reason (a model bug).
"""

from sim.checker.conservation import assert_conserved
from sim.checker.findings import CATALOGUE, CheckReport, Finding, Latency, ReceiverSummary
from sim.checker.log import check_log
from sim.checker.pubsub import check_pubsub
from sim.checker.rebuild import replace_tables, trace_from_columns

__all__ = [
    "CATALOGUE",
    "CheckReport",
    "Finding",
    "Latency",
    "ReceiverSummary",
    "assert_conserved",
    "check_log",
    "check_pubsub",
    "replace_tables",
    "trace_from_columns",
]
