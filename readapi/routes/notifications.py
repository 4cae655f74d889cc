"""Notifications: the list (newest first, with read flags) and the live stream (SSE).

`GET /v1/notifications/stream` sends one Server-Sent Event per new notification
(`event: notification`, data shaped like a list item) and per new timeline item
(`event: timeline`), and a `: keep-alive` comment when idle. Browsers' EventSource cannot
send headers, so the token may also come as `?access_token=`. A user may hold
`max_streams_per_user` streams open at once in one read API process; one more is a 429
`too_many_streams` until one of them closes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from photoshare.infra.http.web import ApiError, CurrentUserId, bearer_token, verified_user_id
from photoshare.projections.notifications import Notification
from photoshare.readapi import blocking, shapes
from photoshare.readapi.deps import Services, Views
from photoshare.readapi import pagination as pages
from photoshare.readapi.pagination import Page
from photoshare.readapi.services import ReadServices, StreamSlot, ViewQueries
from photoshare.readapi.routing import ReadRoute

router = APIRouter(tags=["notifications"], route_class=ReadRoute)

RETRY_MILLISECONDS = 3000
# Retry-After of a refused stream: a slot frees only when one of the user's streams closes.
STREAMS_RETRY_AFTER_SECONDS = 10
NOTIFICATION_KIND = "notification"


def _items(services: ReadServices, q: ViewQueries, records: list[Notification],
           read_up_to: Callable[[], int]) -> list[dict[str, Any]]:
    """List items: one read of the actors' summaries on the page and one of the photos
    they concern (its thumbnail rides along, so a client needs no call per photo), the
    first begun before the second (on the cluster they wait together); `read_up_to`
    answers the reader's read marker."""
    actors = q.profiles.start_summaries(sorted({r.actor_id for r in records}))
    photos = q.photos.many(sorted({r.photo_id for r in records if r.photo_id is not None}))
    summaries, marker = actors(), read_up_to()
    items = []
    for record in records:
        item: dict[str, Any] = {
            "notification_id": record.notification_id,
            "type": record.type,
            "actor": shapes.summary_of(services, record.actor_id,
                                       summaries.get(record.actor_id)),
        }
        if record.photo_id is not None:
            item["photo_id"] = record.photo_id
            photo = photos.get(record.photo_id)
            item["photo"] = shapes.photo_thumbnail(services, photo) if photo else None
        item["created_at"] = record.created_at
        item["read"] = record.position <= marker
        items.append(item)
    return items


@router.get("/v1/notifications")
def notifications(views: Views, viewer: CurrentUserId, page: Page) -> dict[str, Any]:
    """The caller's notifications, newest first, with read flags. Those caused by people
    the caller blocks, is blocked by or mutes are left out: filtered here, at read time,
    against the caller's current blocks and mutes, so the answer is the same whatever
    order the cluster's partitions delivered the events in (and unmuting shows them
    again)."""
    q = views.queries()
    # The viewer's blocks and mutes and read marker begun first: on the cluster they
    # wait together with the page's notifications.
    controls = blocking.start_controls(q, viewer)
    read_up_to = q.notifications.start_read_up_to(viewer)
    records, after = blocking.fill_keyset(
        lambda before, n: q.notifications.for_user(viewer, before, n),
        lambda record: blocking.is_heard(controls(), record.actor_id),
        lambda record: record.position, page.position(), page.limit,
        people=blocking.learn_people(controls, lambda record: record.actor_id))
    items = _items(views, q, records, read_up_to)
    return pages.page(items, {"p": after} if after is not None else None)


# --- the live stream ------------------------------------------------------------------


def _stream_user_id(request: Request) -> str:
    """The caller, from `Authorization: Bearer` or else `?access_token=` (browsers'
    EventSource cannot send headers); 401 otherwise, before the stream starts."""
    if "authorization" in request.headers:
        return verified_user_id(request, bearer_token(request))
    token = request.query_params.get("access_token", "").strip()
    if not token:
        raise ApiError(401, "missing_token", "an Authorization: Bearer token or "
                       "?access_token= is required", {"WWW-Authenticate": "Bearer"})
    return verified_user_id(request, token)


