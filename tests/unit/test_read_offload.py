"""Offloaded read endpoints (search) run in at most so many threads at once (two on
SQLite views), so a burst of them cannot take the GIL from the event loop with dozens of
threads."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

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


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "fastapi-path"])
@pytest.mark.parametrize("inline", [True, False])
def test_where_the_views_are_servers_a_slow_read_does_not_stall_the_others(
        inline: bool, fast_path: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cluster read API (`inline_reads=False`): a page waiting on its stores runs in a
    thread, so the event loop answers another request meanwhile. Inline (SQLite), the
    second request waits for the first: the reason reads are not inline on servers. The
    same on FastAPI's own path (a request out of the ordinary)."""
    monkeypatch.setattr(routing, "FAST_PATH", fast_path)
    import httpx
    from fastapi import APIRouter, FastAPI

    from photoshare.readapi.routing import ReadRoute

    app = FastAPI()
    app.state.read = SimpleNamespace(inline_reads=inline, offload_threads=4)
    router = APIRouter(route_class=ReadRoute)
    quick_answered = threading.Event()

    @router.get("/slow")
    def slow() -> dict[str, bool]:
        # Waits (up to a bound) for the quick request, as a page waits on Cassandra.
        return {"saw_quick": quick_answered.wait(1.0)}

    @router.get("/quick")
    def quick() -> dict[str, bool]:
        quick_answered.set()
        return {"ok": True}

    app.router.routes.extend(router.routes)

    async def both() -> dict[str, bool]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            async with anyio.create_task_group() as group:
                answers: dict[str, Any] = {}

                async def get(path: str) -> None:
                    answers[path] = (await client.get(path)).json()

                group.start_soon(get, "/slow")
                await anyio.sleep(0.05)
                group.start_soon(get, "/quick")
        return answers["/slow"]

    assert anyio.run(both) == {"saw_quick": not inline}
