"""OpenMessaging Benchmark (OMB) workload files (YAML), read into a :class:`WorkloadFile`.

Every field of OMB's ``Workload.java`` is read and checked (Jackson's coercions included: a
quoted number is a number); an unknown field is an error suggesting the closest valid one.
How each maps onto the simulation:

- ``topics`` × ``partitionsPerTopic``: topics named ``test-topic-0000000``,
  ``test-topic-0000001``… — OMB's ``test-topic-%07d`` without its random suffix, so that runs
  are reproducible. Redis uses the same names as channels.
- ``producersPerTopic``: producers ``producer-<topic index>-<j>`` each sending to its topic.
  ``producerRate`` is the *total* rate (OMB divides it among all producers) and OMB's producers
  are paced by a uniform rate limiter, so each producer has :class:`~sim.arrivals.Constant`
  arrivals at ``producerRate / producers``, staggered by ``1 / producerRate`` so that together
  they send evenly.
- ``producerRate: 0`` means "find the maximum sustainable rate": ``find_max_rate=True``, with
  the producers at OMB's starting rate of 10 000 msg/s in total; the replay searches from there.
- ``messageSize``: :class:`~sim.distributions.Fixed` sizes. ``payloadFile``,
  ``useRandomizedPayloads``, ``randomBytesRatio`` and ``randomizedPayloadPoolSize`` only change
  payload *contents* (compressibility); compression is not modelled, so they are checked, kept
  in ``WorkloadFile.extra`` and shown in the report.
- ``keyDistributor``: ``NO_KEY`` → no key; ``KEY_ROUND_ROBIN`` → each producer cycles through
  10 000 keys (:class:`~sim.distributions.RoundRobin`); ``RANDOM_NANO`` → a uniformly random
  one of the 10 000 keys per message (OMB indexes them by ``System.nanoTime()``).
- ``subscriptionsPerTopic`` × ``consumerPerSubscription``: one group per subscription and
  topic, named ``sub-<s:03d>-<topic index:07d>``, of ``consumerPerSubscription`` consumers.
  (OMB gives subscription ``s`` one group id across all topics, each consumer subscribed to one
  topic; Kafka then assigns each topic's partitions among that topic's consumers only, as here.)
- ``testDurationMinutes``, ``warmupDurationMinutes`` (default 1): the run is warm-up + test;
  warm-up messages are sent but left out of latency and rate statistics.
- ``consumerBacklogSizeGB`` (GiB, as OMB multiplies by 1024³) and ``backlogDrainRatio``
  (default 1.0): a :class:`~experiments.workloads.description.Backlog`. The receivers pause
  after the warm-up until that many bytes are owed to them, then resume; the run is warm-up +
  build-up + test. (OMB waits for the drain and then runs the test duration; the replay reports
  how long the drain took.) Cannot be combined with ``producerRate: 0``, as in OMB.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from experiments.workloads import fields as f
from experiments.workloads.description import (
    Backlog,
    FieldError,
    GroupSpec,
    TopicSpec,
    WorkloadFile,
    settings,
)
from sim.arrivals import Constant
from sim.distributions import Choice, Fixed, RoundRobin, UniformChoice
from sim.workload import ProducerSpec, Workload

KEY_DISTRIBUTORS = ("NO_KEY", "KEY_ROUND_ROBIN", "RANDOM_NANO")
OMB_KEYS = 10_000
"""How many keys OMB's key distributors draw from (``KeyDistributor.UNIQUE_COUNT``)."""
START_RATE = 10_000.0
"""OMB's starting rate when it searches the maximum rate (``producerRate: 0``)."""
GIB = 1024**3


