"""Follow requests view: the pending requests to each private account, newest first.

One row per (followee, follower) pair. A request's row carries the position of the event
that made it; approving, declining or withdrawing it removes the row, but only if the
row is older than that event, so a redelivered old request never brings back one that has
ended, and a stale end never removes a newer request of the same pair. (All of one
account's request events come from one aggregate, so they arrive in order on one
partition; the guard is for redelivery and replays.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from photoshare.events import (
    Envelope,
    FollowRequestApproved,
    FollowRequestDeclined,
    FollowRequested,
    FollowRequestCancelled,
)
from photoshare.projections.base import Projection, on


@dataclass(frozen=True)
class FollowRequest:
    """A pending request to `followee_id` from `follower_id`."""

    followee_id: str
    follower_id: str
    requested_at: str
    position: int


class FollowRequestStore(ABC):
    """Write port; both verbs are keyed by the pair and guarded by `position`."""

    @abstractmethod
    def add(self, request: FollowRequest) -> None:
        """Record the pending request unless the pair's row is at `request.position` or
        newer (a request that ended after it)."""

    @abstractmethod
    def end(self, followee_id: str, follower_id: str, position: int) -> None:
        """The pair's request ended at `position`: remove a pending one older than it,
        and remember the end so an older request delivered later stays ended."""


class FollowRequestQueries(ABC):
    """Read port."""

    @abstractmethod
    def pending(self, followee_id: str, before: int | None, limit: int) -> list[FollowRequest]:
        """The pending requests to `followee_id`, newest first, positions below `before`."""

    @abstractmethod
    def is_pending(self, followee_id: str, follower_id: str) -> bool:
        """Whether `follower_id` has a pending request to `followee_id`."""

    def start_is_pending(self, followee_id: str, follower_id: str) -> Callable[[], bool]:
        """`is_pending`, begun now and answered by the call it returns (as
        `GraphQueries.start_follows`). By default the read runs when answered."""
        return lambda: self.is_pending(followee_id, follower_id)


class FollowRequestsProjection(Projection[FollowRequestStore]):
    name = "follow_requests"

    @on(FollowRequested)
    def _requested(self, event: FollowRequested, envelope: Envelope,
                   store: FollowRequestStore) -> None:
        store.add(FollowRequest(followee_id=event.followee_id, follower_id=event.follower_id,
                                requested_at=envelope.occurred_at.isoformat(),
                                position=envelope.position))

    @on(FollowRequestApproved)
    def _approved(self, event: FollowRequestApproved, envelope: Envelope,
                  store: FollowRequestStore) -> None:
        store.end(event.followee_id, event.follower_id, envelope.position)

    @on(FollowRequestDeclined)
    def _declined(self, event: FollowRequestDeclined, envelope: Envelope,
                  store: FollowRequestStore) -> None:
        store.end(event.followee_id, event.follower_id, envelope.position)

    @on(FollowRequestCancelled)
    def _withdrawn(self, event: FollowRequestCancelled, envelope: Envelope,
                   store: FollowRequestStore) -> None:
        store.end(event.followee_id, event.follower_id, envelope.position)
