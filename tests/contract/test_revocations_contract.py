"""The revoked-token store contract (what logout relies on), run against the embedded
profile's SQLite file and the cluster's Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis

from photoshare.infra.auth.revocation import TokenRevocations
from photoshare.infra.sqlite.revocation import SqliteRevocations
from photoshare.infra.redis.revocation import RedisRevocations

pytestmark = pytest.mark.cluster

MakeStore = Callable[[], TokenRevocations]


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    """Makes stores that share one backing store, as the processes of a deployment do."""
    made: list[TokenRevocations] = []
    prefix = f"photoshare-test-{uuid4().hex}:"
    client: redis.Redis | None = (request.getfixturevalue("redis_client")
                                  if request.param == "redis" else None)

    def make() -> TokenRevocations:
        if request.param == "sqlite":
            made.append(SqliteRevocations(tmp_path / "revoked_tokens.sqlite3"))
        else:
            made.append(RedisRevocations(request.getfixturevalue("redis_url"), prefix=prefix))
        return made[-1]

    yield make
    for store in made:
        store.close()
    if client is not None:
        leftovers = list(client.scan_iter(match=f"{prefix}*"))
        if leftovers:
            client.delete(*leftovers)


def test_a_revoked_token_is_refused_by_every_process(make_store: MakeStore) -> None:
    write_api, read_api = make_store(), make_store()
    assert not read_api.is_revoked("token-1")
    write_api.revoke("token-1", int(time.time()) + 60)
    write_api.revoke("token-1", int(time.time()) + 60)  # twice is fine
    assert read_api.is_revoked("token-1") and write_api.is_revoked("token-1")
    assert not read_api.is_revoked("token-2")


def test_a_revocation_is_kept_only_while_the_token_could_be_used(
        make_store: MakeStore) -> None:
    store = make_store()
    store.revoke("already-expired", int(time.time()) - 1)
    store.revoke("soon", int(time.time()) + 2)
    assert store.is_revoked("soon")
    time.sleep(3.1)
    store.revoke("later", int(time.time()) + 60)  # SQLite forgets expired ones here
    assert not store.is_revoked("soon")
    assert store.is_revoked("later")


def test_the_sqlite_file_is_the_owners_only(tmp_path: Path) -> None:
    store = SqliteRevocations(tmp_path / "revoked_tokens.sqlite3")
    store.revoke("t", int(time.time()) + 60)
    store.close()
    assert (tmp_path / "revoked_tokens.sqlite3").stat().st_mode & 0o077 == 0
