"""Offloaded read endpoints (search) run in at most so many threads at once (two on
SQLite views), so a burst of them cannot take the GIL from the event loop with dozens of
threads."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from photoshare.readapi import routing


@pytest.mark.parametrize("threads", [routing.OFFLOAD_THREADS, 5])
def test_offloaded_endpoints_run_at_most_so_many_at_once_and_all_answer(threads: int) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def endpoint(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n * 2

    async def burst() -> list[int]:  # its own event loop, so its own limiter
        answers: list[int] = []

        async def one(n: int) -> None:
            answers.append(await routing.run_offloaded(endpoint, threads, n=n))

        async with anyio.create_task_group() as group:
            for n in range(12):
                group.start_soon(one, n)
        return answers

    assert sorted(anyio.run(burst)) == [n * 2 for n in range(12)]
    assert most == threads
