"""Workload files: your own workloads in TOML, and OpenMessaging Benchmark (OMB) YAML files.

``load_workload_file(path)`` reads either (by extension: ``.toml``; ``.yaml``/``.yml``) into a
frozen :class:`WorkloadFile` — a :class:`sim.workload.Workload` plus the topology (topics,
groups of receivers) and model settings — that ``python -m experiments replay FILE`` replays
through both models. A malformed file raises :class:`WorkloadFileError` with one message naming
the file and the field (``example.toml: producers[0].sizes: cannot parse size '1 parsec' …``);
an unknown field suggests the closest valid name. OMB files: see :mod:`.omb`.

TOML format (the full example is ``experiments/workloads/example.toml``)::

    name = "orders"              # optional; default: the file name
    duration = "60s"             # required: how long producers send ("500ms", "2min", 60)
    warmup = "5s"                # optional: left out of latency/rate statistics
    find_max_rate = false        # optional: search the highest sustainable rate instead

    [[producers]]                # one table per producer; at least one
    name = "web"                 # required
    target = "orders"            # a topic/channel, or a list (each message picks one:
                                 #   target_choice = "zipf:3,1.2"; default uniform)
    arrivals = "poisson:1000"    # required: "constant:500", "poisson:1000",
                                 #   "onoff:5000,on=1s,off=4s,inner=constant",
                                 #   "trace:traces/day.csv" (relative to this file; the CSV
                                 #   may give size, key and target per message)
    sizes = "lognormal:1kb,0.5"  # bytes: 100, "1kb", "uniform:100,1kb", "exp:512",
                                 #   "empirical:100@0.9,64kb@0.1"
    keys = "zipf:100,1.1"        # optional key index: "uniform:16", "round-robin:8"
    start = "0s"                 # optional; stop = "50s" (default: the end)

    [topics.orders]              # optional, per topic (Kafka only; Redis uses the name)
    partitions = 6               # default: the broker's num.partitions
    replication_factor = 3       # default: the broker's default.replication.factor
    config = { "retention.ms" = 60000 }

    [[subscribers]]              # receivers: a Kafka consumer group each; in Redis an
    name = "billing"             #   application whose connections split the channels
    targets = ["orders"]         # default: every target
    groups = 1                   # identical groups billing-0, billing-1… when > 1
    consumers = 2                # consumers per group (receivers billing/c0, billing/c1)
    service = "exp:2ms"          # time per message: "2ms", "uniform:1ms,3ms"…

    [backlog]                    # optional (OMB's consumerBacklogSizeGB): receivers pause
    size = "512mb"               #   after the warm-up until this much is owed, then drain
    drain_ratio = 1.0

    [redis]                      # Redis settings by redis.conf name
    "client-output-buffer-limit" = "pubsub 32mb 8mb 60"

    [kafka]                      # Kafka settings by Kafka name; each goes to every kind
    brokers = 3                  #   (broker/topic/producer/consumer) that has it, or scope
    "linger.ms" = 5              #   it: [kafka.producer] "acks" = "all"

Durations take units (``us ms s m/min h d``; a bare number is seconds); sizes take Redis's
units (``kb mb gb`` are powers of 1024, ``k m g`` of 1000).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType

from experiments.workloads.description import (
    Backlog,
    FieldError,
    GroupSpec,
    TopicSpec,
    WorkloadFile,
    WorkloadFileError,
)
from experiments.workloads.omb import OmbWorkload, load_omb, parse_omb
from experiments.workloads.toml_file import parse_toml, to_toml

FORMATS = MappingProxyType({".toml": "toml", ".yaml": "omb", ".yml": "omb"})
EXAMPLES_DIR = Path(__file__).resolve().parent


def load_workload_text(text: str, fmt: str, source: str = "<text>",
                       base_dir: Path | None = None) -> WorkloadFile:
    """Parse workload text of format ``"toml"`` or ``"omb"``; errors name ``source``."""
    try:
        if fmt == "toml":
            return parse_toml(text, source, base_dir)
        if fmt == "omb":
            return load_omb(text, source)
        raise FieldError("", f"unknown workload format {fmt!r} (toml or omb)")
    except FieldError as err:
        raise WorkloadFileError(source, err.field, err.message) from None
    except ValueError as err:  # a check deeper down that no field claimed
        raise WorkloadFileError(source, "", str(err)) from None


def load_workload_file(path: str | os.PathLike[str]) -> WorkloadFile:
    """Read a ``.toml`` (brokersim) or ``.yaml``/``.yml`` (OpenMessaging Benchmark) file."""
    source = os.fspath(path)
    file = Path(source)
    fmt = FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise WorkloadFileError(source, "", "unknown workload file type: use .toml (brokersim) "
                                            "or .yaml/.yml (OpenMessaging Benchmark)")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkloadFileError(source, "", "no such file") from None
    except UnicodeDecodeError:
        raise WorkloadFileError(source, "", "not a UTF-8 text file") from None
    except OSError as err:
        raise WorkloadFileError(source, "", f"cannot read it: {err.strerror}") from None
    return load_workload_text(text, fmt, source, file.parent)


__all__ = [
    "EXAMPLES_DIR",
    "Backlog",
    "GroupSpec",
    "OmbWorkload",
    "TopicSpec",
    "WorkloadFile",
    "WorkloadFileError",
    "load_omb",
    "load_workload_file",
    "load_workload_text",
    "parse_omb",
    "parse_toml",
    "to_toml",
]
