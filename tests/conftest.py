"""Fixtures shared by every tier: a real embedded system on a temporary data dir, and the
real servers (PostgreSQL, Redis, Kafka, Cassandra, OpenSearch, S3), each started once per
session by tests/support/engines.py."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image

from commands import PhotoShareCommands
from infra.bootstrap import create_embedded_app
from infra.postgres import drop_database, ensure_database
from infra.settings import Settings
from tests.support.engines import Engines, wanted_engines

ENGINES = pytest.StashKey[Engines]()


# --- the real servers, once per session -------------------------------------------------


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start, in the background, the servers the collected tests will ask for (those
    found lazily, through `request.getfixturevalue`, start when first asked)."""
    wanted: set[str] = set()
    for item in session.items:
        wanted |= wanted_engines(set(getattr(item, "fixturenames", ())))
    if wanted:
        _engines(session.config).warm(wanted)


def _engines(config: pytest.Config) -> Engines:
    if ENGINES not in config.stash:
        config.stash[ENGINES] = Engines()
    return config.stash[ENGINES]


def pytest_unconfigure(config: pytest.Config) -> None:
    if ENGINES in config.stash:
        config.stash[ENGINES].close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    if ENGINES in config.stash:
        terminalreporter.write_line(config.stash[ENGINES].summary())


@pytest.fixture(scope="session")
def engines(pytestconfig: pytest.Config) -> Engines:
    return _engines(pytestconfig)


@pytest.fixture(scope="session")
def postgres_server(engines: Engines) -> str:
    """`postgresql://postgres@127.0.0.1:PORT`, without a database: see `postgres_dsn`."""
    return engines.address("postgres")


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A database of this test's own, dropped afterwards."""
    dsn = f"{postgres_server}/photoshare_test_{uuid4().hex[:12]}"
    ensure_database(dsn)
    yield dsn
    drop_database(dsn)


@pytest.fixture(scope="session")
def redis_url(engines: Engines) -> str:
    return engines.address("redis")


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(engines: Engines) -> str:
    return engines.address("kafka")


@pytest.fixture(scope="session")
def cassandra_hosts(engines: Engines) -> str:
    """`127.0.0.1:PORT`, as PHOTOSHARE_CASSANDRA_HOSTS takes it."""
    return engines.address("cassandra")


@pytest.fixture(scope="session")
def opensearch_url(engines: Engines) -> str:
    return engines.address("opensearch")


@pytest.fixture(scope="session")
def s3_endpoint(engines: Engines) -> str:
    """moto's S3 server (in memory)."""
    return engines.address("s3")


@pytest.fixture(scope="session")
def s3proxy_endpoint(engines: Engines) -> str:
    """S3Proxy (buckets on files): what `make cluster` runs."""
    return engines.address("s3proxy")


# --- the embedded system ----------------------------------------------------------------


def cheap_settings(data_dir: Path, **overrides: object) -> Settings:
    """Real settings with a cheap password hash, so tests register users quickly."""
    values = {"data_dir": data_dir, "password_hash_memory_kib": 1024,
              "password_hash_time_cost": 1, "secret_key": "test-secret-" + "x" * 32,
              "image_workers": 2}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return cheap_settings(tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_embedded_app(settings)) as test_client:
        yield test_client


def event_store(client: TestClient) -> PhotoShareCommands:
    return client.app.state.write.commands


def head(client: TestClient) -> int:
    """The event log's head position: unchanged means nothing was appended."""
    return event_store(client).head_position()


@dataclass
class Account:
    user_id: str
    username: str
    email: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(client: TestClient, username: str | None = None, **fields: object) -> Account:
    """Register a user with unique defaults and log in."""
    username = username or f"user_{uuid4().hex[:10]}"
    body = {"username": username, "email": f"{username}@example.com",
            "password": "correct horse battery", "display_name": username.title()}
    body.update(fields)
    created = client.post("/v1/users", json=body)
    assert created.status_code == 201, created.text
    session = client.post("/v1/sessions", json={"login": username, "password": body["password"]})
    assert session.status_code == 200, session.text
    return Account(created.json()["user_id"], username, str(body["email"]),
                   str(body["password"]), session.json()["access_token"])


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (800, 600),
                color: str = "steelblue", **save_args: object) -> bytes:
    buffer = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" else "RGB"
    Image.new(mode, size, color).save(buffer, fmt, **save_args)
    return buffer.getvalue()


def post_photo(client: TestClient, account: Account, data: bytes | None = None,
               **form: str) -> dict:
    response = client.post("/v1/photos", headers=account.auth, data=form,
                           files={"file": ("photo.jpg", data or image_bytes(), "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()
