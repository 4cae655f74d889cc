"""Photos: details and comments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from photoshare.infra.http.web import ApiError
from photoshare.projections.controls import Controls
from photoshare.projections.photos import PhotoRecord
from photoshare.readapi import blocking, models, shapes, visibility
from photoshare.readapi.deps import Viewer, Views
from photoshare.readapi.pagination import Page, page
from photoshare.readapi.services import ViewQueries
from photoshare.readapi.routing import ReadRoute

router = APIRouter(tags=["photos"], route_class=ReadRoute)


def _visible(q: ViewQueries, photo_id: str, viewer: str | None) -> tuple[PhotoRecord, Controls]:
    """The photo and the viewer's controls, if the photo exists and `viewer` may see it:
    404 as if it did not exist when its owner and the viewer block each other (either
    way), else 403 `private_account` when its owner is private and the viewer neither
    the owner nor an approved follower."""
    controls = blocking.start_controls(q, viewer)  # waits with the photo's read
    record = q.photos.photo(photo_id)
    if record is None:
        raise ApiError(404, "photo_not_found", "no such photo")
    blocking.check_photo(controls(), record.owner_id)
    visibility.require_photo_visible(q, viewer, record)
    return record, controls()


@router.get("/v1/photos/{photo_id}", responses={**models.PHOTO, **models.PRIVATE})
def photo(photo_id: str, views: Views, viewer: Viewer) -> dict[str, Any]:
    """A photo; 403 `private_account` if its owner is private and the viewer is neither
    the owner nor an approved follower."""
    q = views.queries()
    record, controls = _visible(q, photo_id, viewer)
    return blocking.without_hidden_tags(controls, shapes.photos(views, q, [record], viewer))[0]


@router.get("/v1/photos/{photo_id}/comments", responses=models.PRIVATE)
def comments(photo_id: str, views: Views, page_request: Page, viewer: Viewer) -> dict[str, Any]:
    """The photo's comments, oldest first; 403 `private_account` as for the photo; signed
    in, without those of the people the caller blocks or is blocked by."""
    q = views.queries()
    _, controls = _visible(q, photo_id, viewer)
    records, after = blocking.fill_keyset(
        lambda start, n: q.photos.comments(photo_id, start, n),
        lambda comment: blocking.shows_person(controls, comment.author_id),
        lambda comment: comment.position, page_request.position(), page_request.limit,
        people=blocking.learn_people(lambda: controls, lambda comment: comment.author_id))
    authors = q.profiles.many(sorted({r.author_id for r in records}))
    items = [{"comment_id": r.comment_id,
              "author": shapes.user_summary(views, authors.get(r.author_id), r.author_id),
              "text": r.text, "created_at": r.created_at} for r in records]
    return page(items, {"p": after} if after is not None else None)
