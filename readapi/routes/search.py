"""Search: people by username / first and last name, photos by caption words and #tags."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from photoshare.readapi import models, shapes
from photoshare.readapi.deps import Viewer, Views
from photoshare.readapi.pagination import Page, PageRequest, invalid_cursor, page
from photoshare.readapi.routing import ReadRoute, offload

router = APIRouter(tags=["search"], route_class=ReadRoute)

MAX_QUERY_LENGTH = 200
_MAX_OFFSET = 2**31

SearchText = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH,
                                  description="what to look for (1-200 characters)")]


def _offset(page_request: PageRequest) -> int:
    """Search pages are ranked, not keyed by position: the cursor holds an offset."""
    if page_request.cursor is None:
        return 0
    value = page_request.cursor.get("o")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_OFFSET:
        raise invalid_cursor()
    return value


def _next(offset: int, found: int, limit: int) -> dict[str, Any] | None:
    return {"o": offset + limit} if found > limit else None


@router.get("/v1/search/users")
@offload
def search_users(q: SearchText, views: Views, page_request: Page) -> dict[str, Any]:
    """Users whose username, first or last name starts with the terms of `q`."""
    offset, limit = _offset(page_request), page_request.limit
    queries = views.queries()
    found = queries.search.users(q, offset, limit + 1)
    user_ids = found[:limit]
    profiles = queries.profiles.many(user_ids)
    items = [shapes.user_summary(views, profiles[uid], uid)
             for uid in user_ids if uid in profiles]
    return page(items, _next(offset, len(found), limit))


@router.get("/v1/search/photos", responses=models.PHOTO_PAGE)
@offload
def search_photos(q: SearchText, views: Views, page_request: Page,
                  viewer: Viewer) -> dict[str, Any]:
    """Photos whose caption has the words of `q` and whose hashtags include its `#tags`."""
    offset, limit = _offset(page_request), page_request.limit
    queries = views.queries()
    found = queries.search.photos(q, offset, limit + 1)
    photo_ids = found[:limit]
    records = queries.photos.many(photo_ids)
    present = [records[pid] for pid in photo_ids if pid in records]
    return page(shapes.photos(views, queries, present, viewer), _next(offset, len(found), limit))
