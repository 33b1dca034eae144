"""Shared fixtures: a real ``redis-server`` for the differential tests.

``redis_server`` (session) starts one server for the whole run; it skips the test when the
binary is missing, or fails it when ``BROKERSIM_REQUIRE_REDIS=1`` (as CI sets). ``clean_redis``
(function) hands out the same server after closing every client of the previous test, so no
subscription leaks from one test into the next. Tests using either are marked ``redis_server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, settings

from tests.redis_server import (
    REQUIRE_ENV,
    RedisServer,
    find_redis_server,
    redis_required,
    reset_pubsub_state,
    start_redis_server,
)

_SERVER_FIXTURES = {"redis_server", "clean_redis"}

# Hypothesis profiles. "fast" (the default, and what CI runs) is derandomized, so a run is
# reproducible and the whole property suite stays well under two minutes; "thorough" explores
# far more: ``python -m pytest --hypothesis-profile=thorough tests/test_redis_properties.py``.
settings.register_profile(
    "fast", derandomize=True, deadline=None, max_examples=25, stateful_step_count=30,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("ci", parent=settings.get_profile("fast"))
settings.register_profile(
    "thorough", deadline=None, max_examples=600, stateful_step_count=80, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("fast")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "redis_server: needs a real redis-server binary (see tests/redis_server.py)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis_server)


def _unavailable(reason: str) -> NoReturn:
    if redis_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this is an error)", pytrace=False)
    pytest.skip(f"{reason}; install redis-server or set {REQUIRE_ENV}=1 to make this an error")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free 127.0.0.1 port, for the whole session."""
    binary = find_redis_server()
    if binary is None:
        _unavailable("redis-server is not installed (not on PATH)")
    try:
        server = start_redis_server(binary)
    except (OSError, RuntimeError) as error:
        _unavailable(f"redis-server could not be started: {error}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session's server with no other client, subscription or key, before and after."""
    reset_pubsub_state(redis_server)
    yield redis_server
    reset_pubsub_state(redis_server)
