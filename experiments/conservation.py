"""Every experiment run checks conservation before it reports numbers.

DESIGN.md: "Every run checks conservation: each message a receiver was entitled to is either
delivered or dropped with a reason." A copy that vanished is a bug in a model, so a run that
finds one fails loudly (the runner records the error and the report shows it) instead of
publishing numbers built on it.
"""

from __future__ import annotations

from sim.checker import assert_conserved
from sim.simulation import Simulation


def assert_run_conserved(sim: Simulation) -> None:
    """Raise ``AssertionError`` if any owed copy in ``sim``'s trace is unaccounted for.

    Pattern subscriptions are matched with Redis's own glob (the only broker with patterns).
    """
    from models.redis_pubsub.glob import stringmatch

    assert_conserved(sim.trace, stringmatch)
