"""People: profiles, a user's photos, followers and following, and one's own pending
follow requests.

A private account's photos and lists answer 403 `private_account` to anyone but its owner
and approved followers (`readapi.visibility`); its profile stays visible. People who
block each other get 404 for each other's profile and content (`readapi.blocking`). A
profile served to a signed-in viewer carries `relationship`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from photoshare.infra.http.web import ApiError, CurrentUserId
from photoshare.projections.controls import Controls
from photoshare.projections.graph import Edge, GraphQueries
from photoshare.projections.profiles import Profile
from photoshare.readapi import blocking, models, shapes, visibility
from photoshare.readapi.deps import Viewer, Views
from photoshare.readapi.pagination import Page, PageRequest, keyset_page, page
from photoshare.readapi.services import ReadServices, ViewQueries
from photoshare.readapi.routing import ReadRoute

router = APIRouter(tags=["users"], route_class=ReadRoute)


def _existing(q: ViewQueries, user_id: str) -> Profile:
    profile = q.profiles.by_id(user_id)
    if profile is None:
        raise ApiError(404, "user_not_found", "no such user")
    return profile


def _start_relationship(q: ViewQueries, viewer: str | None,
                        user_id: str) -> Callable[[], dict[str, Any]] | None:
    """The signed-in viewer's `relationship` to `user_id` (None for an anonymous viewer
    or oneself): its reads and the viewer's blocks and mutes begun now, so that on the
    cluster they all wait together (and with the profile's read, when begun before it).
    Answering raises 404 for someone `user_id` blocks."""
    if viewer is None or viewer == user_id:
        return None
    controls = blocking.start_controls(q, viewer)
    relationship = visibility.start_relationship(q, viewer, user_id)

    def answer() -> dict[str, Any]:
        mine = controls()  # the viewer's
        blocking.check_profile(mine, user_id)
        return {**relationship(), "blocking": user_id in mine.blocking,
                "muting": user_id in mine.muting}
    return answer


def _profile(views: ReadServices, profile: Profile,
             relationship: Callable[[], dict[str, Any]] | None) -> dict[str, Any]:
    """The profile as its viewer may see it: 404 for someone its owner blocks; with the
    viewer's `relationship` to its owner when signed in (and not the owner)."""
    if relationship is None:
        return shapes.user(views, profile)
    return {**shapes.user(views, profile), "relationship": relationship()}


@router.get("/v1/users/by-username/{username}", responses=models.PROFILE)
def user_by_username(username: str, views: Views, viewer: Viewer) -> dict[str, Any]:
    """A profile (the header is visible to all, a private account's too, but 404 for
    someone its owner blocks), with `relationship` for a signed-in viewer."""
    q = views.queries()
    profile = q.profiles.by_username(username)
    if profile is None:
        raise ApiError(404, "user_not_found", "no such user")
    return _profile(views, profile, _start_relationship(q, viewer, profile.user_id))


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
    """A profile (the header is visible to all, a private account's too, but 404 for
    someone its owner blocks), with `relationship` for a signed-in viewer."""
    q = views.queries()
    relationship = _start_relationship(q, viewer, user_id)  # waits with the profile's read
    return _profile(views, _existing(q, user_id), relationship)


@router.get("/v1/users/{user_id}/photos", responses={**models.PHOTO_PAGE, **models.PRIVATE})
def user_photos(user_id: str, views: Views, page: Page, viewer: Viewer) -> dict[str, Any]:
    q = views.queries()
    controls = _visible_owner(q, user_id, viewer)
    records = q.photos.by_owner(user_id, page.position(), page.limit + 1)
    cards = blocking.without_hidden_tags(controls, shapes.photos(views, q, records, viewer))
    return keyset_page(cards, [r.position for r in records], page.limit)


def _visible_owner(q: ViewQueries, user_id: str, viewer: str | None) -> Controls:
    """The viewer's controls, once the owner's content is theirs to see: 404 if the
    owner does not exist or they block each other, 403 `private_account` if the owner
    is private and the viewer neither the owner nor an approved follower."""
    controls = blocking.start_controls(q, viewer)  # waits with the owner's read
    owner = _existing(q, user_id)
    blocking.check_content(controls(), user_id)
    visibility.require_visible(q, viewer, owner)
    return controls()


def _people_page(views: ReadServices, user_id: str, page_request: PageRequest,
                 viewer: str | None,
                 side: Callable[[GraphQueries], Callable[..., list[Edge]]]) -> dict[str, Any]:
    q = views.queries()
    controls = _visible_owner(q, user_id, viewer)
    fetch = lambda before, n: side(q.graph)(user_id, before, n)  # noqa: E731
    if not controls.hides_anyone:
        edges = fetch(page_request.position(), page_request.limit + 1)
        return keyset_page(shapes.users(views, q, [e.user_id for e in edges]),
                           [e.position for e in edges], page_request.limit)
    edges, after = blocking.fill_keyset(
        fetch, lambda edge: blocking.shows_person(controls, edge.user_id),
        lambda edge: edge.position, page_request.position(), page_request.limit,
        people=blocking.learn_people(lambda: controls, lambda edge: edge.user_id))
    return page(shapes.users(views, q, [e.user_id for e in edges]),
                {"p": after} if after is not None else None)


@router.get("/v1/users/{user_id}/followers", responses=models.PRIVATE)
def followers(user_id: str, views: Views, page: Page, viewer: Viewer) -> dict[str, Any]:
    return _people_page(views, user_id, page, viewer, lambda graph: graph.followers)


@router.get("/v1/users/{user_id}/following", responses=models.PRIVATE)
def following(user_id: str, views: Views, page: Page, viewer: Viewer) -> dict[str, Any]:
    return _people_page(views, user_id, page, viewer, lambda graph: graph.following)
