"""Findings as data: the anomaly catalogue, one row per (receiver, anomaly, cause), and the report.

A checker returns a :class:`CheckReport`: a tidy table of :class:`Finding` rows (who, what, how
many, when first, why) and one :class:`ReceiverSummary` per subscriber or consumer (what it was
owed, what it got, what it lost and why, duplicates, reordering, latency). Every finding also
reads as one plain sentence (:mod:`sim.checker.explain`).

The anomaly names and ids are those of ``shared/reference/checking.md`` §7: ``P1``–``P9`` for a
push broker (Redis Pub/Sub), ``L1``–``L12`` for a partitioned log (after Jepsen's Kafka checker,
``jepsen/src/jepsen/tests/kafka.clj``). Which ones are *errors* (the guarantee is broken, or the
model has a bug) and which are *expected* (at-most-once loss with a recorded cause) is part of
the catalogue; a few depend on the configuration being checked and are decided by the checker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.checker.explain import finding_sentence, summary_sentence


@dataclass(frozen=True, slots=True)
class Kind:
    """One anomaly kind of the catalogue."""

    name: str
    code: str  # catalogue id (checking.md §7), "" for diagnostics
    error: bool  # default verdict
    meaning: str


CATALOGUE: Mapping[str, Kind] = {
    k.name: k
    for k in (
        # push broker (checking.md §7.C)
        Kind("phantom", "P1", True, "delivered a message that was never published/executed"),
        Kind("misrouted", "P2", True, "delivered without a matching subscription"),
        Kind("duplicate", "P3", True, "delivered more than once per matching subscription"),
        Kind("unexplained-loss", "P4", True,
             "owed, neither delivered nor dropped with a reason (conservation violated)"),
        Kind("lost", "P5", False, "owed, dropped with a recorded cause (at-most-once)"),
        Kind("history-leak", "P6", True, "delivered a message executed before SUBSCRIBE"),
        Kind("post-unsubscribe", "P7", True, "delivered a message executed after UNSUBSCRIBE"),
        Kind("out-of-order", "P8", True, "delivery order differs from execution order"),
        Kind("receiver-count", "P9", True, "PUBLISH reply differs from the copies made"),
        Kind("missed-while-away", "", False,
             "meant to get it but was not subscribed: disconnected at the time"),
        Kind("in-flight-at-end", "", False, "owed and still on its way when the trace ends"),
        # partitioned log (checking.md §7.A)
        Kind("inconsistent-offsets", "L1", True, "two different records at one offset"),
        Kind("duplicate-write", "L2", True, "one record written at more than one offset"),
        Kind("lost-write", "L3", True,
             "an acknowledged record below an offset someone read was never read by anyone"),
        Kind("unseen", "L4", False, "an acknowledged record nobody had read at the end"),
        Kind("aborted-read", "L5", True, "read a record whose send definitely failed (G1a)"),
        Kind("phantom-read", "L6", True, "read a record that was never sent"),
        Kind("poll-skip", "L7", False, "a consumer jumped over offsets of a partition"),
        Kind("nonmonotonic-poll", "L8", False, "a consumer went back or re-read an offset"),
        Kind("nonmonotonic-send", "L10", False,
             "a producer's later send to a partition got a lower offset"),
        Kind("double-ownership", "L12", True, "two live group members owned one partition"),
        Kind("redelivered", "", False, "a group processed a record more than once"),
        Kind("lag", "", False, "records of its partitions the group had not read at the end"),
    )
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One row of the findings table: ``count`` occurrences of ``kind`` at ``receiver``.

    ``cause`` is a drop reason (``output-buffer-limit``, ``retention``, ...) where one applies;
    ``first_t`` the simulated time of the first occurrence; ``examples`` the first message ids
    involved; ``detail`` a few words more (which channel, pattern or partition).
    """

    receiver: str
    kind: str
    count: int
    first_t: float
    cause: str = ""
    detail: str = ""
    error: bool = True
    examples: tuple[int, ...] = ()

    @property
    def code(self) -> str:
        found = CATALOGUE.get(self.kind)
        return found.code if found else ""

    def sentence(self) -> str:
        return finding_sentence(self)

    def to_row(self) -> dict[str, object]:
        return {
            "receiver": self.receiver, "kind": self.kind, "code": self.code,
            "error": self.error, "count": self.count, "first_t": self.first_t,
            "cause": self.cause, "detail": self.detail,
            "examples": " ".join(map(str, self.examples)), "sentence": self.sentence(),
        }


