"""Personal data in events, and its redacted form (crypto-shredding).

Each event type names the fields that hold a person's personal data (`Event.personal`)
and the field naming that person (`Event.data_subject`). The event store keeps those
fields encrypted with the person's own key; deleting the account destroys the key, and
from then on every reader of the log (the write side rebuilding aggregates, the
projections, the relay and Kafka consumers, `photoshare events export`) gets the
redacted form defined here instead:

- a string becomes "" (a nullable one: null), a number null, a list [] and an object {};
- `UserRegistered.username` and `UsernameClaimed.username` become
  `deleted-<user id without dashes>`: a marker, unique per account, that no one can
  register (its 40 characters exceed the 30 a username may have), so views keyed by
  username never collide while a rebuild passes through them.

Ids (user, photo, comment ids) and media keys stay in clear: they are what lets every
view find and forget the person's rows.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from photoshare.events.catalog import Event, event_class

DELETED_USERNAME_PREFIX = "deleted-"


def personal_fields(event_type: str) -> tuple[str, ...]:
    cls = event_class(event_type)
    return cls.personal if cls is not None else ()


def data_subject(event_type: str, data: dict[str, Any]) -> str | None:
    """The id of the person whose key protects this event's personal fields, or None if
    the event holds no personal data."""
    cls = event_class(event_type)
    if cls is None or not cls.personal:
        return None
    subject = data.get(cls.data_subject)
    return str(subject) if subject else None


def deleted_username(user_id: str) -> str:
    return DELETED_USERNAME_PREFIX + user_id.replace("-", "")


def redacted_value(cls: type[Event], name: str, data: dict[str, Any]) -> Any:
    """What field `name` of an event of type `cls` reads as once its key is destroyed."""
    if name == "username":
        return deleted_username(str(data.get(cls.data_subject, "")))
    hint = typing.get_type_hints(cls).get(name, str)
    options = typing.get_args(hint) if typing.get_origin(hint) in (
        types.UnionType, typing.Union) else (hint,)
    if type(None) in options:
        return None
    origin = typing.get_origin(options[0]) or options[0]
    if origin is list:
        return []
    if origin is dict:
        return {}
    if origin is int:
        return None
    return ""


def redact(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with every personal field present replaced by its redacted value."""
    cls = event_class(event_type)
    if cls is None or not cls.personal:
        return data
    return {**data, **{name: redacted_value(cls, name, data)
                       for name in cls.personal if name in data}}


def redaction_note(cls: type[Event]) -> str:
    """One sentence for the event schema: which fields are personal and how they read
    once the person deleted their account."""
    if not cls.personal:
        return ""
    shown = ", ".join(f"`{name}` → {_shown(redacted_value(cls, name, {cls.data_subject: '<id>'}))}"
                      for name in cls.personal)
    return (f"Personal data of `{cls.data_subject}` (encrypted with their key in the event "
            f"store; after they deleted their account these read redacted: {shown}).")


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str) and value.startswith(DELETED_USERNAME_PREFIX):
        return '"deleted-<user id, no dashes>"'
    return repr(value).replace("'", '"')
