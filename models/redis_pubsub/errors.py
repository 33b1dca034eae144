"""Errors raised to callers, named and worded as redis-py raises them."""


class RedisError(Exception):
    """Base class, like ``redis.exceptions.RedisError``."""


class ResponseError(RedisError):
    """An error reply from the server; the message is Redis's text without the ``ERR`` prefix,
    as redis-py strips it."""


class ConnectionError(RedisError):
    """The connection is closed (by the server, a fault, or ``disconnect()``)."""
