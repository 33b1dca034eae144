"""RESP2 Pub/Sub frames: their exact byte sizes and the dicts redis-py's ``PubSub`` returns.

A ``message`` frame is
``*3\\r\\n$7\\r\\nmessage\\r\\n$<n>\\r\\n<channel>\\r\\n$<m>\\r\\n<payload>\\r\\n``;
a ``pmessage`` frame has a fourth element, the pattern (``addReplyPubsubMessage``,
``addReplyPubsubPatMessage`` in ``src/pubsub.c``). Redis builds one per receiving client, so the
output buffer of each subscriber grows by the whole frame.
"""

from __future__ import annotations

import numpy as np


def _digits(n: np.ndarray) -> np.ndarray:
    n = np.asarray(n, dtype=np.int64)
    out = np.ones(n.shape, dtype=np.int64)
    bound = 10
    for _ in range(12):
        out += n >= bound
        bound *= 10
    return out


def bulk_size(length: np.ndarray | int) -> np.ndarray:
    """Bytes of a RESP bulk string of ``length`` payload bytes: ``$<len>\\r\\n<data>\\r\\n``."""
    length = np.asarray(length, dtype=np.int64)
    return 1 + _digits(length) + 2 + length + 2


_MESSAGE_HEAD = len(b"*3\r\n") + int(bulk_size(len(b"message")))
_PMESSAGE_HEAD = len(b"*4\r\n") + int(bulk_size(len(b"pmessage")))


def message_frame_size(channel_len, payload_len) -> np.ndarray:
    """Bytes of the ``message`` frame (arrays or ints) delivering a payload on a channel."""
    return _MESSAGE_HEAD + bulk_size(channel_len) + bulk_size(payload_len)


def pmessage_frame_size(pattern_len, channel_len, payload_len) -> np.ndarray:
    """Bytes of the ``pmessage`` frame (arrays or ints) sent for a matching pattern."""
    return _PMESSAGE_HEAD + bulk_size(pattern_len) + bulk_size(channel_len) + bulk_size(payload_len)


def frame_dict(kind: str, channel: bytes | None, data: object, pattern: bytes | None = None):
    """A frame as redis-py's ``PubSub.get_message()`` returns it."""
    return {"type": kind, "pattern": pattern, "channel": channel, "data": data}
