"""The home timeline: the caller's own photos and those of the people they follow, newest
first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from photoshare.infra.http.web import CurrentUserId
from photoshare.readapi import blocking, models
from photoshare.readapi.cards import page_cards
from photoshare.readapi.deps import Views
from photoshare.readapi.pagination import Page, page
from photoshare.readapi.routing import ReadRoute

router = APIRouter(tags=["timeline"], route_class=ReadRoute)


@router.get("/v1/timeline", responses=models.PHOTO_PAGE)
def timeline(viewer: CurrentUserId, views: Views, page_request: Page) -> dict[str, Any]:
    """The caller's home timeline: their own photos and the photos of the people they
    follow, newest first, in pages (`limit`, `cursor`); at most the newest
    `PHOTOSHARE_TIMELINE_CAP` photos (800 by default). A deleted photo leaves it, and so
    do the photos of someone unfollowed; the caller's own photos stay whomever they
    unfollow. Send the `X-Event-Position` of a post as `X-Min-Position` to see it at
    once. The photos of people the caller blocks, is blocked by or mutes are left out
    (those already on it too)."""
    # The viewer's blocks and mutes, begun before the read of the page's entries (more
    # reads if some are filtered out), so that on the cluster both wait together; then
    # what changes in their cards (counts, alt text), the cards' people and the viewer's
    # likes (`cards.page_cards`).
    q = views.queries()
    controls = blocking.start_controls(q, viewer)
    entries, after = blocking.fill_keyset(
        lambda before, n: q.timelines.home(viewer, before, n),
        lambda entry: blocking.is_heard(controls(), entry.owner_id),
        lambda entry: entry.position, page_request.position(), page_request.limit,
        people=blocking.learn_people(controls, lambda entry: entry.owner_id))
    # A photo the photos view does not have (a view that lags for a moment) is skipped,
    # but the cursor still continues after the last entry, so nothing is skipped twice.
    # The cards come as ready JSON, their fixed parts cached (readapi/cards.py).
    cards = page_cards(views, views.cards, q, [e.photo_id for e in entries], viewer,
                       controls())
    return page(cards, {"p": after} if after is not None else None)
