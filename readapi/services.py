"""What the read API needs, built by the composition root (`infra.bootstrap`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from photoshare.projections.controls import ControlQueries
from photoshare.projections.follow_requests import FollowRequestQueries
from photoshare.projections.graph import GraphQueries
from photoshare.projections.notifications import NotificationQueries
from photoshare.projections.photos import PhotoQueries
from photoshare.projections.profiles import ProfileQueries
from photoshare.projections.search import SearchQueries
from photoshare.projections.timelines import TimelineQueries


@dataclass(frozen=True)
class ViewQueries:
    """The query ports of every view, bound to one reader connection."""

    profiles: ProfileQueries
    graph: GraphQueries
    photos: PhotoQueries
    timelines: TimelineQueries
    search: SearchQueries
    notifications: NotificationQueries
    controls: ControlQueries  # blocks and mutes
    follow_requests: FollowRequestQueries


class Consistency(Protocol):
    """How far the views have got in the log, and a way to wait for them."""

    @property
    def position(self) -> int: ...

    async def wait_for(self, position: int, timeout: float) -> bool: ...


class LiveFeed(Protocol):
    """Server-sent notices for one user (notifications, timeline items)."""

    def subscribe(self, user_id: str) -> AsyncIterator[Any]: ...


class StreamSlot:
    """One open live stream of a user: `release` gives it back (again is a no-op)."""

    def __init__(self, slots: StreamSlots, user_id: str) -> None:
        self._slots, self.user_id = slots, user_id
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._slots._give_back(self.user_id)


class StreamSlots:
    """How many live streams each user has open in this process, so that one user
    cannot hold hundreds (each holds a connection, a task and, in the cluster, a Redis
    connection)."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, user_id: str, limit: int) -> StreamSlot | None:
        """A slot for one more stream of `user_id`, or None when `limit` are open."""
        with self._lock:
            held = self._open.get(user_id, 0)
            if held >= limit:
                return None
            self._open[user_id] = held + 1
        return StreamSlot(self, user_id)

    def held(self, user_id: str) -> int:
        with self._lock:
            return self._open.get(user_id, 0)

    def _give_back(self, user_id: str) -> None:
        with self._lock:
            left = self._open.get(user_id, 0) - 1
            if left > 0:
                self._open[user_id] = left
            else:
                self._open.pop(user_id, None)


class Stopping:
    """Set once the server begins to stop. Open live streams end then: a browser tab holds
    one for as long as it is open, and the server's graceful shutdown waits for every
    open request, so without this Ctrl-C would wait for the tabs to close."""

    def __init__(self) -> None:
        self._event = asyncio.Event()  # bound to the running loop on first wait

    def set(self) -> None:
        """Call on the server's event loop (its shutdown runs there)."""
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


@dataclass(frozen=True)
class ReadServices:
    queries: Callable[[], ViewQueries]  # the calling thread's bundle
    consistency: Consistency
    live: LiveFeed
    media_url_prefix: str
    min_position_wait_seconds: float = 2.0
    sse_keepalive_seconds: float = 15.0
    max_streams_per_user: int = 5  # open live streams per user in this process
    # How many slow endpoints (search) may run at once in worker threads (see
    # routing.run_offloaded): few where the views are SQLite, more where they are servers.
    offload_threads: int = 2
    # Whether the hot reads run inline on the event loop: yes on SQLite (sub-millisecond,
    # in-process); no where the views are servers, whose round trips would stall every
    # other request of the process (`/healthz` included) while one page waits.
    inline_reads: bool = True
    stream_slots: StreamSlots = field(default_factory=StreamSlots, compare=False, repr=False)
    stopping: Stopping = field(default_factory=Stopping, compare=False, repr=False)
    # The fixed JSON of recently served photo cards (readapi/cards.py).
    cards: Any = field(default_factory=lambda: _card_cache(), compare=False, repr=False)

    def media_url(self, key: str | None) -> str | None:
        return f"{self.media_url_prefix}/{key}" if key else None


def _card_cache() -> Any:
    from photoshare.readapi.cards import CardCache  # cards.py builds on this module
    return CardCache()
