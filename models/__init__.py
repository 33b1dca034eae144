"""The broker models: ``models.redis_pubsub`` (push, no storage) and ``models.kafka`` (log)."""