def finding(kind: str, receiver: str, count: int, first_t: float, *, cause: str = "",
            detail: str = "", examples: tuple[int, ...] = (), error: bool | None = None
            ) -> Finding:
    """A :class:`Finding` whose verdict defaults to the catalogue's."""
    verdict = CATALOGUE[kind].error if error is None else error
    return Finding(receiver, kind, int(count), float(first_t), cause, detail, verdict,
                   tuple(int(m) for m in examples))


@dataclass(frozen=True, slots=True)
class Latency:
    """Delivery latency (seconds from send to delivery) over ``n`` deliveries."""

    n: int = 0
    p50: float = math.nan
    p95: float = math.nan
    p99: float = math.nan
    max: float = math.nan


@dataclass(frozen=True, slots=True)
class ReceiverSummary:
    """What one receiver (a Redis connection, a Kafka consumer group) was owed and got.

    ``entitled`` copies it was owed; ``delivered`` of those it got (once each); ``lost`` the rest
    by cause (``unexplained`` for copies with no recorded cause — a model bug);
    ``in_flight`` still on the way at the end; ``away`` copies it meant to get but was not
    subscribed for, by why it was away; ``duplicated`` extra deliveries; ``out_of_order``
    deliveries that came after a later-executed (later-offset) one.
    """

    receiver: str
    entitled: int
    delivered: int
    lost: Mapping[str, int] = field(default_factory=dict)
    in_flight: int = 0
    away: Mapping[str, int] = field(default_factory=dict)
    duplicated: int = 0
    out_of_order: int = 0
    latency: Latency = Latency()
    group: str | None = None

    @property
    def lost_total(self) -> int:
        return sum(self.lost.values())

    def sentence(self) -> str:
        return summary_sentence(self)

    def to_row(self) -> dict[str, object]:
        row: dict[str, object] = {
            "receiver": self.receiver, "group": self.group, "entitled": self.entitled,
            "delivered": self.delivered, "lost": self.lost_total, "in_flight": self.in_flight,
            "away": sum(self.away.values()), "duplicated": self.duplicated,
            "out_of_order": self.out_of_order, "latency_n": self.latency.n,
            "latency_p50": self.latency.p50, "latency_p95": self.latency.p95,
            "latency_p99": self.latency.p99, "latency_max": self.latency.max,
        }
        for cause, n in sorted(self.lost.items()):
            row[f"lost_{cause}"] = n
        for cause, n in sorted(self.away.items()):
            row[f"away_{cause}"] = n
        return row


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What a checker found in one trace.

    ``findings`` is the tidy anomaly table, ``receivers`` the per-receiver accounting. ``ok`` is
    true when no finding is an error. ``explain()`` says it all in sentences.
    """

    model: str  # "pubsub" or "log"
    findings: tuple[Finding, ...]
    receivers: tuple[ReceiverSummary, ...]

    @property
    def ok(self) -> bool:
        return not any(f.error for f in self.findings)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.error)

    def kinds(self, errors_only: bool = False) -> set[str]:
        """The anomaly kinds found (only error-class ones with ``errors_only``)."""
        return {f.kind for f in self.findings if f.error or not errors_only}

    def of(self, kind: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == kind)

    def count(self, kind: str) -> int:
        return sum(f.count for f in self.findings if f.kind == kind)

    def receiver(self, name: str) -> ReceiverSummary:
        for summary in self.receivers:
            if summary.receiver == name:
                return summary
        raise KeyError(f"no receiver {name!r}; known: {[s.receiver for s in self.receivers]}")

    def summary(self) -> list[dict[str, object]]:
        """One tidy row per receiver: entitled, delivered, lost (and by cause), duplicated,
        out of order, latency percentiles."""
        return [s.to_row() for s in self.receivers]

    def to_rows(self) -> list[dict[str, object]]:
        """The findings as tidy rows (``pandas.DataFrame(report.to_rows())``)."""
        return [f.to_row() for f in self.findings]

    def sentences(self) -> list[str]:
        errors = [f.sentence() for f in self.findings if f.error]
        per_receiver = [s.sentence() for s in self.receivers]
        notes = [f.sentence() for f in self.findings if not f.error]
        return errors + per_receiver + notes

    def explain(self) -> str:
        """Everything found, one sentence a line: errors first, then each receiver, then notes."""
        head = ("No anomalies that break the guarantee." if self.ok else
                f"{len(self.errors)} kind(s) of error found.")
        return "\n".join([head, *self.sentences()])

    def __str__(self) -> str:
        return self.explain()
