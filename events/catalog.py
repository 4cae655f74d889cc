"""One frozen, past-tense dataclass per event type.

A published event type never changes shape: a new shape is a new `schema_version`
with an upcaster from the old one (see `events.upcasting`). Ids are UUID strings.

`internal` event types hold private facts (email addresses, password hashes) that the
write side needs to rebuild itself; they are stored in the same log but never
published to analysts, Kafka topics or exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event type; subclasses add the event's data fields."""

    schema_version: ClassVar[int] = 1
    family: ClassVar[str]
    internal: ClassVar[bool] = False
    description: ClassVar[str] = ""
    # Crypto-shredding (events.personal): the fields holding a person's personal data,
    # and the field naming that person (whose key encrypts them in the event store).
    personal: ClassVar[tuple[str, ...]] = ()
    data_subject: ClassVar[str] = ""

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__


# --- users -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UserRegistered(Event):
    family = "users"
    data_subject = "user_id"
    personal = ("username", "display_name", "bio", "location", "age")
    description = "A person created an account."
    user_id: str
    username: str
    display_name: str
    bio: str = ""
    location: str = ""
    age: int | None = None


@dataclass(frozen=True, kw_only=True)
class ProfileUpdated(Event):
    family = "users"
    data_subject = "user_id"
    personal = ("display_name", "bio", "location", "age")
    description = "A user's editable profile after the change (all fields, not a diff)."
    user_id: str
    display_name: str
    bio: str
    location: str
    age: int | None


@dataclass(frozen=True, kw_only=True)
class AvatarChanged(Event):
    schema_version = 2
    family = "users"
    data_subject = "user_id"
    personal = ("placeholder",)
    description = (
        "A user uploaded a new avatar; `variants` maps variant name to media key, "
        "`variant_sizes` variant name to its {width, height} in pixels (v2; empty for "
        "avatars changed before), `placeholder` is a BlurHash of the image (v2) or null."
    )
    user_id: str
    original_key: str
    variants: dict[str, str]
    variant_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    placeholder: str | None = None


@dataclass(frozen=True, kw_only=True)
class AccountPrivacyChanged(Event):
    family = "users"
    description = (
        "A user made their account private (`private` true: following them then takes "
        "their approval, and only approved followers see their photos, comments and "
        "follower lists) or public again (false; the pending follow requests are approved "
        "by the same command, each as `FollowRequestApproved` and `UserFollowed`)."
    )
    user_id: str
    private: bool


@dataclass(frozen=True, kw_only=True)
class EmailClaimed(Event):
    family = "users"
    data_subject = "user_id"
    personal = ("email",)
    internal = True
    description = "Reserves a normalised email address for one user (private)."
    email: str
    user_id: str


@dataclass(frozen=True, kw_only=True)
class PasswordSet(Event):
    family = "users"
    data_subject = "user_id"
    personal = ("password_hash",)
    internal = True
    description = "A user's password hash (argon2) was set (private)."
    user_id: str
    password_hash: str


@dataclass(frozen=True, kw_only=True)
class UsernameClaimed(Event):
    family = "users"
    internal = True
    data_subject = "user_id"
    personal = ("username",)
    description = (
        "Reserves a normalised username for one user (private). Accounts registered "
        "before usernames could be released have no claim: their user id derives from "
        "the username."
    )
    username: str
    user_id: str


@dataclass(frozen=True, kw_only=True)
class UsernameReleased(Event):
    family = "users"
    internal = True
    description = "The account holding the username was deleted: the username is free."
    user_id: str


@dataclass(frozen=True, kw_only=True)
class EmailReleased(Event):
    family = "users"
    internal = True
    description = "The account holding the email address was deleted: the address is free."
    user_id: str


@dataclass(frozen=True, kw_only=True)
class AccountDeleted(Event):
    family = "users"
    description = (
        "A person deleted their account. Their photos, comments, likes and follows were "
        "undone by the events just before it (PhotoDeleted, CommentDeleted, PhotoUnliked, "
        "UserUnfollowed); every view forgets the rest about `user_id` (the profile, its "
        "inbox, home timeline and search entries, and any row naming the user). Their "
        "encryption key is destroyed right after, so every personal field of their "
        "earlier events reads in its redacted form from then on."
    )
    user_id: str


# --- photos ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PhotoPosted(Event):
    schema_version = 2
    family = "photos"
    data_subject = "owner_id"
    personal = ("caption", "location", "hashtags", "alt_text", "placeholder")
    description = (
        "A user posted a photo. `hashtags` are parsed from the caption, lower-cased; "
        "`tagged_user_ids` are the users tagged in it; `variants` maps variant name "
        "(large, medium, square; feed and feed_small since v2) to media key; width and "
        "height are the original's after EXIF orientation. v2 adds `variant_sizes`, "
        "variant name to the {width, height} of that image in pixels (for a v1 event, "
        "upcast: the sizes that follow from width and height), and `placeholder`, a "
        "BlurHash (4x3 components) of the photo, or null; `alt_text`, the owner's "
        "description of the photo for people who cannot see it, or null (v2; null for "
        "a v1 event; later edits are `PhotoAltTextChanged`)."
    )
    photo_id: str
    owner_id: str
    caption: str = ""
    location: str = ""
    hashtags: list[str] = field(default_factory=list)
    tagged_user_ids: list[str] = field(default_factory=list)
    original_key: str
    format: str
    width: int
    height: int
    variants: dict[str, str]
    variant_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    placeholder: str | None = None
    alt_text: str | None = None


