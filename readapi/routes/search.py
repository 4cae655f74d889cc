"""Search: people by username / first and last name, photos by caption words and #tags,
and hashtags by prefix (the type-ahead)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from photoshare.infra.http.web import ApiError
from photoshare.projections.photos import PhotoRecord
from photoshare.projections.search import MAX_TAG_CHARS, parse_tag_prefix
from photoshare.readapi import blocking, models, shapes, visibility
from photoshare.readapi.deps import Viewer, Views
from photoshare.readapi.pagination import Page, PageRequest, invalid_cursor, page
from photoshare.readapi.routing import ReadRoute, offload

router = APIRouter(tags=["search"], route_class=ReadRoute)

MAX_QUERY_LENGTH = 200
_MAX_OFFSET = 2**31

SearchText = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH,
                                  description="what to look for (1-200 characters)")]
DEFAULT_HASHTAGS, MAX_HASHTAGS = 10, 50
TagPrefix = Annotated[str, Query(
    min_length=1, max_length=MAX_TAG_CHARS + 1,
    description=f"the start of a hashtag, with or without its `#`: letters, digits and `_`, "
                f"1-{MAX_TAG_CHARS} of them")]
HashtagLimit = Annotated[int, Query(ge=1, le=MAX_HASHTAGS,
                                    description=f"how many tags (1-{MAX_HASHTAGS})")]


class HashtagPublic(BaseModel):
    tag: str = Field(description="the hashtag without its `#`, lower-cased", examples=["beach"])
    photos: int = Field(description="how many photos carry it now", examples=[12])


class HashtagsPublic(BaseModel):
    items: list[HashtagPublic]


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
def search_users(q: SearchText, views: Views, page_request: Page,
                 viewer: Viewer) -> dict[str, Any]:
    """Users whose username, first or last name starts with the terms of `q`; signed
    in, without the people the caller blocks or is blocked by."""
    offset, limit = _offset(page_request), page_request.limit
    queries = views.queries()
    controls = blocking.controls_of(queries, viewer)
    user_ids, at = blocking.fill_offset(
        lambda start, n: queries.search.users(q, start, n),
        lambda uid: blocking.shows_person(controls, uid), offset, limit,
        people=blocking.learn_people(lambda: controls, lambda uid: uid))
    profiles = queries.profiles.many(user_ids)
    items = [shapes.user_summary(views, profiles[uid], uid)
             for uid in user_ids if uid in profiles]
    return page(items, {"o": at} if at is not None else None)


@router.get("/v1/search/photos", responses=models.PHOTO_PAGE)
@offload
def search_photos(q: SearchText, views: Views, page_request: Page,
                  viewer: Viewer) -> dict[str, Any]:
    """Photos whose caption has the words of `q` and whose hashtags include its `#tags`;
    the last `#tag` matches the tags it begins too (`#bea` finds `#beach`), below the
    photos that carry it whole. A private account's photos are found only by its owner
    and approved followers; signed in, the photos of people the caller blocks or is
    blocked by are left out."""
    offset, limit = _offset(page_request), page_request.limit
    queries = views.queries()
    audience = visibility.search_audience(queries, viewer)
    controls = blocking.controls_of(queries, viewer)
    if controls.hides_anyone:
        # The owner is in the photos view, not in the search hit: the photos are looked
        # up batch by batch while the page fills.
        def fetch(start: int, n: int) -> list[PhotoRecord | None]:
            ids = queries.search.photos(q, start, n, audience)
            found = queries.photos.many(ids)
            return [found.get(pid) for pid in ids]
        rows, at = blocking.fill_offset(
            fetch, lambda r: r is None or blocking.shows_person(controls, r.owner_id),
            offset, limit, people=blocking.learn_people(
                lambda: controls, lambda r: r.owner_id if r is not None else None))
        present = [r for r in rows if r is not None]
        cards = blocking.without_hidden_tags(controls,
                                             shapes.photos(views, queries, present, viewer))
        return page(cards, {"o": at} if at is not None else None)
    found = queries.search.photos(q, offset, limit + 1, audience)
    photo_ids = found[:limit]
    records = queries.photos.many(photo_ids)
    present = [records[pid] for pid in photo_ids if pid in records]
    return page(shapes.photos(views, queries, present, viewer), _next(offset, len(found), limit))


@router.get("/v1/search/hashtags", response_model=HashtagsPublic,
            responses={422: {"description": "`q` is not the start of a hashtag, or `limit` "
                                            "is out of range"}})
@offload
def search_hashtags(q: TagPrefix, views: Views, viewer: Viewer,
                    limit: HashtagLimit = DEFAULT_HASHTAGS) -> dict[str, Any]:
    """Hashtags that start with `q`, for the type-ahead: each with how many photos carry
    it, most used first, then alphabetically. `#bea` and `bea` both find `beach`. Only
    the photos the caller may see count (a private account's, for its owner and approved
    followers)."""
    if parse_tag_prefix(q) is None:
        raise ApiError(422, "invalid_hashtag_prefix",
                       f"q must be the start of a hashtag: an optional '#', then 1-"
                       f"{MAX_TAG_CHARS} letters, digits or '_'")
    queries = views.queries()
    found = queries.search.hashtags(q, limit, visibility.search_audience(queries, viewer))
    return {"items": [{"tag": tag.tag, "photos": tag.photos} for tag in found]}
