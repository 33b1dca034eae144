"""brokersim's own workload file format (TOML): read with :func:`parse_toml`, write with
:func:`to_toml`. The format is documented in :mod:`experiments.workloads` and shown in full in
``experiments/workloads/example.toml``."""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

from experiments.workloads import fields as f
from experiments.workloads.description import (
    Backlog,
    FieldError,
    GroupSpec,
    Settings,
    TopicSpec,
    WorkloadFile,
)
from experiments.workloads.settings import (
    UNROUTED,
    parse_kafka,
    parse_redis,
    parse_topic_config,
)
from sim.arrivals import ARRIVALS, TraceReplay, parse_arrivals
from sim.distributions import CHOICES, DISTRIBUTIONS, Fixed, parse_choice, parse_distribution
from sim.workload import ProducerSpec, Workload

TOP_LEVEL = ("name", "duration", "warmup", "chunk", "find_max_rate", "producers", "topics",
             "subscribers", "backlog", "redis", "kafka")
PRODUCER_FIELDS = tuple(x.name for x in dc_fields(ProducerSpec))
TOPIC_FIELDS = ("partitions", "replication_factor", "config")
SUBSCRIBER_FIELDS = ("name", "targets", "groups", "consumers", "service")
BACKLOG_FIELDS = ("size", "drain_ratio")