def _notification_item(services: ReadServices, data: dict[str, Any]) -> dict[str, Any]:
    """A notification notice as a list item (runs on a worker thread: it reads views)."""
    record = Notification(**{name: data[name] for name in Notification.__dataclass_fields__})
    q = services.queries()
    return _items(services, q, [record],
                  q.notifications.start_read_up_to(record.user_id))[0]


def _event_id(data: dict[str, Any]) -> str | None:
    for name in ("position", "notification_id", "photo_id"):
        value = data.get(name)
        if isinstance(value, int | str) and not isinstance(value, bool):
            return str(value)
    return None


def _sse(kind: str, data: Any, event_id: str | None) -> str:
    lines = [f"event: {kind}"]
    if event_id is not None and "\n" not in event_id and "\r" not in event_id:
        lines.append(f"id: {event_id}")
    # Compact JSON never holds a raw newline, so one data line carries it all.
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


def _heard(services: ReadServices, user_id: str, notice: Any) -> bool:
    """Whether the notice may reach the user: not from someone they block, are blocked by
    or mute (runs on a worker thread: it reads the controls view)."""
    data = getattr(notice, "data", None)
    if not isinstance(data, dict):
        return True
    controls = blocking.controls_of(services.queries(), user_id)
    return blocking.shows_notice(controls, str(getattr(notice, "kind", "")), data)


async def _render(services: ReadServices, notice: Any) -> str:
    kind = str(getattr(notice, "kind", "message"))
    data = dict(getattr(notice, "data", {}) or {})
    payload: Any = data
    if kind == NOTIFICATION_KIND:
        payload = await run_in_threadpool(_notification_item, services, data)
    return _sse(kind, payload, _event_id(data))


async def _next(subscription: AsyncIterator[Any]) -> Any:
    return await anext(subscription)


async def _events(request: Request, services: ReadServices,
                  user_id: str) -> AsyncIterator[str]:
    subscription = services.live.subscribe(user_id)
    # One pending read of the subscription, kept across keep-alives: cancelling a read
    # ends the subscription, so that only happens when the stream ends.
    pending: asyncio.Task[Any] = asyncio.create_task(_next(subscription))
    # The server stopping ends the stream (the client reconnects after `retry`): graceful
    # shutdown waits for open requests, and a tab keeps its stream open forever.
    stopping = asyncio.create_task(services.stopping.wait())
    try:
        await asyncio.sleep(0)  # let the read start: the subscription exists from here on
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        while not await request.is_disconnected():
            done, _ = await asyncio.wait({pending, stopping},
                                         timeout=services.sse_keepalive_seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                return
            if not done:
                yield ": keep-alive\n\n"
                continue
            if pending.cancelled() or pending.exception() is not None:
                return  # the feed ended (or failed): so does the stream
            notice = pending.result()
            pending = asyncio.create_task(_next(subscription))
            if await run_in_threadpool(_heard, services, user_id, notice):
                yield await _render(services, notice)
    finally:
        # Client gone, server stopping or feed ended. Unsubscribe without awaiting (this
        # may run under cancellation): cancelling the pending read closes the feed from
        # inside; a feed parked between reads is closed by a task of its own.
        stopping.cancel()
        if not pending.done():
            pending.cancel()
        else:
            if not pending.cancelled():
                pending.exception()  # retrieved, so never logged as lost
            closing = getattr(subscription, "aclose", None)
            if closing is not None:
                asyncio.ensure_future(closing())


class _SlotStreamingResponse(StreamingResponse):
    """A stream that gives its user's slot back when it ends, however it ends: the
    client went away, the feed ended or failed, or the server is stopping."""

    def __init__(self, content: AsyncIterator[str], slot: StreamSlot, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()


@router.get("/v1/notifications/stream", response_class=StreamingResponse,
            responses={429: {"description": "too many open streams; see Retry-After"}})
async def stream(request: Request, services: Services) -> StreamingResponse:
    user_id = _stream_user_id(request)  # before the stream starts: a 401 is plain JSON
    slot = services.stream_slots.take(user_id, services.max_streams_per_user)
    if slot is None:  # also before the stream starts: a 429 is plain JSON too
        raise ApiError(429, "too_many_streams",
                       f"at most {services.max_streams_per_user} live streams per user may "
                       "be open at once; close one first",
                       {"Retry-After": str(STREAMS_RETRY_AFTER_SECONDS)})
    return _SlotStreamingResponse(
        _events(request, services, user_id), slot, media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
