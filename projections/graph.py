"""The social graph view: who follows whom, newest first."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from photoshare.events import Envelope, UserFollowed, UserUnfollowed
from photoshare.projections.base import Projection, on


@dataclass(frozen=True)
class Edge:
    """One follow, as seen from one end: `user_id` is the other end."""

    user_id: str
    position: int


class GraphStore(ABC):
    @abstractmethod
    def follow(self, follower_id: str, followee_id: str, position: int) -> None: ...

    @abstractmethod
    def unfollow(self, follower_id: str, followee_id: str, position: int) -> None:
        """Remove the pair's follow if it is older than `position` (the unfollow's): a
        stale unfollow, delivered again after the pair was followed anew, changes nothing."""


class GraphQueries(ABC):
    @abstractmethod
    def followers(self, user_id: str, before: int | None, limit: int) -> list[Edge]:
        """Who follows `user_id`, most recent follow first, positions below `before`."""

    @abstractmethod
    def following(self, user_id: str, before: int | None, limit: int) -> list[Edge]:
        """Whom `user_id` follows, most recent first, positions below `before`."""

    @abstractmethod
    def follows(self, follower_id: str, followee_id: str) -> bool:
        """Whether `follower_id` follows `followee_id` now."""

    def start_follows(self, follower_id: str, followee_id: str) -> Callable[[], bool]:
        """`follows`, begun now and answered by the call it returns: a store whose reads
        are round trips sends it at once, so that the reads begun before it is answered
        wait together. By default the read runs when answered."""
        return lambda: self.follows(follower_id, followee_id)


class GraphProjection(Projection[GraphStore]):
    name = "graph"

    @on(UserFollowed)
    def _followed(self, event: UserFollowed, envelope: Envelope, store: GraphStore) -> None:
        store.follow(event.follower_id, event.followee_id, envelope.position)

    @on(UserUnfollowed)
    def _unfollowed(self, event: UserUnfollowed, envelope: Envelope,
                    store: GraphStore) -> None:
        store.unfollow(event.follower_id, event.followee_id, envelope.position)
