"""JSON Schema (draft 2020-12) for the envelope and each published event type.

Generated from the dataclasses themselves, so the published schema cannot drift from
the code. `photoshare events schema` prints it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from typing import Any

from photoshare.events.catalog import Event, public_event_classes
from photoshare.events.envelope import Envelope
from photoshare.events.personal import redaction_note

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _type_schema(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    if origin in (types.UnionType, typing.Union):
        return {"anyOf": [_type_schema(arg) for arg in args]}
    if hint is type(None):
        return {"type": "null"}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    if hint is Any or hint is dict:
        return {"type": "object"}
    raise TypeError(f"no JSON Schema mapping for {hint!r}")


def _object_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    return {
        "type": "object",
        "properties": {f.name: _type_schema(hints[f.name]) for f in fields},
        "required": [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ],
        "additionalProperties": False,
    }


def event_data_schema(cls: type[Event]) -> dict[str, Any]:
    """Schema of one event type's `data` object."""
    schema = _object_schema(cls)
    schema["title"] = cls.event_type()
    note = redaction_note(cls)
    schema["description"] = f"{cls.description} {note}" if note else cls.description
    schema["x-schema-version"] = cls.schema_version
    schema["x-family"] = cls.family
    if cls.personal:
        schema["x-personal"] = {"subject": cls.data_subject, "fields": list(cls.personal)}
    return schema


def envelope_schema(cls: type[Event]) -> dict[str, Any]:
    """Schema of a whole envelope carrying an event of type `cls`."""
    schema = _object_schema(Envelope)
    schema["properties"]["event_type"] = {"const": cls.event_type()}
    schema["properties"]["schema_version"] = {"const": cls.schema_version}
    schema["properties"]["data"] = event_data_schema(cls)
    schema["properties"]["sealed"] = {
        "anyOf": [{"type": "null"}, {
            "type": "object",
            "description": (
                "Only on the Kafka topics: the personal fields of `data` (there redacted) "
                "encrypted with AES-256-GCM under the key of person `subject`: base64 of "
                "a 12-byte nonce and the ciphertext of their JSON object, with "
                "`photoshare-seal:<event_type>:<subject>` as associated data. The key "
                "store beside the event store opens it; once the person deleted their "
                "account nothing can."),
            "properties": {"v": {"const": 1}, "subject": {"type": "string"},
                           "ciphertext": {"type": "string"}},
            "required": ["v", "subject", "ciphertext"],
            "additionalProperties": False}]}
    return {"$schema": DRAFT, "title": f"{cls.event_type()} envelope", **schema}


def published_schema() -> dict[str, Any]:
    """Every published event type's envelope schema, keyed by event type."""
    return {
        "$schema": DRAFT,
        "title": "photoshare events",
        "description": (
            "Each line of the event log is one envelope. `position` is the global "
            "order; `aggregate_version` orders one aggregate's events. Personal fields "
            "(`x-personal` of an event type) are stored encrypted with a key per person; "
            "when a person deletes their account the key is destroyed and those fields "
            "read in their redacted form from then on (see each type's description)."
        ),
        "oneOf": [{"$ref": f"#/$defs/{cls.event_type()}"} for cls in public_event_classes()],
        "$defs": {cls.event_type(): envelope_schema(cls) for cls in public_event_classes()},
    }
