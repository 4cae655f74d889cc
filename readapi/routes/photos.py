"""Photos: details and comments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from photoshare.infra.http.web import ApiError
from photoshare.projections.photos import PhotoRecord
from photoshare.readapi import models, shapes, visibility
from photoshare.readapi.deps import Viewer, Views
from photoshare.readapi.pagination import Page, page
from photoshare.readapi.services import ViewQueries
from photoshare.readapi.routing import ReadRoute

router = APIRouter(tags=["photos"], route_class=ReadRoute)


def _visible(q: ViewQueries, photo_id: str, viewer: str | None) -> PhotoRecord:
    """The photo, if it exists (404) and `viewer` may see it (403 `private_account`)."""
    record = q.photos.photo(photo_id)
    if record is None:
        raise ApiError(404, "photo_not_found", "no such photo")
    visibility.require_photo_visible(q, viewer, record)
    return record


@router.get("/v1/photos/{photo_id}", responses={**models.PHOTO, **models.PRIVATE})
def photo(photo_id: str, views: Views, viewer: Viewer) -> dict[str, Any]:
    """A photo; 403 `private_account` if its owner is private and the viewer is neither
    the owner nor an approved follower."""
    q = views.queries()
    return shapes.photos(views, q, [_visible(q, photo_id, viewer)], viewer)[0]


@router.get("/v1/photos/{photo_id}/comments", responses=models.PRIVATE)
def comments(photo_id: str, views: Views, page_request: Page,
             viewer: Viewer) -> dict[str, Any]:
    """A photo's comments, oldest first; 403 `private_account` as for the photo."""
    q = views.queries()
    _visible(q, photo_id, viewer)
    records = q.photos.comments(photo_id, page_request.position(), page_request.limit + 1)
    more = len(records) > page_request.limit
    records = records[:page_request.limit]
    authors = q.profiles.many(sorted({r.author_id for r in records}))
    items = [{"comment_id": r.comment_id,
              "author": shapes.user_summary(views, authors.get(r.author_id), r.author_id),
              "text": r.text, "created_at": r.created_at} for r in records]
    return page(items, {"p": records[-1].position} if more else None)
