"""Replicas with subscribers: how a PUBLISH reaches them, and how it fails to.

What it reproduces (Redis 7; sources in ``shared/reference/redis-pubsub.md`` §1.10):

- **PUBLISH is propagated to replicas.** ``publishCommand`` calls
  ``forceCommandPropagation(c, PROPAGATE_REPL)`` outside cluster mode (``src/pubsub.c``), so the
  primary appends every PUBLISH it executes to the replication stream, and each replica runs it
  again — against *its own* subscription table, delivering to its own subscribers and counting
  only them. (In cluster mode the same message goes over the cluster bus to every node
  instead; not modelled.) The stream is a TCP connection: it keeps order and takes the
  replication link's latency (``RedisPubSub.repl_latency``, a LAN hop by default).
- **A PUBLISH on a replica stays there.** PUBLISH is not a write command (flags ``pubsub loading
  stale fast may-replicate``), so a replica accepts it and delivers it to its own
  subscribers; but ``replicationFeedSlaves`` returns at once when ``server.masterhost`` is set
  ("we'll just proxy the stream of data we receive from our master", ``src/replication.c``),
  so it goes neither to the primary nor to the replica's own sub-replicas. A replica *does*
  proxy its primary's stream to its sub-replicas (chained replication).
- **Nothing is replayed.** Pub/Sub is not in the dataset: a replica that (re)connects and
  resynchronises (full or partial) gets no PUBLISH it missed.
- **What is on the link when the primary dies is lost** for the replica's subscribers
  (``replication-link``): the primary's host is gone, and with it the bytes in its replica
  output buffer and on the wire. While the primary is down, PUBLISHes are refused and nobody,
  replica subscribers included, gets them (``no-primary``).
- ``REPLICAOF NO ONE`` (promotion) closes the link to the primary: what it had sent and the
  replica had not read yet is lost (``replicationUnsetMaster`` frees the master client).
  Redis itself does **not** disconnect Pub/Sub clients when its role changes
  (``replicationSetMaster`` only disconnects *blocked* clients, ``replicationUnsetMaster``
  only the sub-replicas); Redis Sentinel does (see :mod:`models.redis_pubsub.sentinel`).

Not modelled, on purpose: the replica's ``client-output-buffer-limit replica 256mb 64mb 60``
on the primary. The replication link here has latency but no bandwidth limit, so its buffer
never grows; a replica dropped for a slow link would lose, for its subscribers, exactly what a
primary crash loses here (the stream from the cut on; a full resync replays no Pub/Sub). The
resynchronisation after a primary restart is taken as immediate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.trace import REASON_CODE

if TYPE_CHECKING:
    from models.redis_pubsub.server import RedisPubSub, _Batch


def propagate(primary: RedisPubSub, batch: _Batch, done: np.ndarray) -> None:
    """Append the PUBLISHes ``primary`` just executed (at ``done``) to each replica's stream.

    A top-level primary sends everything it ran; a replica forwards only what came from its
    own primary (``replicationFeedSlaves`` returns early on a replica).
    """
    sel = np.ones(len(batch), dtype=bool) if primary.primary is None else batch.rep
    if not sel.any():
        return
    rows = batch.take(sel)
    done = done[sel]
    names = primary._chan_names
    for replica in primary.replicas:
        for c in np.unique(rows.chan).tolist():
            replica._chan_id(names[c])
        for m in rows.msg.tolist():
            payload = primary._payloads.get(m)
            if payload is not None:
                replica._payloads[m] = payload
        arrive = done + replica.repl_latency
        stream = type(rows)(arrive, rows.chan, rows.size, rows.msg, rows.src, rows.sent,
                            np.ones(len(rows), dtype=bool))
        replica._pending = replica._pending.merged(stream)
        replica._wake()


def cut_stream(replica: RedisPubSub, at: float) -> None:
    """The link from the primary is gone at ``at``: PUBLISHes still on it never arrive.

    The replica's subscribers lose them (``replication-link``), and so, down the chain, do
    the subscribers of its own replicas.
    """
    pending = replica._pending
    gone = pending.rep & (pending.t > at)
    if not gone.any():
        return
    lost = pending.take(gone)
    replica._pending = pending.take(~gone)
    lose(replica, lost, np.full(len(lost), at), REASON_CODE["replication-link"])


def lose(server: RedisPubSub, batch: _Batch, at: np.ndarray, code: int) -> None:
    """PUBLISHes that never execute on ``server``: trace a drop (reason ``code``, at ``at``)
    for every copy its subscribers would have got — the connected ones by their current
    subscriptions, the ones away by what they meant to be subscribed to (with why they are
    away) — then the same for its replicas."""
    if not len(batch):
        return
    trace = server.sim.trace
    for c in np.unique(batch.chan).tolist():
        idx = np.flatnonzero(batch.chan == c)
        channel = trace.channels.name(c).encode("utf-8", "surrogateescape")
        for client, _via in server._receivers_of(channel):
            trace.dropped.extend(msg=batch.msg[idx], receiver=client.receiver, t=at[idx],
                                 reason=code)
        for client, reason in server._absent.items():
            for _ in range(client._intent_matches(channel)):
                trace.dropped.extend(msg=batch.msg[idx], receiver=client.receiver, t=at[idx],
                                     reason=reason)
    for replica in server.replicas:
        lose(replica, batch, at, code)
