"""Does my configuration guarantee X? Search for the smallest counterexample with Hypothesis.

Write three things: how to run your configuration from some parameters (``build``), the
guarantee as a test of the run (``holds``), and the parameters to explore (a Hypothesis
strategy). :func:`find_counterexample` runs many configurations, and when one breaks the
guarantee it shrinks the parameters to the smallest that still break it and tells the story;
it returns ``None`` when none did. For example — does a subscriber that needs 2 ms a message
ever lose messages? ::

    from hypothesis import strategies as st
    from models.redis_pubsub import RedisPubSub, stringmatch
    from models.redis_pubsub.subscriber import Subscriber
    from sim import Simulation
    from sim.checker import check_pubsub
    from sim.checker.search import find_counterexample

    def build(p):
        sim = Simulation(seed=1)
        redis = RedisPubSub(sim, {"client-output-buffer-limit": "pubsub 64kb 32kb 1"})
        Subscriber(redis, "app", ["orders"], service=0.002, reconnect_delay=None)
        n = p["rate"] * p["seconds"]
        redis.feed(0.01 + np.arange(n) / p["rate"], ["orders"] * n, p["size"])
        sim.run(until=p["seconds"] + 60)
        return check_pubsub(sim.trace, stringmatch, drained=True)

    found = find_counterexample(
        build, lambda report: report.receiver("app").lost_total == 0,
        st.fixed_dictionaries({"rate": st.integers(1, 2000), "seconds": st.integers(1, 10),
                               "size": st.sampled_from([100, 1000, 10_000])}))
    print(found or "holds for every configuration tried")

``build`` may return a :class:`~sim.trace.Trace` or a :class:`~sim.checker.CheckReport`;
``holds`` gets what ``build`` returned and answers ``True``/``False`` — or returns a report,
which holds when it has no error (so ``holds=lambda r: r`` means "the checker finds nothing
wrong"). The search is derandomized: the same call gives the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.checker.findings import CheckReport


@dataclass(frozen=True)
class Counterexample:
    """The smallest parameters found that break the guarantee, and what happened with them."""

    params: Any
    result: Any  # what ``build`` returned for them
    verdict: Any  # what ``holds`` returned

    def story(self) -> str:
        lines = [f"The guarantee fails for {self.params!r}."]
        report = self.verdict if isinstance(self.verdict, CheckReport) else self.result
        if isinstance(report, CheckReport):
            lines.append(report.explain())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.story()


def _holds(verdict: Any) -> bool:
    return verdict.ok if isinstance(verdict, CheckReport) else bool(verdict)


def find_counterexample(
    build: Callable[[Any], Any],
    holds: Callable[[Any], Any],
    strategy: Any,
    *,
    max_examples: int = 200,
) -> Counterexample | None:
    """Search ``strategy`` for parameters whose run (``build``) breaks ``holds``.

    Returns the shrunk :class:`Counterexample`, or ``None`` if ``max_examples`` runs all held.
    Needs Hypothesis (``pip install brokersim[test]``).
    """
    try:
        from hypothesis import HealthCheck, Phase, find, settings
        from hypothesis.errors import NoSuchExample
    except ImportError as err:  # pragma: no cover - hypothesis is a test dependency
        raise ImportError("find_counterexample needs Hypothesis: pip install hypothesis") from err

    def breaks(params: Any) -> bool:
        return not _holds(holds(build(params)))

    # no explain phase: it traces every line the runs execute (several times slower) to
    # point at code, which a search over a user's parameters does not need
    config = settings(max_examples=max_examples, derandomize=True, database=None,
                      deadline=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
    try:
        params = find(strategy, breaks, settings=config)
    except NoSuchExample:
        return None
    result = build(params)
    return Counterexample(params, result, holds(result))
