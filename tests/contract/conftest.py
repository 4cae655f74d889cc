"""Fixtures shared by the contract suites."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("PHOTOSHARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A client of the test Redis server (skipped, with the reason, when there is none)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.skip(f"no Redis server at {REDIS_URL}: {error}")
    yield client
    client.close()
