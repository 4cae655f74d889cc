"""The social graph: one aggregate per (follower, followee) pair."""

from __future__ import annotations

from functools import singledispatchmethod
from uuid import UUID

from photoshare.commands.aggregates.base import EventSourcedAggregate
from photoshare.commands.errors import SelfFollowError
from photoshare.commands.ids import follow_id
from photoshare.commands.messages import CommandContext
from photoshare.events import Event, UserFollowed, UserUnfollowed


class Follow(EventSourcedAggregate):
    """Whether one user follows another. Its id derives from the pair, so following
    twice finds the same aggregate and records nothing new."""

    @staticmethod
    def check_not_self(follower_id: UUID, followee_id: UUID) -> None:
        if follower_id == followee_id:
            raise SelfFollowError("you cannot follow yourself")

    @classmethod
    def start(cls, follower_id: UUID, followee_id: UUID, context: CommandContext) -> Follow:
        cls.check_not_self(follower_id, followee_id)
        event = UserFollowed(follower_id=str(follower_id), followee_id=str(followee_id))
        return cls._start(follow_id(follower_id, followee_id), event, context)

    def follow(self, context: CommandContext) -> None:
        if not self.active:
            self._record(UserFollowed(follower_id=self.follower_id,
                                      followee_id=self.followee_id), context)

    def unfollow(self, context: CommandContext) -> None:
        if self.active:
            self._record(UserUnfollowed(follower_id=self.follower_id,
                                        followee_id=self.followee_id), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _followed(self, event: UserFollowed) -> None:
        self.follower_id, self.followee_id = event.follower_id, event.followee_id
        self.active = True

    @when.register
    def _unfollowed(self, event: UserUnfollowed) -> None:
        self.active = False
