"""People: profiles, a user's photos, followers and following, and one's own pending
follow requests.

A private account's photos and lists answer 403 `private_account` to anyone but its owner
and approved followers (`readapi.visibility`); its profile stays visible. A profile
served to a signed-in viewer carries `relationship` (`visibility.relationship`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from photoshare.infra.http.web import ApiError, CurrentUserId
from photoshare.projections.graph import Edge, GraphQueries
from photoshare.projections.profiles import Profile
from photoshare.readapi import models, shapes, visibility
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


def _profile(views: ReadServices, q: ViewQueries, profile: Profile,
             viewer: str | None) -> dict[str, Any]:
    shaped = shapes.user(views, profile)
    if viewer is not None:
        shaped["relationship"] = visibility.relationship(q, viewer, profile.user_id)
    return shaped


@router.get("/v1/users/by-username/{username}", responses=models.PROFILE)
def user_by_username(username: str, views: Views, viewer: Viewer) -> dict[str, Any]:
    """A profile (always visible, a private account's too), with `relationship` for a
    signed-in viewer."""
    q = views.queries()
    profile = q.profiles.by_username(username)
    if profile is None:
        raise ApiError(404, "user_not_found", "no such user")
    return _profile(views, q, profile, viewer)


@router.get("/v1/users/me", responses=models.PROFILE)
def me(views: Views, viewer: CurrentUserId) -> dict[str, Any]:
    """The caller's own profile (an extension of API.md)."""
    return shapes.user(views, _existing(views.queries(), viewer))


@router.get("/v1/users/me/follow-requests", responses=models.FOLLOW_REQUESTS)
def follow_requests(views: Views, viewer: CurrentUserId, page: Page) -> dict[str, Any]:
    """The people asking to follow the caller's (private) account, newest first:
    approve with `PUT /v1/users/me/follow-requests/{user_id}`, decline with DELETE."""
    q = views.queries()
    requests = q.follow_requests.pending(viewer, page.position(), page.limit + 1)
    people = q.profiles.many([r.follower_id for r in requests])
    items = [{**shapes.user_summary(views, people.get(r.follower_id), r.follower_id),
              "requested_at": r.requested_at} for r in requests]
    return keyset_page(items, [r.position for r in requests], page.limit)


@router.get("/v1/users/{user_id}", responses=models.PROFILE)
def user(user_id: str, views: Views, viewer: Viewer) -> dict[str, Any]:
    """A profile (always visible, a private account's too), with `relationship` for a
    signed-in viewer."""
    q = views.queries()
    return _profile(views, q, _existing(q, user_id), viewer)


@router.get("/v1/users/{user_id}/photos", responses={**models.PHOTO_PAGE, **models.PRIVATE})
def user_photos(user_id: str, views: Views, page: Page, viewer: Viewer) -> dict[str, Any]:
    q = views.queries()
    visibility.require_visible(q, viewer, _existing(q, user_id))
    records = q.photos.by_owner(user_id, page.position(), page.limit + 1)
    return keyset_page(shapes.photos(views, q, records, viewer),
                       [r.position for r in records], page.limit)


def _people_page(views: ReadServices, user_id: str, page: PageRequest, viewer: str | None,
                 side: Callable[[GraphQueries], Callable[..., list[Edge]]]) -> dict[str, Any]:
    q = views.queries()
    visibility.require_visible(q, viewer, _existing(q, user_id))
    edges = side(q.graph)(user_id, page.position(), page.limit + 1)
    return keyset_page(shapes.users(views, q, [e.user_id for e in edges]),
                       [e.position for e in edges], page.limit)


@router.get("/v1/users/{user_id}/followers", responses=models.PRIVATE)
def followers(user_id: str, views: Views, page: Page, viewer: Viewer) -> dict[str, Any]:
    return _people_page(views, user_id, page, viewer, lambda graph: graph.followers)


@router.get("/v1/users/{user_id}/following", responses=models.PRIVATE)
def following(user_id: str, views: Views, page: Page, viewer: Viewer) -> dict[str, Any]:
    return _people_page(views, user_id, page, viewer, lambda graph: graph.following)
