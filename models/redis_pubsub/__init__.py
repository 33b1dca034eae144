"""A Redis 7 Pub/Sub server that stores nothing, and its clients.

    from sim import Simulation
    from models.redis_pubsub import RedisPubSub

    s = Simulation(seed=7)
    r = RedisPubSub(s)
    a = r.connect("a")
    a.execute("SUBSCRIBE", "news")
    r.connect("pub").execute("PUBLISH", "news", b"hi")   # -> 1
    s.run(until=s.now + 1)
    a.get_message()  # {'type': 'subscribe', 'pattern': None, 'channel': b'news', 'data': 1}
    a.get_message()  # {'type': 'message', 'pattern': None, 'channel': b'news', 'data': b'hi'}

A replica (``RedisPubSub(s, name="replica").replicaof(r)``) runs every PUBLISH of its primary
for its own subscribers; a :class:`Sentinel` promotes it when the primary crashes.
"""

from models.redis_pubsub.client import Client
from models.redis_pubsub.config import OutputBufferLimit, RedisConfig
from models.redis_pubsub.errors import ConnectionError, RedisError, ResponseError
from models.redis_pubsub.glob import compile_pattern, stringmatch
from models.redis_pubsub.sentinel import Sentinel
from models.redis_pubsub.server import RedisPubSub

__all__ = [
    "Client",
    "ConnectionError",
    "OutputBufferLimit",
    "RedisConfig",
    "RedisError",
    "RedisPubSub",
    "ResponseError",
    "Sentinel",
    "compile_pattern",
    "stringmatch",
]
