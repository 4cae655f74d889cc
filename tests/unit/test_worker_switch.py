"""The worker's batch loop while a rebuilt view is switched in (`streams.worker`): the
batch is held, said once at INFO (it is expected, not a failure), tried again soon, then
applied whole and acknowledged; a real failure is still a warning."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from photoshare.events import UserRegistered, encode_envelope
from photoshare.infra.postgres.view_versions import ViewSwitching
from photoshare.streams import worker
from support.histories import envelopes

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Applier:
    """Fails the first `failures` calls with the given errors, then applies."""

    def __init__(self, *errors: Exception) -> None:
        self.errors, self.applied, self.calls = list(errors), [], 0

    def apply(self, deliveries: list[Any]) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.applied.append([envelope.position for _, envelope in deliveries])
        return len(deliveries)


def kafka_events(count: int) -> list[Any]:
    history = [(UserRegistered(user_id=f"u{n}", username=f"u{n}", display_name="U"), f"u{n}")
               for n in range(count)]
    acked: list[int] = []
    return [SimpleNamespace(value=encode_envelope(envelope).encode(),
                            message=SimpleNamespace(topic="accounts", partition=0),
                            ack=lambda position=envelope.position: acked.append(position),
                            acked=acked)
            for envelope in envelopes(history)]


async def run_once(applier: Applier, events: list[Any]) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    task = asyncio.create_task(worker.apply_batches(applier, queue, batch_size=10))
    try:
        for _ in range(200):
            if events[0].acked:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()


async def test_a_batch_held_by_a_switch_is_said_once_and_applied_after_it(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "SWITCH_POLL_SECONDS", 0.01)
    switching = ViewSwitching("view search is being switched from version 1 to 2")
    applier, events = Applier(switching, switching, switching), kafka_events(3)
    with caplog.at_level(logging.INFO, logger="photoshare.worker"):
        await run_once(applier, events)
    assert applier.calls == 4 and applier.applied == [[1, 2, 3]]
    assert events[0].acked == [1, 2, 3]
    held = [r for r in caplog.records if "holding a batch of 3 events" in r.getMessage()]
    assert len(held) == 1 and held[0].levelno == logging.INFO
    assert "being switched" in held[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_store_that_fails_is_still_a_warning(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def quick_sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(worker.asyncio, "sleep", quick_sleep)
    applier, events = Applier(ConnectionError("Cassandra is down")), kafka_events(2)
    with caplog.at_level(logging.INFO, logger="photoshare.worker"):
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for event in events:
            queue.put_nowait(event)
        task = asyncio.create_task(worker.apply_batches(applier, queue, batch_size=10))
        for _ in range(1000):
            if events[0].acked:
                break
            await real_sleep(0.01)
        task.cancel()
    assert applier.applied == [[1, 2]] and events[0].acked == [1, 2]
    assert 1 in slept  # a failing store is tried again a second later
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Cassandra is down" in warnings[0].getMessage()
