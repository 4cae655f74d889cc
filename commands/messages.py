"""Commands: plain, imperative data asking the domain to change something."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CommandContext:
    """Who asks, and the id that ties the request to every event it causes."""

    actor_id: str | None
    correlation_id: str


@dataclass(frozen=True)
class StoredImage:
    """An image already made durable in the blob store, ready to be referenced by an event."""

    original_key: str
    format: str
    width: int
    height: int
    variants: Mapping[str, str]
    # Each variant's {"width", "height"} in pixels; the whole image's BlurHash, or None.
    variant_sizes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    placeholder: str | None = None


@dataclass(frozen=True)
class RegisterUser:
    username: str
    email: str
    password_hash: str
    display_name: str
    bio: str = ""
    location: str = ""
    age: int | None = None


@dataclass(frozen=True)
class UpdateProfile:
    """`changes` holds only the fields to change: display_name, bio, location, age, and
    `private` (a bool)."""

    user_id: str
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeAvatar:
    user_id: str
    image: StoredImage


@dataclass(frozen=True)
class PostPhoto:
    owner_id: str
    image: StoredImage
    caption: str = ""
    location: str = ""
    tagged_usernames: tuple[str, ...] = ()
    alt_text: str | None = None


@dataclass(frozen=True)
class ChangePhotoAltText:
    """`alt_text` None removes the photo's alt text."""

    photo_id: str
    user_id: str
    alt_text: str | None


@dataclass(frozen=True)
class DeletePhoto:
    photo_id: str
    user_id: str


@dataclass(frozen=True)
class FollowUser:
    follower_id: str
    followee_id: str


@dataclass(frozen=True)
class UnfollowUser:
    follower_id: str
    followee_id: str


@dataclass(frozen=True)
class BlockUser:
    blocker_id: str
    blocked_id: str


@dataclass(frozen=True)
class UnblockUser:
    blocker_id: str
    blocked_id: str


@dataclass(frozen=True)
class MuteUser:
    muter_id: str
    muted_id: str


@dataclass(frozen=True)
class UnmuteUser:
    muter_id: str
    muted_id: str


@dataclass(frozen=True)
class ApproveFollowRequest:
    """`user_id` (the private account) approves `follower_id`'s pending request."""

    user_id: str
    follower_id: str


@dataclass(frozen=True)
class DeclineFollowRequest:
    user_id: str
    follower_id: str


@dataclass(frozen=True)
class LikePhoto:
    photo_id: str
    user_id: str


@dataclass(frozen=True)
class UnlikePhoto:
    photo_id: str
    user_id: str


@dataclass(frozen=True)
class AddComment:
    photo_id: str
    author_id: str
    text: str


@dataclass(frozen=True)
class DeleteComment:
    photo_id: str
    comment_id: str
    user_id: str


@dataclass(frozen=True)
class MarkNotificationsRead:
    """Mark `user_id`'s notifications read up to the notification `up_to` (an id)."""

    user_id: str
    up_to: str


@dataclass(frozen=True)
class DeleteAccount:
    """Delete `user_id`'s account: undo what they did, forget them, destroy their key.
    The password is checked by the caller (the write API), as for a log-in."""

    user_id: str
