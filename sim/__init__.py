"""brokersim's engine: simulated time, random streams, workloads, links, trace and checker.

Knows nothing about any broker; ``models/`` builds Redis Pub/Sub and Kafka on top of it.
"""

from sim.queueing import fifo_departures
from sim.simulation import Simulation
from sim.trace import DROP_REASONS, Trace
from sim.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "DROP_REASONS",
    "Simulation",
    "Trace",
    "fifo_departures",
    "format_duration",
    "format_size",
    "parse_duration",
    "parse_size",
]
