"""Plain sentences for findings and per-receiver summaries, for students rather than tools.

``"subscriber s2 lost 4 812 messages: output-buffer-limit at t=41.3 s"`` — numbers with thin
groups of three, times in seconds, causes by their trace names, and what each anomaly means in
the words of ``shared/reference/checking.md``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.checker.findings import Finding, ReceiverSummary


def number(n: int) -> str:
    """``4812`` → ``'4 812'`` (groups of three, as in the issue's examples)."""
    return f"{int(n):,}".replace(",", " ")


def seconds(t: float) -> str:
    if not math.isfinite(t):
        return "the end"
    if t == 0 or abs(t) >= 0.1:
        return f"t={t:.1f} s"
    if abs(t) >= 1e-3:
        return f"t={t * 1e3:.1f} ms"
    return f"t={t * 1e6:.1f} µs"


def duration(t: float) -> str:
    if not math.isfinite(t):
        return "n/a"
    if abs(t) >= 1:
        return f"{t:.2f} s"
    if abs(t) >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"


def _plural(n: int, word: str) -> str:
    return f"{number(n)} {word}" + ("" if n == 1 else "s")


def _examples(f: Finding) -> str:
    if not f.examples:
        return ""
    shown = ", ".join(str(m) for m in f.examples)
    return f" (e.g. message{'s' if len(f.examples) > 1 else ''} {shown})"


_TEMPLATES: dict[str, str] = {
    "phantom": "{who} received {n} that {were} never published or never executed by the server",
    "misrouted": "{who} received {n} with no matching subscription when {were_it} executed",
    "duplicate": "{who} received {n} more than once for the same subscription",
    "unexplained-loss": "conservation violated: {who} was owed {n} that {were} neither "
                        "delivered nor dropped with a reason",
    "lost": "{who} lost {n}: {cause}",
    "history-leak": "{who} received {n} executed before its SUBSCRIBE took effect "
                    "(pub/sub has no history)",
    "post-unsubscribe": "{who} received {n} executed after its UNSUBSCRIBE took effect",
    "out-of-order": "{who} received {n} out of execution order",
    "receiver-count": "PUBLISH replied a receiver count different from the copies made for {n}",
    "missed-while-away": "{who} missed {n} while it was not subscribed ({cause})",
    "in-flight-at-end": "{who} still had {n} on the way when the trace ended",
    "inconsistent-offsets": "{n} {were} found at an offset that holds another record too",
    "duplicate-write": "{n} {were} written at more than one offset",
    "lost-write": "{n} {were} acknowledged, lay below an offset someone read, "
                  "and {were_it} never read by anyone (lost write)",
    "unseen": "{n} {were} acknowledged but never read by anyone by the end",
    "aborted-read": "{who} read {n} whose send had failed (aborted read, G1a)",
    "phantom-read": "{who} read {n} that nobody ever sent",
    "poll-skip": "{who} skipped over offsets {count_times}",
    "nonmonotonic-poll": "{who} went back to or re-read an offset {count_times}",
    "nonmonotonic-send": "{who} got a lower offset for a later send {count_times}",
    "double-ownership": "two live members of group {who} owned the same partition "
                        "{count_times}",
    "redelivered": "{who} processed {n} more than once",
    "lag": "{who} had not read {n} of its partitions by the end",
}


def finding_sentence(f: Finding) -> str:
    """One sentence for one finding."""
    noun = "message" if f.kind not in _LOG_KINDS else "record"
    template = _TEMPLATES.get(f.kind, "{who}: {kind} ×{count}")
    if f.kind == "missed-while-away" and f.cause in _NEVER_RAN_THERE:
        template = "{who} missed {n} that its server never ran ({cause})"
    text = template.format(
        who=f.receiver or "the broker", n=_plural(f.count, noun), cause=f.cause or "no cause",
        were="was" if f.count == 1 else "were", were_it="it was" if f.count == 1 else "they were",
        kind=f.kind, count=number(f.count),
        count_times="once" if f.count == 1 else f"{number(f.count)} times",
    )
    when = f" at {seconds(f.first_t)}" if f.kind == "lost" else f", first at {seconds(f.first_t)}"
    detail = f"; {f.detail}" if f.detail else ""
    return f"{text}{when}{detail}{_examples(f)}."


_NEVER_RAN_THERE = frozenset({"replication-link", "no-primary"})
"""Drop reasons of copies a subscriber missed because its server never ran the PUBLISH (it
died on the replication link, or was refused while there was no primary), not because the
subscriber was away."""

_LOG_KINDS = frozenset({
    "inconsistent-offsets", "duplicate-write", "lost-write", "unseen", "aborted-read",
    "phantom-read", "poll-skip", "nonmonotonic-poll", "nonmonotonic-send", "double-ownership",
    "redelivered", "lag",
})


def summary_sentence(s: ReceiverSummary) -> str:
    """``"slow received 20 000 of 30 000 messages it was subscribed for; lost 10 000 ..."``."""
    noun = "records" if s.group is not None else "messages"
    owed = s.entitled + sum(s.away.values())
    what = "of its partitions" if s.group is not None else "it was subscribed for"
    parts = [f"{s.receiver} received {number(s.delivered)} of {number(owed)} {noun} {what}"]
    if s.lost:
        causes = ", ".join(f"{number(n)} to {c}" for c, n in sorted(s.lost.items(),
                                                                      key=lambda kv: -kv[1]))
        parts.append(f"lost {causes}")
    away = {c: n for c, n in s.away.items() if c not in _NEVER_RAN_THERE}
    never = {c: n for c, n in s.away.items() if c in _NEVER_RAN_THERE}
    if away:
        causes = ", ".join(f"{number(n)} after {c}" for c, n in sorted(away.items(),
                                                                         key=lambda kv: -kv[1]))
        parts.append(f"missed {causes} while not subscribed")
    if never:
        causes = ", ".join(f"{number(n)} to {c}" for c, n in sorted(never.items(),
                                                                      key=lambda kv: -kv[1]))
        parts.append(f"missed {causes} (never ran on its server)")
    if s.in_flight:
        parts.append(f"{number(s.in_flight)} still on the way at the end")
    if s.duplicated:
        parts.append(f"{number(s.duplicated)} duplicated")
    if s.out_of_order:
        parts.append(f"{number(s.out_of_order)} out of order")
    if s.latency.n:
        lat = s.latency
        parts.append(f"latency p50 {duration(lat.p50)}, p99 {duration(lat.p99)}, "
                     f"max {duration(lat.max)}")
    return "; ".join(parts) + "."