@dataclass(frozen=True, kw_only=True)
class PhotoAltTextChanged(Event):
    family = "photos"
    data_subject = "owner_id"
    personal = ("alt_text",)
    description = (
        "The owner changed a photo's alt text (its description for people who cannot see "
        "it): `alt_text` is the whole new text, or null when the owner removed it."
    )
    photo_id: str
    owner_id: str
    alt_text: str | None


@dataclass(frozen=True, kw_only=True)
class PhotoDeleted(Event):
    family = "photos"
    description = "The owner deleted a photo."
    photo_id: str
    owner_id: str


# --- social graph ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UserFollowed(Event):
    family = "graph"
    description = "`follower_id` started following `followee_id`."
    follower_id: str
    followee_id: str


@dataclass(frozen=True, kw_only=True)
class UserUnfollowed(Event):
    family = "graph"
    description = "`follower_id` stopped following `followee_id`."
    follower_id: str
    followee_id: str


@dataclass(frozen=True, kw_only=True)
class UserBlocked(Event):
    family = "graph"
    description = (
        "`blocker_id` blocked `blocked_id`. Private to the blocker: the read API tells "
        "nobody else. The same command's `UserUnfollowed` events (both ways) end the "
        "pair's follows; while the block lasts neither can follow the other, like, "
        "comment on or tag the other's photos, and neither sees the other's content."
    )
    blocker_id: str
    blocked_id: str


@dataclass(frozen=True, kw_only=True)
class UserUnblocked(Event):
    family = "graph"
    description = (
        "`blocker_id` lifted their block of `blocked_id`. Follows ended by the block "
        "stay ended."
    )
    blocker_id: str
    blocked_id: str


@dataclass(frozen=True, kw_only=True)
class UserMuted(Event):
    family = "graph"
    description = (
        "`muter_id` muted `muted_id`: the muted person's posts leave the muter's home "
        "timeline and their activity raises no notifications for the muter. Nothing "
        "else changes and the muted person is not told."
    )
    muter_id: str
    muted_id: str


@dataclass(frozen=True, kw_only=True)
class UserUnmuted(Event):
    family = "graph"
    description = "`muter_id` unmuted `muted_id`: their posts show in the timeline again."
    muter_id: str
    muted_id: str


@dataclass(frozen=True, kw_only=True)
class FollowRequested(Event):
    family = "graph"
    description = (
        "`follower_id` asked to follow `followee_id`, whose account is private; the "
        "request is pending until approved, declined or withdrawn."
    )
    follower_id: str
    followee_id: str


@dataclass(frozen=True, kw_only=True)
class FollowRequestApproved(Event):
    family = "graph"
    description = (
        "`followee_id` approved the pending follow request of `follower_id` (or made their "
        "account public, which approves every pending request); a `UserFollowed` of the "
        "same pair is recorded with it."
    )
    follower_id: str
    followee_id: str


@dataclass(frozen=True, kw_only=True)
class FollowRequestDeclined(Event):
    family = "graph"
    description = "`followee_id` declined the pending follow request of `follower_id`."
    follower_id: str
    followee_id: str


@dataclass(frozen=True, kw_only=True)
class FollowRequestCancelled(Event):
    family = "graph"
    description = "`follower_id` withdrew (cancelled) their pending follow request to `followee_id`."
    follower_id: str
    followee_id: str


# --- engagement --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PhotoLiked(Event):
    family = "engagement"
    description = "A user liked a photo owned by `owner_id`."
    photo_id: str
    owner_id: str
    user_id: str


@dataclass(frozen=True, kw_only=True)
class PhotoUnliked(Event):
    family = "engagement"
    description = "A user took back their like of a photo owned by `owner_id`."
    photo_id: str
    owner_id: str
    user_id: str


@dataclass(frozen=True, kw_only=True)
class CommentAdded(Event):
    family = "engagement"
    data_subject = "author_id"
    personal = ("text",)
    description = "A user commented on a photo owned by `photo_owner_id`."
    comment_id: str
    photo_id: str
    photo_owner_id: str
    author_id: str
    text: str


@dataclass(frozen=True, kw_only=True)
class CommentDeleted(Event):
    family = "engagement"
    description = "A comment was deleted by its author or by the photo's owner (`deleted_by`)."
    comment_id: str
    photo_id: str
    author_id: str
    deleted_by: str


# --- notifications -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NotificationsRead(Event):
    family = "users"
    description = (
        "A user marked their notifications read, up to and including the notification "
        "`up_to_notification_id` (and every older one)."
    )
    user_id: str
    up_to_notification_id: str


_CLASSES: dict[str, type[Event]] = {
    cls.event_type(): cls
    for cls in (
        UserRegistered,
        ProfileUpdated,
        AvatarChanged,
        AccountPrivacyChanged,
        EmailClaimed,
        PasswordSet,
        UsernameClaimed,
        UsernameReleased,
        EmailReleased,
        AccountDeleted,
        PhotoPosted,
        PhotoAltTextChanged,
        PhotoDeleted,
        UserFollowed,
        UserUnfollowed,
        UserBlocked,
        UserUnblocked,
        UserMuted,
        UserUnmuted,
        FollowRequested,
        FollowRequestApproved,
        FollowRequestDeclined,
        FollowRequestCancelled,
        PhotoLiked,
        PhotoUnliked,
        CommentAdded,
        CommentDeleted,
        NotificationsRead,
    )
}


def event_classes() -> tuple[type[Event], ...]:
    """Every event type, internal ones included."""
    return tuple(_CLASSES.values())


def public_event_classes() -> tuple[type[Event], ...]:
    """The event types published to analysts, topics and exports."""
    return tuple(cls for cls in _CLASSES.values() if not cls.internal)


def event_class(event_type: str) -> type[Event] | None:
    """The class for an event type name, or None if the name is unknown."""
    return _CLASSES.get(event_type)