@dataclass(frozen=True)
class OmbWorkload:
    """An OMB workload file's fields as read and checked, with OMB's defaults filled in."""

    name: str  # the field names are OMB's (camelCase), so files and code read alike
    topics: int
    partitionsPerTopic: int
    messageSize: int
    subscriptionsPerTopic: int
    consumerPerSubscription: int
    producersPerTopic: int
    producerRate: float
    testDurationMinutes: float
    keyDistributor: str = "NO_KEY"
    payloadFile: str | None = None
    useRandomizedPayloads: bool = False
    randomBytesRatio: float = 0.0
    randomizedPayloadPoolSize: int = 0
    consumerBacklogSizeGB: float = 0.0
    backlogDrainRatio: float = 1.0
    warmupDurationMinutes: float = 1.0

    # ------------------------------------------------------------ mapping

    def topic_names(self) -> list[str]:
        return [f"test-topic-{i:07d}" for i in range(self.topics)]

    def keys(self) -> Choice | None:
        if self.keyDistributor == "KEY_ROUND_ROBIN":
            return RoundRobin(OMB_KEYS)
        if self.keyDistributor == "RANDOM_NANO":
            return UniformChoice(OMB_KEYS)
        return None

    def describe(self, source: str = "<omb>") -> WorkloadFile:
        """The :class:`WorkloadFile` this OMB workload maps to (see the module docstring)."""
        names = self.topic_names()
        total = self.producerRate or START_RATE
        n_producers = self.topics * self.producersPerTopic
        keys = self.keys()
        producers = tuple(
            ProducerSpec(f"producer-{t:07d}-{j}", topic,
                         Constant(total / n_producers, offset=(t * self.producersPerTopic + j)
                                  / total),
                         Fixed(self.messageSize), keys)
            for t, topic in enumerate(names) for j in range(self.producersPerTopic))
        groups = tuple(GroupSpec(f"sub-{s:03d}-{t:07d}", (topic,), self.consumerPerSubscription)
                       for s in range(self.subscriptionsPerTopic)
                       for t, topic in enumerate(names))
        warmup = self.warmupDurationMinutes * 60.0
        test = self.testDurationMinutes * 60.0
        backlog = (Backlog(round(self.consumerBacklogSizeGB * GIB), self.backlogDrainRatio)
                   if self.consumerBacklogSizeGB > 0 else None)
        extra = settings({k: getattr(self, k) for k in (
            "payloadFile", "useRandomizedPayloads", "randomBytesRatio",
            "randomizedPayloadPoolSize") if getattr(self, k) not in (None, False, 0, 0.0)})
        topics = tuple(TopicSpec(t, self.partitionsPerTopic) for t in names)
        desc = WorkloadFile(Workload(producers, warmup + test, self.name), topics, groups,
                            warmup=warmup, find_max_rate=self.producerRate == 0,
                            backlog=backlog, source=source, format="omb", extra=extra)
        if backlog is not None:
            build = desc.backlog_build_time()
            desc = replace(desc, workload=replace(desc.workload, duration=warmup + build + test))
        return desc


_INT_FIELDS = MappingProxyType({  # integer fields and their minimum
    "topics": 1, "partitionsPerTopic": 1, "messageSize": 0, "subscriptionsPerTopic": 0,
    "consumerPerSubscription": 1, "producersPerTopic": 1, "randomizedPayloadPoolSize": 0})
REQUIRED = ("topics", "partitionsPerTopic", "messageSize", "subscriptionsPerTopic",
            "consumerPerSubscription", "producersPerTopic", "producerRate",
            "testDurationMinutes")
FIELDS = tuple(x.name for x in fields(OmbWorkload))


def _coerced(value: Any) -> Any:
    """Jackson reads a quoted number as a number, and ``"true"``/``"false"`` as booleans."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        try:
            number = float(text)
        except ValueError:
            return value
        return int(number) if number.is_integer() and "." not in text else number
    return value


def parse_omb(text: str, source: str = "<omb>") -> OmbWorkload:
    """Read and check an OMB workload YAML text; raises :class:`FieldError` naming the field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise FieldError("", f"not valid YAML{where}: {problem}") from None
    if doc is None:
        raise FieldError("", "the file is empty")
    if not isinstance(doc, dict):
        raise FieldError("", "an OMB workload must be a mapping of fields (name: value)")
    f.check_keys(doc, FIELDS)
    for key in REQUIRED:
        f.require(doc, key)
    raw = {k: _coerced(v) for k, v in doc.items()}
    values: dict[str, Any] = {"name": Path(source).stem}
    for key, value in raw.items():
        if key in _INT_FIELDS:
            values[key] = f.integer(value, key, _INT_FIELDS[key])
        elif key in ("producerRate", "consumerBacklogSizeGB", "warmupDurationMinutes"):
            values[key] = f.number(value, key)
        elif key == "testDurationMinutes":
            values[key] = f.number(value, key, strict=True)
        elif key in ("randomBytesRatio", "backlogDrainRatio"):
            values[key] = f.number(value, key, 0.0, 1.0)
        elif key == "useRandomizedPayloads":
            values[key] = f.boolean(value, key)
        elif key == "keyDistributor":
            if value not in KEY_DISTRIBUTORS:
                raise FieldError(key, f"must be one of {', '.join(KEY_DISTRIBUTORS)}, got "
                                      f"{f.shown(value)}" + f.suggest(str(value),
                                                                      KEY_DISTRIBUTORS))
            values[key] = value
        elif key in ("name", "payloadFile"):
            values[key] = f.text(doc[key], key)
    omb = OmbWorkload(**values)
    if omb.useRandomizedPayloads and omb.randomizedPayloadPoolSize < 1:
        raise FieldError("randomizedPayloadPoolSize",
                         "must be at least 1 when useRandomizedPayloads is true")
    if omb.consumerBacklogSizeGB > 0:
        if omb.producerRate == 0:
            raise FieldError("consumerBacklogSizeGB", "cannot be combined with producerRate: 0 "
                             "(OMB cannot probe the maximum rate while building a backlog)")
        if omb.subscriptionsPerTopic == 0 or omb.messageSize == 0:
            raise FieldError("consumerBacklogSizeGB", "needs subscriptionsPerTopic >= 1 and "
                             "messageSize >= 1 for a backlog to pile up")
    return omb


def load_omb(text: str, source: str = "<omb>") -> WorkloadFile:
    """An OMB workload YAML text as a :class:`WorkloadFile`."""
    return parse_omb(text, source).describe(source)
