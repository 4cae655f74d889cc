"""The caller's blocks and mutes: GET /v1/users/me/blocks and /v1/users/me/mutes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from photoshare.infra.http.web import CurrentUserId
from photoshare.projections.controls import Kind
from photoshare.readapi import models, shapes
from photoshare.readapi.deps import Views
from photoshare.readapi.pagination import Page, PageRequest, keyset_page
from photoshare.readapi.routing import ReadRoute
from photoshare.readapi.services import ReadServices

router = APIRouter(tags=["block and mute"], route_class=ReadRoute)


def _listed(views: ReadServices, kind: Kind, viewer: str, page: PageRequest) -> dict[str, Any]:
    q = views.queries()
    edges = q.controls.listed(kind, viewer, page.position(), page.limit + 1)
    return keyset_page(shapes.users(views, q, [e.user_id for e in edges]),
                       [e.position for e in edges], page.limit)


@router.get("/v1/users/me/blocks", responses=models.USER_PAGE)
def blocks(views: Views, viewer: CurrentUserId, page: Page) -> dict[str, Any]:
    """The people the caller blocks, most recently blocked first: a page of
    `{user_id, username, display_name, avatar_url}`. Only the caller sees it."""
    return _listed(views, "block", viewer, page)


@router.get("/v1/users/me/mutes", responses=models.USER_PAGE)
def mutes(views: Views, viewer: CurrentUserId, page: Page) -> dict[str, Any]:
    """The people the caller mutes, most recently muted first (same shape as blocks)."""
    return _listed(views, "mute", viewer, page)
