"""Fixtures the contract suites of the cluster stores share: a Cassandra keyspace of the
module's own (dropped afterwards) and a Redis client, both once per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from support.views import fresh_keyspace


@pytest.fixture(scope="module")
def session(cassandra_hosts: str) -> Iterator[Any]:
    with fresh_keyspace(cassandra_hosts) as session:
        yield session


@pytest.fixture(scope="module")
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
