"""Redis server settings the Pub/Sub model reproduces, by their ``redis.conf`` names.

Defaults are Redis 7's (``src/config.c``, ``redis.conf``) where Redis has the setting; the CPU cost
constants are fitted to published figures (see ``shared/reference/redis-pubsub.md`` §4.2):

- ``command-cost`` 0.65 µs: the per-PUBLISH floor with 10-deep pipelines and no subscribers, from
  Redis's CI benchmark ``memtier_benchmark-nokeys-pubsub-publish-1K-channels-10B-no-subscribers``
  (~1.55 M PUBLISH/s, redis/redis PRs #13806, #13923).
- ``delivery-cost`` 0.9 µs per delivered copy: ~190 k PUBLISH/s at fan-out 5 with pipeline 32
  (aalness/pubsub, ElastiCache r3.large) is 5.26 µs per PUBLISH, minus the floor, over 5 copies.
  Redis formats the RESP frame and copies the payload once per subscriber (PR #14668).
- ``pattern-match-cost`` 0.24 µs per unique pattern tested per PUBLISH: ~500 k pattern matches/s
  used 12 % of one core (socket.io-redis-adapter PR #493). PUBLISH tests *every* pattern
  (``pubsubPublishMessageInternal``), so it is O(N + M).

Not modelled: io-threads (they move socket writes off the main thread, not the fan-out loop),
``maxmemory`` and client eviction, RESP3, sharded channels (SSUBSCRIBE/SPUBLISH), cluster bus.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from sim.units import parse_duration, parse_size


@dataclass(frozen=True)
class OutputBufferLimit:
    """``client-output-buffer-limit pubsub <hard> <soft> <soft-seconds>``; 0 disables a limit."""

    hard: int = 32 * 1024 * 1024
    soft: int = 8 * 1024 * 1024
    soft_seconds: int = 60

    @classmethod
    def parse(cls, text: str | tuple | OutputBufferLimit) -> OutputBufferLimit:
        """Parse ``"32mb 8mb 60"`` (optionally prefixed by the class ``pubsub``)."""
        if isinstance(text, OutputBufferLimit):
            return text
        parts = list(text) if isinstance(text, tuple | list) else str(text).split()
        if parts and str(parts[0]).lower() == "pubsub":
            parts = parts[1:]
        if len(parts) != 3:
            raise ValueError(
                f"client-output-buffer-limit: expected 'pubsub <hard> <soft> <soft-seconds>', "
                f"got {text!r}"
            )
        seconds = int(parts[2])
        if seconds < 0:
            raise ValueError("client-output-buffer-limit: soft seconds must be >= 0")
        return cls(parse_size(parts[0]), parse_size(parts[1]), seconds)


@dataclass(frozen=True)
class RedisConfig:
    """Settings of the simulated Redis server. Build with :meth:`from_mapping` for Redis names."""

    client_output_buffer_limit: OutputBufferLimit = OutputBufferLimit()
    hz: int = 10
    command_cost: float = 0.65e-6
    delivery_cost: float = 0.9e-6
    pattern_match_cost: float = 0.24e-6
    socket_buffer: int = 256 * 1024 + 16 * 1024
    """Bytes of a subscriber's stream that sit outside the counted output buffer: the kernel's
    send and receive buffers (~256 KiB together) plus Redis's 16 KiB static reply buffer
    (``PROTO_REPLY_CHUNK_BYTES``), which ``getClientOutputBufferMemoryUsage`` does not count."""
    latency: float = 100e-6
    """One-way network latency between a client and the server, seconds (a LAN hop)."""
    tcp_keepalive: float = 300.0
    """``tcp-keepalive`` (Redis default 300 s). Redis sets ``TCP_KEEPIDLE`` to it and probes
    3 times every third of it (``anetKeepAlive``), so a peer cut off by the network is found
    dead and closed about ``2 x tcp-keepalive`` after the cut."""

    @classmethod
    def from_mapping(cls, settings: Mapping[str, object] | None = None) -> RedisConfig:
        """Build from ``{"client-output-buffer-limit": "pubsub 32mb 8mb 60", "hz": 10, ...}``.

        Names are the ``redis.conf`` directives (``-`` or ``_`` both accepted); an unknown name is
        rejected with the closest valid one suggested.
        """
        config = cls()
        if not settings:
            return config
        valid = {f.name.replace("_", "-"): f.name for f in fields(cls)}
        changes: dict[str, object] = {}
        for key, value in settings.items():
            name = str(key).replace("_", "-").lower()
            if name not in valid:
                close = difflib.get_close_matches(name, list(valid), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"unknown Redis setting {key!r}{hint}")
            attr = valid[name]
            changes[attr] = _coerce(attr, value)
        return replace(config, **changes)


def _coerce(attr: str, value: object) -> object:
    try:
        if attr == "client_output_buffer_limit":
            return OutputBufferLimit.parse(value)  # type: ignore[arg-type]
        if attr == "hz":
            hz = int(value)  # type: ignore[arg-type]
            if not 1 <= hz <= 500:
                raise ValueError("hz must be between 1 and 500")
            return hz
        if attr == "tcp_keepalive":
            return parse_duration(value)  # type: ignore[arg-type]
        if attr == "socket_buffer":
            return parse_size(value)  # type: ignore[arg-type]
        seconds = parse_duration(value)  # type: ignore[arg-type]
        return seconds
    except (TypeError, ValueError) as err:
        raise ValueError(f"bad value for Redis setting {attr.replace('_', '-')!r}: {err}") from err
