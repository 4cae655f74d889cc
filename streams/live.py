"""Live notices for connected clients (Server-Sent Events), in process.

The runner publishes from its worker thread after each commit; each subscriber has a
bounded queue on the event loop, so a slow client loses old notices rather than memory.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

from photoshare.streams.runner import Notice

QUEUE_SIZE = 256


class LiveBroadcaster:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Notice]]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, notices: Sequence[Notice]) -> None:
        """Hand notices to subscribers; callable from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, list(notices))

    def _deliver(self, notices: list[Notice]) -> None:
        for notice in notices:
            for queue in self._subscribers.get(notice.user_id, ()):
                if queue.full():
                    queue.get_nowait()  # drop the oldest: the client can re-read the page
                queue.put_nowait(notice)

    def subscriber_count(self, user_id: str) -> int:
        return len(self._subscribers.get(user_id, ()))

    async def subscribe(self, user_id: str) -> AsyncIterator[Notice]:
        """Notices for `user_id` from now on, until the consumer stops iterating."""
        queue: asyncio.Queue[Notice] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers[user_id].add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers[user_id].discard(queue)
            if not self._subscribers[user_id]:
                del self._subscribers[user_id]
