"""Notifications view: what happened to you (followed, liked, commented, tagged, asked to
follow your private account, your follow request approved), newest first, and how far
you have read.

One notification per (type, subject), with a deterministic id: redelivery, unlike-then-
like-again and restarts never make a second one. Undoing the cause removes it (unfollow,
unlike, comment deleted, photo deleted). Nobody is notified of their own actions.

The read marker comes from `NotificationsRead` events: the notification named there is
resolved to its position for that user *as of the read's own log position*, i.e. the
position of the latest event at or before the read that made that notification (an
unknown id, someone else's, or one made only after the read, marks nothing until such a
making arrives), and the user's marker only ever moves forward.

Why "as of the read": one notification id is made again after its cause was undone
(like, unlike, like again), so it has several positions over time, and the cluster
profile may deliver the read after a later making of it (they travel on different Kafka
partitions). So the view remembers every making of a notification (its positions) and
every read naming one (the newest read position per user and id), and the marker is the
highest position p such that some read at or after p names a notification made at p:
a read applied after the makings finds the latest one at or before itself; a making
applied after a read that names it moves the marker to its own position if the read
came later in the log. Both remember before they look for the other (Dekker): a store
without a transaction never lets the two miss each other.

Events of different aggregates may arrive out of log order (the cluster profile's Kafka
partitions keep order per aggregate only), so stores keep removed notifications hidden
rather than gone and remember deleted photos: the view converges to the same rows
whatever the delivery order. A notification is read when its position is
at or below the marker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal
from uuid import UUID, uuid5

from photoshare.events import (
    AccountDeleted,
    CommentAdded,
    CommentDeleted,
    Envelope,
    FollowRequestApproved,
    FollowRequestDeclined,
    FollowRequested,
    FollowRequestCancelled,
    NotificationsRead,
    PhotoDeleted,
    PhotoLiked,
    PhotoPosted,
    PhotoUnliked,
    UserFollowed,
    UserUnfollowed,
)
from photoshare.projections.base import Projection, on

NotificationType = Literal["follow", "like", "comment", "tag", "follow_request",
                           "follow_request_approved"]

# The kind of the live notice a new notification is announced with.
NOTICE_KIND = "notification"

# Notification ids are derived, never random, so every replay makes the same ones.
NAMESPACE = UUID("4b0e6c2a-9d51-4c38-8f0e-3a7d2b1c6e94")


def notification_id(kind: NotificationType, *subject: str) -> str:
    """The id of the notification of `kind` about `subject`, e.g. like: (photo, liker)."""
    return str(uuid5(NAMESPACE, ":".join((kind, *subject))))


@dataclass(frozen=True)
class Notification:
    notification_id: str
    user_id: str          # the recipient
    type: str             # follow | like | comment | tag | follow_request | ..._approved
    actor_id: str
    photo_id: str | None
    created_at: str
    position: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NotificationStore(ABC):
    """Write port. Adds are keyed by notification id: adding one that exists changes
    nothing and answers False."""

    @abstractmethod
    def add(self, notification: Notification) -> bool:
        """Store it; True if it was not there before (or hidden). A store outside a view
        transaction also answers True when the row there was written by this very
        event (same position): a replay after a crash must finish what it started."""

    @abstractmethod
    def announce(self, notification: Notification) -> None:
        """Tell the recipient's live clients, once the change is committed."""

    @abstractmethod
    def remove(self, notification_id: str) -> None:
        """Hide it; `position_of` still resolves it (a read marker may name it)."""

    @abstractmethod
    def remove_about_photo(self, photo_id: str) -> None:
        """Every notification (anyone's) about the photo, now and arriving later."""

    @abstractmethod
    def forget_recipient(self, user_id: str) -> None:
        """The user's account was deleted: hide every notification they received, now
        and arriving later, and drop their read marker. (Those they caused were removed
        by the events undoing their follows, likes, comments and photos.)"""

    @abstractmethod
    def remember_made(self, notification: Notification) -> None:
        """Remember that the recipient's notification was made at its position (stored,
        hidden or already there alike): `position_of` resolves reads with it."""

    @abstractmethod
    def position_of(self, user_id: str, notification_id: str, at: int) -> int | None:
        """The highest position at or below `at` at which `user_id`'s notification
        `notification_id` was made (hidden since or not), or None."""

    @abstractmethod
    def remember_read(self, user_id: str, notification_id: str, at: int) -> None:
        """Remember that a read at position `at` named the notification (the newest such
        position per user and id is what counts)."""

    @abstractmethod
    def read_since(self, user_id: str, notification_id: str, position: int) -> bool:
        """Whether a read at or after `position` named the notification."""

    def start_read_since(self, user_id: str, notification_id: str,
                         position: int) -> Callable[[], bool]:
        """`read_since`, begun now and answered by the call it returns: a store whose
        reads are round trips sends it at once, so that it and the reads begun before
        it is answered (`add`'s) wait for their answers together. By default the read
        runs when it is answered."""
        return lambda: self.read_since(user_id, notification_id, position)

    @abstractmethod
    def advance_read_marker(self, user_id: str, position: int) -> None:
        """read_up_to = max(read_up_to, position)."""


class NotificationQueries(ABC):
    """Read port of the notifications view."""

    @abstractmethod
    def for_user(self, user_id: str, before: int | None, limit: int) -> list[Notification]:
        """`user_id`'s notifications, newest first, positions below `before`."""

    @abstractmethod
    def by_id(self, user_id: str, notification_id: str) -> Notification | None: ...

    @abstractmethod
    def read_up_to(self, user_id: str) -> int:
        """The user's read marker: notifications at or below it are read (0: none)."""

    def start_read_up_to(self, user_id: str) -> Callable[[], int]:
        """`read_up_to`, begun now and answered by the call it returns: a store whose
        reads are round trips sends it at once, so that the reads begun before it is
        answered wait together. By default the read runs when answered."""
        return lambda: self.read_up_to(user_id)


