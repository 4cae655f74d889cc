"""Who may see what of a private account: the read routes' one set of rules.

A private account's photos, photo pages, its photos' comments, and its follower and
following lists are seen only by its owner and the people who follow it (a follow of a
private account exists only once its owner approved it); anyone else, anonymous viewers
included, gets 403 `private_account`. Its profile header (name, avatar, bio, counts,
`private: true`) stays visible to all. Search finds its photos only for the same people
(`search_audience`). The home timeline needs no rule here: only followers ever get an
account's posts there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from photoshare.infra.http.web import ApiError
from photoshare.projections.photos import PhotoRecord
from photoshare.projections.profiles import Profile
from photoshare.projections.search import Audience
from photoshare.readapi.services import ViewQueries

PRIVATE_ACCOUNT = "private_account"
# The most followees a search's audience holds (read in pages of FOLLOWING_PAGE); a
# viewer following more finds the private photos of the most recently followed only.
MAX_AUDIENCE_FOLLOWED = 10_000
FOLLOWING_PAGE = 1_000


def may_see(q: ViewQueries, viewer: str | None, owner: Profile) -> bool:
    """Whether `viewer` (None: anonymous) may see `owner`'s photos and lists."""
    if not owner.private or viewer == owner.user_id:
        return True
    return viewer is not None and q.graph.follows(viewer, owner.user_id)


def require_visible(q: ViewQueries, viewer: str | None, owner: Profile) -> None:
    """403 `private_account` unless `viewer` may see `owner`'s content."""
    if not may_see(q, viewer, owner):
        raise ApiError(403, PRIVATE_ACCOUNT, "this account is private: only its approved "
                                             "followers see its photos and lists")


def require_photo_visible(q: ViewQueries, viewer: str | None, record: PhotoRecord) -> None:
    """403 `private_account` unless `viewer` may see the photo's owner's content. An
    owner the profiles view does not have yet (a view lagging for a moment) counts as
    public, as it was when the photo was posted unless an event says otherwise."""
    owner = q.profiles.by_id(record.owner_id)
    if owner is not None:
        require_visible(q, viewer, owner)


def relationship(q: ViewQueries, viewer: str, target_id: str) -> dict[str, Any]:
    """`target_id` as seen from `viewer`: whether the viewer follows them, has a pending
    request to follow them, and is followed by them (all false for oneself)."""
    return start_relationship(q, viewer, target_id)()


def start_relationship(q: ViewQueries, viewer: str,
                       target_id: str) -> Callable[[], dict[str, Any]]:
    """`relationship`, its three reads begun now (on the cluster they wait together, and
    with whatever else is begun before it is answered)."""
    if viewer == target_id:
        return lambda: {"following": False, "requested": False, "followed_by": False}
    following = q.graph.start_follows(viewer, target_id)
    requested = q.follow_requests.start_is_pending(target_id, viewer)
    followed_by = q.graph.start_follows(target_id, viewer)
    return lambda: {"following": following(), "requested": requested(),
                    "followed_by": followed_by()}


def search_audience(q: ViewQueries, viewer: str | None) -> Audience:
    """Who searches, with the accounts they follow (whose private photos they may find)."""
    if viewer is None:
        return Audience()
    followed: list[str] = []
    before = None
    while len(followed) < MAX_AUDIENCE_FOLLOWED:
        edges = q.graph.following(viewer, before, FOLLOWING_PAGE)
        followed += [edge.user_id for edge in edges]
        if len(edges) < FOLLOWING_PAGE:
            break
        before = edges[-1].position
    return Audience(viewer_id=viewer, followed=frozenset(followed))
