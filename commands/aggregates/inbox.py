"""A user's notification inbox: where they have read up to.

Notifications themselves are a read view (derived from follows, likes, comments and
tags); only the read marker is a decision of the user, so only it is an event. Keeping it
in the log means a view rebuilt from event zero still knows what was read.
"""

from __future__ import annotations

from functools import singledispatchmethod
from uuid import UUID, uuid5

from photoshare.commands.aggregates.base import EventSourcedAggregate
from photoshare.commands.ids import NAMESPACE
from photoshare.commands.messages import CommandContext
from photoshare.events import Event, NotificationsRead


def inbox_id(user_id: UUID) -> UUID:
    """One inbox per user, found again from the user's id."""
    return uuid5(NAMESPACE, f"inbox:{user_id}")


class Inbox(EventSourcedAggregate):
    """The last read marker a user set. Setting the same marker again records nothing;
    the view keeps the furthest marker, so an older one changes nothing there either."""

    @classmethod
    def start(cls, user_id: UUID, up_to: UUID, context: CommandContext) -> Inbox:
        event = NotificationsRead(user_id=str(user_id), up_to_notification_id=str(up_to))
        return cls._start(inbox_id(user_id), event, context)

    def mark_read(self, up_to: UUID, context: CommandContext) -> None:
        if str(up_to) != self.up_to:
            self._record(NotificationsRead(user_id=self.user_id,
                                           up_to_notification_id=str(up_to)), context)

    @singledispatchmethod
    def when(self, event: Event) -> None:
        super().when(event)

    @when.register
    def _read(self, event: NotificationsRead) -> None:
        self.user_id, self.up_to = event.user_id, event.up_to_notification_id