class NotificationsProjection(Projection[NotificationStore]):
    name = "notifications"

    @staticmethod
    def _notify(store: NotificationStore, envelope: Envelope, *, kind: NotificationType,
                subject: tuple[str, ...], recipient: str, actor: str,
                photo_id: str | None = None) -> None:
        if recipient == actor:
            return  # your own action is no news to you
        notification = Notification(
            notification_id=notification_id(kind, *subject), user_id=recipient, type=kind,
            actor_id=actor, photo_id=photo_id, created_at=envelope.occurred_at.isoformat(),
            position=envelope.position)
        # Remembered before looking for reads (Dekker with `_read`, module docstring).
        store.remember_made(notification)
        # Begun now (after the making, as Dekker wants), answered after `add`, so that
        # on the cluster it waits together with `add`'s own reads.
        named = store.start_read_since(recipient, notification.notification_id,
                                       notification.position)
        if store.add(notification):
            store.announce(notification)
        # Also when stored hidden (its photo's deletion came first): a read that named it,
        # later in the log but delivered before it, still reads up to it, as in log order.
        if named():
            store.advance_read_marker(recipient, notification.position)

    @on(UserFollowed)
    def _followed(self, event: UserFollowed, envelope: Envelope,
                  store: NotificationStore) -> None:
        self._notify(store, envelope, kind="follow",
                     subject=(event.follower_id, event.followee_id),
                     recipient=event.followee_id, actor=event.follower_id)

    @on(UserUnfollowed)
    def _unfollowed(self, event: UserUnfollowed, _: Envelope, store: NotificationStore) -> None:
        store.remove(notification_id("follow", event.follower_id, event.followee_id))

    @on(FollowRequested)
    def _requested(self, event: FollowRequested, envelope: Envelope,
                   store: NotificationStore) -> None:
        self._notify(store, envelope, kind="follow_request",
                     subject=(event.follower_id, event.followee_id),
                     recipient=event.followee_id, actor=event.follower_id)

    @on(FollowRequestApproved)
    def _request_approved(self, event: FollowRequestApproved, envelope: Envelope,
                          store: NotificationStore) -> None:
        store.remove(notification_id("follow_request", event.follower_id, event.followee_id))
        self._notify(store, envelope, kind="follow_request_approved",
                     subject=(event.follower_id, event.followee_id),
                     recipient=event.follower_id, actor=event.followee_id)

    @on(FollowRequestDeclined)
    def _request_declined(self, event: FollowRequestDeclined, _: Envelope,
                          store: NotificationStore) -> None:
        store.remove(notification_id("follow_request", event.follower_id, event.followee_id))

    @on(FollowRequestCancelled)
    def _request_cancelled(self, event: FollowRequestCancelled, _: Envelope,
                           store: NotificationStore) -> None:
        store.remove(notification_id("follow_request", event.follower_id, event.followee_id))

    @on(PhotoLiked)
    def _liked(self, event: PhotoLiked, envelope: Envelope, store: NotificationStore) -> None:
        self._notify(store, envelope, kind="like", subject=(event.photo_id, event.user_id),
                     recipient=event.owner_id, actor=event.user_id, photo_id=event.photo_id)

    @on(PhotoUnliked)
    def _unliked(self, event: PhotoUnliked, _: Envelope, store: NotificationStore) -> None:
        store.remove(notification_id("like", event.photo_id, event.user_id))

    @on(CommentAdded)
    def _commented(self, event: CommentAdded, envelope: Envelope,
                   store: NotificationStore) -> None:
        self._notify(store, envelope, kind="comment", subject=(event.comment_id,),
                     recipient=event.photo_owner_id, actor=event.author_id,
                     photo_id=event.photo_id)

    @on(CommentDeleted)
    def _uncommented(self, event: CommentDeleted, _: Envelope,
                     store: NotificationStore) -> None:
        store.remove(notification_id("comment", event.comment_id))

    @on(PhotoPosted)
    def _posted(self, event: PhotoPosted, envelope: Envelope, store: NotificationStore) -> None:
        for tagged in dict.fromkeys(event.tagged_user_ids):
            self._notify(store, envelope, kind="tag", subject=(event.photo_id, tagged),
                         recipient=tagged, actor=event.owner_id, photo_id=event.photo_id)

    @on(PhotoDeleted)
    def _deleted(self, event: PhotoDeleted, _: Envelope, store: NotificationStore) -> None:
        store.remove_about_photo(event.photo_id)

    @on(AccountDeleted)
    def _account_deleted(self, event: AccountDeleted, _: Envelope,
                         store: NotificationStore) -> None:
        store.forget_recipient(event.user_id)

    @on(NotificationsRead)
    def _read(self, event: NotificationsRead, envelope: Envelope,
              store: NotificationStore) -> None:
        # Remembered first, also when the notification is there: the cluster profile may
        # deliver a making of it that came before this read later (they travel on
        # different Kafka partitions), and that making then moves the marker.
        store.remember_read(event.user_id, event.up_to_notification_id, envelope.position)
        position = store.position_of(event.user_id, event.up_to_notification_id,
                                     envelope.position)
        if position is not None:
            store.advance_read_marker(event.user_id, position)
