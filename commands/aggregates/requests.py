"""Follow requests to one private account: which of them are pending.

One aggregate per followee (not per pair, as `Follow` is): making an account public must
approve every pending request in the same command, so the pending set has to be one
piece of state that command can load. Its events are keyed by the followee's requests,
so they reach the views in order on one partition.
"""

from __future__ import annotations

from functools import singledispatchmethod
from uuid import UUID, uuid5

from photoshare.commands.aggregates.base import EventSourcedAggregate
from photoshare.commands.errors import FollowRequestNotFoundError
from photoshare.commands.ids import NAMESPACE
from photoshare.commands.messages import CommandContext
from photoshare.events import (
    Event,
    FollowRequestApproved,
    FollowRequestDeclined,
    FollowRequested,
    FollowRequestCancelled,
)


def follow_requests_id(followee_id: UUID) -> UUID:
    """The follow requests of one account, found again from its id."""
    return uuid5(NAMESPACE, f"follow-requests:{followee_id}")


class FollowRequests(EventSourcedAggregate):
    """The pending follow requests to one account. Asking again while pending records
    nothing; approving, declining or withdrawing ends a request."""

    @classmethod
    def start(cls, follower_id: UUID, followee_id: UUID,
              context: CommandContext) -> FollowRequests:
        event = FollowRequested(follower_id=str(follower_id), followee_id=str(followee_id))
        return cls._start(follow_requests_id(followee_id), event, context)

    def is_pending(self, follower_id: UUID) -> bool:
        return str(follower_id) in self.pending

    def request(self, follower_id: UUID, context: CommandContext) -> None:
        if not self.is_pending(follower_id):
            self._record(FollowRequested(follower_id=str(follower_id),
                                         followee_id=self.followee_id), context)

    def withdraw(self, follower_id: UUID, context: CommandContext) -> None:
        if self.is_pending(follower_id):
            self._record(FollowRequestCancelled(follower_id=str(follower_id),
                                                followee_id=self.followee_id), context)

    def approve(self, follower_id: UUID, context: CommandContext) -> None:
        self._pending_or_refuse(follower_id)
        self._record(FollowRequestApproved(follower_id=str(follower_id),
                                           followee_id=self.followee_id), context)

    def decline(self, follower_id: UUID, context: CommandContext) -> None:
        self._pending_or_refuse(follower_id)
        self._record(FollowRequestDeclined(follower_id=str(follower_id),
                                           followee_id=self.followee_id), context)

    def approve_all(self, context: CommandContext) -> list[UUID]:
        """Approve every pending request, oldest first; the followers approved."""
        approved = [UUID(follower) for follower in self.pending]
        for follower in approved:
            self.approve(follower, context)
        return approved

    def _pending_or_refuse(self, follower_id: UUID) -> None:
        if not self.is_pending(follower_id):
            raise FollowRequestNotFoundError("no pending follow request from that user")

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _requested(self, event: FollowRequested) -> None:
        if not hasattr(self, "pending"):
            self.followee_id, self.pending = event.followee_id, {}
        self.pending[event.follower_id] = True  # a dict keeps the order of asking

    @when.register
    def _approved(self, event: FollowRequestApproved) -> None:
        self.pending.pop(event.follower_id, None)

    @when.register
    def _declined(self, event: FollowRequestDeclined) -> None:
        self.pending.pop(event.follower_id, None)

    @when.register
    def _withdrawn(self, event: FollowRequestCancelled) -> None:
        self.pending.pop(event.follower_id, None)
