"""What the read API needs, built by the composition root (`infra.bootstrap`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

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


class Consistency(Protocol):
    """How far the views have got in the log, and a way to wait for them."""

    @property
    def position(self) -> int: ...

    async def wait_for(self, position: int, timeout: float) -> bool: ...


class LiveFeed(Protocol):
    """Server-sent notices for one user (notifications, timeline items)."""

    def subscribe(self, user_id: str) -> AsyncIterator[Any]: ...


@dataclass(frozen=True)
class ReadServices:
    queries: Callable[[], ViewQueries]  # the calling thread's bundle
    consistency: Consistency
    live: LiveFeed
    media_url_prefix: str
    min_position_wait_seconds: float = 2.0
    sse_keepalive_seconds: float = 15.0

    def media_url(self, key: str | None) -> str | None:
        return f"{self.media_url_prefix}/{key}" if key else None
