"""People: profiles, a user's photos, followers and following."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from photoshare.infra.http.web import ApiError, CurrentUserId
from photoshare.projections.graph import Edge, GraphQueries
from photoshare.projections.profiles import Profile
from photoshare.readapi import models, shapes
from photoshare.readapi.deps import Viewer, Views
from photoshare.readapi.pagination import Page, PageRequest, keyset_page
from photoshare.readapi.services import ReadServices, ViewQueries
from photoshare.readapi.routing import ReadRoute

router = APIRouter(tags=["users"], route_class=ReadRoute)


def _existing(q: ViewQueries, user_id: str) -> Profile:
    profile = q.profiles.by_id(user_id)
    if profile is None:
        raise ApiError(404, "user_not_found", "no such user")
    return profile


@router.get("/v1/users/by-username/{username}")
def user_by_username(username: str, views: Views) -> dict[str, Any]:
    profile = views.queries().profiles.by_username(username)
    if profile is None:
        raise ApiError(404, "user_not_found", "no such user")
    return shapes.user(views, profile)


@router.get("/v1/users/me")
def me(views: Views, viewer: CurrentUserId) -> dict[str, Any]:
    """The caller's own profile (an extension of API.md)."""
    return shapes.user(views, _existing(views.queries(), viewer))


@router.get("/v1/users/{user_id}")
def user(user_id: str, views: Views) -> dict[str, Any]:
    return shapes.user(views, _existing(views.queries(), user_id))


@router.get("/v1/users/{user_id}/photos", responses=models.PHOTO_PAGE)
def user_photos(user_id: str, views: Views, page: Page, viewer: Viewer) -> dict[str, Any]:
    q = views.queries()
    _existing(q, user_id)
    records = q.photos.by_owner(user_id, page.position(), page.limit + 1)
    return keyset_page(shapes.photos(views, q, records, viewer),
                       [r.position for r in records], page.limit)


def _people_page(views: ReadServices, user_id: str, page: PageRequest,
                 side: Callable[[GraphQueries], Callable[..., list[Edge]]]) -> dict[str, Any]:
    q = views.queries()
    _existing(q, user_id)
    edges = side(q.graph)(user_id, page.position(), page.limit + 1)
    return keyset_page(shapes.users(views, q, [e.user_id for e in edges]),
                       [e.position for e in edges], page.limit)


@router.get("/v1/users/{user_id}/followers")
def followers(user_id: str, views: Views, page: Page) -> dict[str, Any]:
    return _people_page(views, user_id, page, lambda graph: graph.followers)


@router.get("/v1/users/{user_id}/following")
def following(user_id: str, views: Views, page: Page) -> dict[str, Any]:
    return _people_page(views, user_id, page, lambda graph: graph.following)
