"""The shared vocabulary of photoshare: one frozen class per event type, the envelope
every stored event travels in, a JSON codec with upcasters, and the published schema.

This package imports nothing but the standard library, so analysts, projections and
the command side can all depend on it.
"""

from photoshare.events.catalog import (
    AccountDeleted,
    AvatarChanged,
    CommentAdded,
    CommentDeleted,
    EmailClaimed,
    EmailReleased,
    Event,
    NotificationsRead,
    PasswordSet,
    PhotoAltTextChanged,
    PhotoDeleted,
    PhotoLiked,
    PhotoPosted,
    PhotoUnliked,
    ProfileUpdated,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
    UsernameClaimed,
    UsernameReleased,
    event_class,
    event_classes,
    public_event_classes,
)
from photoshare.events.codec import (
    UnknownEventTypeError,
    decode_envelope,
    encode_envelope,
    event_from_data,
    event_to_data,
)
from photoshare.events.envelope import Envelope
from photoshare.events.upcasting import register_upcaster
from photoshare.events import upcasters as _upcasters  # noqa: F401 - registers them

__all__ = [
    "AccountDeleted",
    "AvatarChanged",
    "CommentAdded",
    "CommentDeleted",
    "EmailClaimed",
    "EmailReleased",
    "Envelope",
    "Event",
    "NotificationsRead",
    "PasswordSet",
    "PhotoAltTextChanged",
    "PhotoDeleted",
    "PhotoLiked",
    "PhotoPosted",
    "PhotoUnliked",
    "ProfileUpdated",
    "UnknownEventTypeError",
    "UserFollowed",
    "UserRegistered",
    "UserUnfollowed",
    "UsernameClaimed",
    "UsernameReleased",
    "decode_envelope",
    "encode_envelope",
    "event_class",
    "event_classes",
    "event_from_data",
    "event_to_data",
    "public_event_classes",
    "register_upcaster",
]
