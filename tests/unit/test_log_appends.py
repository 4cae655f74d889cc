"""The relay wakes when the PostgreSQL event store announces an append
(infra/postgres/log_appends.py), on a real PostgreSQL with the real event store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from photoshare.commands import CommandContext, PhotoShareCommands
from photoshare.commands import messages as m
from photoshare.infra.postgres import log_appends
from photoshare.infra.postgres.event_store import event_store_env
from photoshare.infra.postgres.log_appends import LogAppends
from photoshare.streams.relay import Relay

CONTEXT = CommandContext(actor_id=None, correlation_id="test")
# Far longer than any wake-up takes: a wait that lasts this long was not woken.
NEVER = 30.0


@pytest.fixture
def commands(postgres_dsn: str) -> Iterator[PhotoShareCommands]:
    app = PhotoShareCommands(event_store_env(postgres_dsn))
    yield app
    app.close()


@pytest.fixture
def appends(postgres_dsn: str, commands: PhotoShareCommands) -> Iterator[LogAppends]:
    listener = LogAppends(postgres_dsn, commands.recorder.channel_name)
    yield listener
    listener.close()


def register(commands: PhotoShareCommands, n: int) -> None:
    commands.execute(m.RegisterUser(username=f"user{n}", email=f"user{n}@example.org",
                                    password_hash="x", display_name=f"User {n}"), CONTEXT)


def timed_wait(appends: LogAppends, timeout: float) -> float:
    started = time.monotonic()
    appends.wait(timeout)
    return time.monotonic() - started


def woken_by_an_append(commands: PhotoShareCommands, appends: LogAppends) -> bool:
    """Whether a wait returns when another thread appends an event while it waits."""
    later = threading.Timer(0.3, register, (commands, 1))
    later.start()
    try:
        return timed_wait(appends, NEVER) < NEVER / 2
    finally:
        later.join()


def test_an_append_wakes_the_waiter(commands: PhotoShareCommands, appends: LogAppends) -> None:
    assert woken_by_an_append(commands, appends)


def test_without_appends_it_waits_the_timeout(appends: LogAppends) -> None:
    assert timed_wait(appends, 0.3) >= 0.3


def test_a_burst_of_appends_wakes_it_once(commands: PhotoShareCommands,
                                          appends: LogAppends) -> None:
    for n in range(5):
        register(commands, n)
    time.sleep(0.5)  # every announcement delivered
    assert timed_wait(appends, NEVER) < NEVER / 2
    assert timed_wait(appends, 0.3) >= 0.3  # the other four were drained with the first


def test_a_broken_connection_falls_back_to_polling_and_listens_again(
        postgres_dsn: str, commands: PhotoShareCommands, appends: LogAppends,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_appends, "RECONNECT_SECONDS", 0.0)
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid() "
                              "AND datname = current_database()").fetchall()
    assert ended == [(True,)]
    appends.wait(0.2)  # finds the connection gone: no error, a plain wait
    appends.wait(0.2)  # listens again
    assert woken_by_an_append(commands, appends)


def test_an_idle_relay_waits_for_appends_up_to_its_poll_interval() -> None:
    """Pure logic, so stand-ins: a caught-up relay hands its idle time to the waiter."""

    class EmptyLog:
        def read_batch(self, after: int, limit: int) -> tuple[list[Any], int]:
            return [], after

    class Positions:
        def load(self) -> tuple[int, dict[str, int]]:
            return 0, {}

    stop = threading.Event()
    waits: list[float] = []

    def wait_for_appends(timeout: float) -> None:
        waits.append(timeout)
        if len(waits) == 3:
            stop.set()

    relay = Relay(EmptyLog(), producer=None, positions=Positions(),  # type: ignore[arg-type]
                  topic_prefix="t.")
    relay.run(stop, poll_seconds=7.0, wait_for_appends=wait_for_appends)
    assert waits == [7.0, 7.0, 7.0]