def parse_toml(text: str, source: str = "<toml>", base_dir: Path | None = None,
               ) -> WorkloadFile:
    """A :class:`WorkloadFile` from TOML text; relative trace paths are taken from
    ``base_dir``. Raises :class:`FieldError` naming the field (the loader adds the file)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise FieldError("", f"not valid TOML: {err}") from None
    f.check_keys(doc, TOP_LEVEL)
    name = f.text(doc["name"], "name") if "name" in doc else Path(source).stem
    duration = f.duration(f.require(doc, "duration"), "duration", positive=True)
    warmup = f.duration(doc.get("warmup", 0), "warmup")
    if warmup >= duration:
        raise FieldError("warmup", f"must be shorter than the duration ({duration:g} s)")
    chunk = f.duration(doc.get("chunk", 0.1), "chunk", positive=True)
    find_max = f.boolean(doc.get("find_max_rate", False), "find_max_rate")

    raw_producers = f.tables(f.require(doc, "producers"), "producers")
    if not raw_producers:
        raise FieldError("producers", "needs at least one producer ([[producers]])")
    producers = tuple(_producer(p, f"producers[{i}]", duration, base_dir)
                      for i, p in enumerate(raw_producers))
    seen: set[str] = set()
    for i, p in enumerate(producers):
        if p.name in seen:
            raise FieldError(f"producers[{i}].name", f"{p.name!r} is used twice")
        seen.add(p.name)
    workload = f.parsed("producers", Workload, producers, duration, name, chunk)

    targets = workload.targets
    raw_topics = f.table(doc.get("topics", {}), "topics")
    for topic in raw_topics:
        if topic not in targets:
            raise FieldError(f.join("topics", topic),
                             "no producer sends to this topic" + f.suggest(topic, targets))
    topics = tuple(_topic(t, raw_topics.get(t, {})) for t in targets)

    groups: list[GroupSpec] = []
    for i, sub in enumerate(f.tables(doc.get("subscribers", []), "subscribers")):
        groups += _groups(sub, f"subscribers[{i}]", targets)
    names = [g.name for g in groups]
    for g in groups:
        if names.count(g.name) > 1:
            raise FieldError("subscribers", f"group name {g.name!r} is used twice")

    backlog = None
    if "backlog" in doc:
        raw = f.table(doc["backlog"], "backlog")
        f.check_keys(raw, BACKLOG_FIELDS, "backlog")
        size = f.size(f.require(raw, "size", "backlog"), "backlog.size")
        ratio = f.number(raw.get("drain_ratio", 1.0), "backlog.drain_ratio", 0.0, 1.0)
        if size > 0:
            backlog = Backlog(size, ratio)
    if backlog is not None and find_max:
        raise FieldError("backlog", "cannot be combined with find_max_rate = true (the maximum "
                                    "rate cannot be searched while building a backlog)")
    redis = parse_redis(doc.get("redis", {}))
    brokers, kafka = parse_kafka(doc.get("kafka", {}))
    for t in topics:
        if t.replication_factor is not None and t.replication_factor > brokers:
            raise FieldError(f.join(f.join("topics", t.name), "replication_factor"),
                             f"{t.replication_factor} is more than the {brokers} brokers "
                             "([kafka] brokers)")
    desc = WorkloadFile(workload, topics, tuple(groups), redis, kafka, brokers, warmup,
                        find_max, backlog, source, "toml")
    if backlog is not None:
        if not groups:
            raise FieldError("backlog", "needs subscribers to pile up for")
        build = f.parsed("backlog", desc.backlog_build_time)
        if warmup + build >= duration:
            raise FieldError("backlog.size", f"takes {build:g} s to build up at this rate, "
                             f"which leaves nothing of the {duration:g} s run to drain it")
    return desc


def _resolve_trace(spec: Any, base_dir: Path | None) -> Any:
    """``"trace:file.csv"`` (or a trace table) with the path taken relative to ``base_dir``."""
    if base_dir is None:
        return spec
    if isinstance(spec, str) and spec.strip().lower().startswith("trace:"):
        path = spec.split(":", 1)[1].strip()
        return TraceReplay(str(base_dir / path)) if path else spec
    if (isinstance(spec, Mapping) and str(spec.get("kind", "")).lower() == "trace"
            and isinstance(spec.get("t"), str)):
        return {**spec, "t": str(base_dir / spec["t"])}
    return spec


def _producer(raw: Mapping[str, Any], path: str, duration: float,
              base_dir: Path | None) -> ProducerSpec:
    f.check_keys(raw, PRODUCER_FIELDS, path)
    name = f.text(f.require(raw, "name", path), f"{path}.name")
    arrivals = f.parsed(f"{path}.arrivals", lambda s: parse_arrivals(_resolve_trace(s, base_dir)),
                        f.require(raw, "arrivals", path))
    values: dict[str, Any] = {"name": name, "arrivals": arrivals, "target": None, "sizes": None}
    if "target" in raw:
        values["target"] = f.names(raw["target"], f"{path}.target")
    if "sizes" in raw:
        values["sizes"] = f.parsed(f"{path}.sizes", parse_distribution, raw["sizes"], "size")
    for key in ("keys", "target_choice"):
        if key in raw:
            values[key] = f.parsed(f"{path}.{key}", parse_choice, raw[key])
    for key in ("start", "stop"):
        if key in raw:
            values[key] = f.duration(raw[key], f"{path}.{key}")
    if values.get("start", 0.0) >= duration:
        raise FieldError(f"{path}.start", f"is at or after the end of the run ({duration:g} s)")
    return f.parsed(path, ProducerSpec, **values)


def _topic(name: str, raw: Any) -> TopicSpec:
    path = f.join("topics", name)
    raw = f.table(raw, path)
    f.check_keys(raw, TOPIC_FIELDS, path)
    partitions = (f.integer(raw["partitions"], f"{path}.partitions", 1)
                  if "partitions" in raw else None)
    rf = (f.integer(raw["replication_factor"], f"{path}.replication_factor", 1)
          if "replication_factor" in raw else None)
    config: Settings = parse_topic_config(raw["config"], f"{path}.config") \
        if "config" in raw else ()
    return TopicSpec(name, partitions, rf, config)


def _groups(raw: Mapping[str, Any], path: str, targets: tuple[str, ...]) -> list[GroupSpec]:
    f.check_keys(raw, SUBSCRIBER_FIELDS, path)
    name = f.text(f.require(raw, "name", path), f"{path}.name")
    mine = f.names(raw["targets"], f"{path}.targets") if "targets" in raw else targets
    for t in mine:
        if t not in targets:
            raise FieldError(f"{path}.targets", f"no producer sends to {t!r}"
                             + f.suggest(t, targets))
    count = f.integer(raw.get("groups", 1), f"{path}.groups", 1)
    consumers = f.integer(raw.get("consumers", 1), f"{path}.consumers", 1)
    service = None
    if "service" in raw:
        service = f.parsed(f"{path}.service", parse_distribution, raw["service"], "duration")
    names = [name] if count == 1 else [f"{name}-{k}" for k in range(count)]
    return [GroupSpec(n, mine, consumers, service) for n in names]


# ---------------------------------------------------------------- writing


def _kind_of(obj: Any, registry: Mapping[str, type]) -> str:
    return next(k for k, cls in registry.items() if type(obj) is cls)


def _as_table(obj: Any, registry: Mapping[str, type]) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": _kind_of(obj, registry)}
    for x in dc_fields(obj):
        value = getattr(obj, x.name)
        if x.init and value is not None:
            out[x.name] = list(value) if isinstance(value, tuple) else value
    return out


def _distribution(d: Any) -> Any:
    return d.v if isinstance(d, Fixed) else _as_table(d, DISTRIBUTIONS)


def _arrivals(a: Any) -> Any:
    if isinstance(a, TraceReplay):
        return f"trace:{a.source}"
    return _as_table(a, ARRIVALS)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} to TOML")


def _lines(values: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in values.items()]


def to_toml(desc: WorkloadFile) -> str:
    """``desc`` as TOML text that :func:`parse_toml` reads back to an equal description
    (trace-driven producers are written as ``trace:<path>`` and read again from that file)."""
    w = desc.workload
    top: dict[str, Any] = {"name": w.name, "duration": w.duration}
    if desc.warmup:
        top["warmup"] = desc.warmup
    if w.chunk != 0.1:
        top["chunk"] = w.chunk
    if desc.find_max_rate:
        top["find_max_rate"] = True
    out = ["# brokersim workload (written by experiments.workloads.to_toml)", *_lines(top), ""]
    for p in w.producers:
        values: dict[str, Any] = {"name": p.name, "target": list(p.target),
                                  "arrivals": _arrivals(p.arrivals)}
        if p.sizes is not None:
            values["sizes"] = _distribution(p.sizes)
        if p.keys is not None:
            values["keys"] = _as_table(p.keys, CHOICES)
        if p.target_choice is not None:
            values["target_choice"] = _as_table(p.target_choice, CHOICES)
        if p.start:
            values["start"] = p.start
        if p.stop is not None:
            values["stop"] = p.stop
        out += ["[[producers]]", *_lines(values), ""]
    for t in desc.topics:
        values = {k: v for k, v in (("partitions", t.partitions),
                                    ("replication_factor", t.replication_factor)) if v}
        if t.config:
            values["config"] = dict(t.config)
        if values:
            out += [f"[topics.{_key(t.name)}]", *_lines(values), ""]
    for g in desc.groups:
        values = {"name": g.name, "targets": list(g.targets), "consumers": g.consumers}
        if g.service is not None:
            values["service"] = _distribution(g.service)
        out += ["[[subscribers]]", *_lines(values), ""]
    if desc.backlog is not None:
        out += ["[backlog]", *_lines({"size": desc.backlog.size,
                                      "drain_ratio": desc.backlog.drain_ratio}), ""]
    if desc.redis:
        out += ["[redis]", *_lines(dict(desc.redis)), ""]
    kafka = dict(desc.kafka)
    out += ["[kafka]", *_lines({"brokers": desc.brokers, **dict(kafka.pop(UNROUTED, ()))}), ""]
    for kind, values in kafka.items():
        if values:
            out += [f"[kafka.{kind}]", *_lines(dict(values)), ""]
    return "\n".join(out)
