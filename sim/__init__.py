"""brokersim's engine: simulated time, random streams, workloads, links, trace and checker.

Knows nothing about any broker; ``models/`` builds Redis Pub/Sub and Kafka on top of it.
"""

from sim.arrivals import (
    ArrivalProcess,
    Constant,
    OnOff,
    Poisson,
    TraceFileError,
    TraceReplay,
    parse_arrivals,
)
from sim.distributions import (
    Choice,
    Distribution,
    Empirical,
    Exponential,
    Fixed,
    LogNormal,
    RoundRobin,
    Uniform,
    UniformChoice,
    Zipf,
    parse_choice,
    parse_distribution,
)
from sim.network import Link, Pipe, parse_bandwidth
from sim.queueing import fifo_departures
from sim.simulation import Simulation
from sim.trace import DROP_REASONS, Trace
from sim.units import format_duration, format_size, parse_duration, parse_size
from sim.workload import (
    MessageBatch,
    ProducerSpec,
    Workload,
    WorkloadFeed,
    constant_rate,
    key_bytes,
    poisson,
)

__all__ = [
    "DROP_REASONS",
    "ArrivalProcess",
    "Choice",
    "Constant",
    "Distribution",
    "Empirical",
    "Exponential",
    "Fixed",
    "Link",
    "LogNormal",
    "MessageBatch",
    "OnOff",
    "Pipe",
    "Poisson",
    "ProducerSpec",
    "RoundRobin",
    "Simulation",
    "Trace",
    "TraceFileError",
    "TraceReplay",
    "Uniform",
    "UniformChoice",
    "Workload",
    "WorkloadFeed",
    "Zipf",
    "constant_rate",
    "fifo_departures",
    "format_duration",
    "format_size",
    "key_bytes",
    "parse_arrivals",
    "parse_bandwidth",
    "parse_choice",
    "parse_distribution",
    "parse_duration",
    "parse_size",
    "poisson",
]
