"""People's control over others: one Block and one Mute aggregate per (actor, other)
pair, like Follow. Their ids derive from the pair, so blocking or muting twice finds the
same aggregate and records nothing new."""

from __future__ import annotations

from functools import singledispatchmethod
from uuid import UUID

from photoshare.commands.aggregates.base import EventSourcedAggregate
from photoshare.commands.errors import SelfBlockError, SelfMuteError
from photoshare.commands.ids import block_id, mute_id
from photoshare.commands.messages import CommandContext
from photoshare.events import Event, UserBlocked, UserMuted, UserUnblocked, UserUnmuted


class Block(EventSourcedAggregate):
    """Whether `blocker_id` blocks `blocked_id` (`active`)."""

    @staticmethod
    def check_not_self(blocker_id: UUID, blocked_id: UUID) -> None:
        if blocker_id == blocked_id:
            raise SelfBlockError("you cannot block yourself")

    @classmethod
    def start(cls, blocker_id: UUID, blocked_id: UUID, context: CommandContext) -> Block:
        cls.check_not_self(blocker_id, blocked_id)
        event = UserBlocked(blocker_id=str(blocker_id), blocked_id=str(blocked_id))
        return cls._start(block_id(blocker_id, blocked_id), event, context)

    def block(self, context: CommandContext) -> None:
        if not self.active:
            self._record(UserBlocked(blocker_id=self.blocker_id,
                                     blocked_id=self.blocked_id), context)

    def unblock(self, context: CommandContext) -> None:
        if self.active:
            self._record(UserUnblocked(blocker_id=self.blocker_id,
                                       blocked_id=self.blocked_id), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _blocked(self, event: UserBlocked) -> None:
        self.blocker_id, self.blocked_id = event.blocker_id, event.blocked_id
        self.active = True

    @when.register
    def _unblocked(self, event: UserUnblocked) -> None:
        self.active = False


class Mute(EventSourcedAggregate):
    """Whether `muter_id` mutes `muted_id` (`active`)."""

    @staticmethod
    def check_not_self(muter_id: UUID, muted_id: UUID) -> None:
        if muter_id == muted_id:
            raise SelfMuteError("you cannot mute yourself")

    @classmethod
    def start(cls, muter_id: UUID, muted_id: UUID, context: CommandContext) -> Mute:
        cls.check_not_self(muter_id, muted_id)
        event = UserMuted(muter_id=str(muter_id), muted_id=str(muted_id))
        return cls._start(mute_id(muter_id, muted_id), event, context)

    def mute(self, context: CommandContext) -> None:
        if not self.active:
            self._record(UserMuted(muter_id=self.muter_id, muted_id=self.muted_id), context)

    def unmute(self, context: CommandContext) -> None:
        if self.active:
            self._record(UserUnmuted(muter_id=self.muter_id, muted_id=self.muted_id), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _muted(self, event: UserMuted) -> None:
        self.muter_id, self.muted_id = event.muter_id, event.muted_id
        self.active = True

    @when.register
    def _unmuted(self, event: UserUnmuted) -> None:
        self.active = False
