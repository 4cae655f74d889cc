"""Events as the log would serve them, for contract tests that place each event at a
position of their choosing: `at(position, follow(a, b))`."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from photoshare.events import (
    AccountDeleted,
    CommentAdded,
    CommentDeleted,
    Envelope,
    Event,
    NotificationsRead,
    PhotoAltTextChanged,
    PhotoDeleted,
    PhotoLiked,
    PhotoPosted,
    PhotoUnliked,
    UserFollowed,
    UserUnfollowed,
    event_to_data,
)
from support.histories import START


def new_id() -> str:
    return str(uuid4())


def at(position: int, event: Event) -> Envelope:
    """`event` as the log would serve it at `position`."""
    return Envelope(event_id=new_id(), event_type=event.event_type(),
                    schema_version=event.schema_version, aggregate_id=new_id(),
                    aggregate_version=1, position=position,
                    occurred_at=START + timedelta(seconds=position), actor_id=None,
                    correlation_id=f"c{position}", data=event_to_data(event))


def follow(follower: str, followee: str) -> UserFollowed:
    return UserFollowed(follower_id=follower, followee_id=followee)


def unfollow(follower: str, followee: str) -> UserUnfollowed:
    return UserUnfollowed(follower_id=follower, followee_id=followee)


def post(photo_id: str, owner: str, *tagged: str, alt_text: str | None = None) -> PhotoPosted:
    return PhotoPosted(photo_id=photo_id, owner_id=owner, caption="sun on the #beach",
                       location="Nice", hashtags=["beach"], tagged_user_ids=list(tagged),
                       original_key="o.jpg", format="jpeg", width=1080, height=720,
                       variants={"large": f"{photo_id}-l.jpg", "small": f"{photo_id}-s.jpg"},
                       variant_sizes=SIZES, placeholder=PLACEHOLDER, alt_text=alt_text)


def describe(photo_id: str, owner: str, alt_text: str | None) -> PhotoAltTextChanged:
    return PhotoAltTextChanged(photo_id=photo_id, owner_id=owner, alt_text=alt_text)


SIZES = {"large": {"width": 1080, "height": 720}, "small": {"width": 640, "height": 427}}
PLACEHOLDER = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"


def delete(photo_id: str, owner: str) -> PhotoDeleted:
    return PhotoDeleted(photo_id=photo_id, owner_id=owner)


def like(photo_id: str, owner: str, user: str) -> PhotoLiked:
    return PhotoLiked(photo_id=photo_id, owner_id=owner, user_id=user)


def unlike(photo_id: str, owner: str, user: str) -> PhotoUnliked:
    return PhotoUnliked(photo_id=photo_id, owner_id=owner, user_id=user)


def comment(comment_id: str, photo_id: str, owner: str, author: str,
            text: str = "nice") -> CommentAdded:
    return CommentAdded(comment_id=comment_id, photo_id=photo_id, photo_owner_id=owner,
                        author_id=author, text=text)


def uncomment(comment_id: str, photo_id: str, author: str) -> CommentDeleted:
    return CommentDeleted(comment_id=comment_id, photo_id=photo_id, author_id=author,
                          deleted_by=author)


def account_deleted(user: str) -> AccountDeleted:
    return AccountDeleted(user_id=user)


def read(user: str, up_to: str) -> NotificationsRead:
    return NotificationsRead(user_id=user, up_to_notification_id=up_to)
