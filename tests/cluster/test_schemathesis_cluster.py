"""Schemathesis against the cluster profile's own OpenAPI documents: the write API on the
PostgreSQL event store and the read API on its view stores (here the SQLite views, with
Redis for limits, revocations and idempotency answers), each served on its own. Whatever
a document allows a client to send, signed in or not, the answer is never a 5xx.

tests/api/test_schemathesis.py runs the same check on the embedded app; the documents
differ (each cluster API serves only its half, with its own dependencies), so both run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from photoshare.infra.postgres.event_store import drop_database, ensure_database
from photoshare.infra.roots.cluster import create_read_app, create_write_app
from photoshare.infra.settings import Settings
from support.embedded import image_bytes
from support.fuzzing import assert_no_server_error
from support.threaded import served

pytestmark = [pytest.mark.cluster]

MAX_EXAMPLES = 10


class ClusterApis:
    def __init__(self, write_url: str, read_url: str, token: str) -> None:
        self.write_url, self.read_url, self.token = write_url, read_url, token


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory, postgres_server: str,
         redis_url: str) -> Iterator[ClusterApis]:
    test_id = uuid.uuid4().hex[:12]
    cluster = Settings(profile="cluster", data_dir=tmp_path_factory.mktemp("cluster"),
                       postgres_dsn=f"{postgres_server}/photoshare_test_{test_id}",
                       redis_url=redis_url, redis_prefix=f"photoshare-test-{test_id}:",
                       view_stores="sqlite", secret_key="cluster-schemathesis-" + "x" * 32,
                       password_hash_memory_kib=1024, password_hash_time_cost=1,
                       registrations_per_hour_per_address=100_000,
                       user_writes_per_minute=100_000)
    ensure_database(cluster.postgres_dsn)
    with ExitStack() as stack:
        stack.callback(drop_database, cluster.postgres_dsn)
        write_url = stack.enter_context(served(create_write_app(cluster)))
        read_url = stack.enter_context(served(create_read_app(cluster)))
        with httpx.Client(base_url=write_url, timeout=30) as client:
            name = f"fuzz_{test_id[:8]}"
            created = client.post("/v1/users", json={
                "username": name, "email": f"{name}@example.com",
                "password": "schemathesis pw", "display_name": "Fuzz"})
            assert created.status_code == 201, created.text
            token = client.post("/v1/sessions", json={
                "login": name, "password": "schemathesis pw"}).json()["access_token"]
            posted = client.post("/v1/photos", headers={"Authorization": f"Bearer {token}"},
                                 files={"file": ("p.jpg", image_bytes(), "image/jpeg")})
            assert posted.status_code == 201, posted.text
        yield ClusterApis(write_url, read_url, token)


def _operations(url: str) -> list[Any]:
    """The operations of the document `url` serves. (The documents exist only once the
    apps run on their servers, so the cases are drawn here rather than by
    `schema.parametrize()` at collection.)"""
    document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    # The live stream never ends: a client reading whole answers cannot call it.
    schema = schemathesis.openapi.from_dict(document).exclude(path="/v1/notifications/stream")
    return [result.ok() for result in schema.get_all_operations()]


def _no_server_errors(base_url: str, token: str) -> None:
    operations = _operations(base_url)
    assert operations
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: schemathesis.Case) -> None:
                assert_no_server_error(case, base_url, token)

            try:
                check()
            except AssertionError as failure:
                failures.append(str(failure))
            except Unsatisfiable:  # no negative case exists for this operation
                pass
    assert not failures, "\n".join(failures)


def test_the_write_api_makes_no_server_error(apis: ClusterApis) -> None:
    _no_server_errors(apis.write_url, apis.token)


def test_the_read_api_makes_no_server_error(apis: ClusterApis) -> None:
    _no_server_errors(apis.read_url, apis.token)
