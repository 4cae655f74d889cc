"""JSON codec for events and envelopes.

Data is plain JSON (strings, numbers, lists, objects); times are ISO-8601 UTC. Decoding
upcasts old schema versions, so callers always get the current shape.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from photoshare.events.catalog import Event, event_class
from photoshare.events.envelope import Envelope
from photoshare.events.upcasting import upcast


class UnknownEventTypeError(LookupError):
    """The log holds an event type this code base does not know."""


class EventDecodeError(ValueError):
    """Stored data does not fit its event type (after upcasting)."""


def event_to_data(event: Event) -> dict[str, Any]:
    """The event's fields as JSON-ready data."""
    return dataclasses.asdict(event)


def event_from_data(event_type: str, schema_version: int, data: dict[str, Any]) -> Event:
    """Build the current version of an event from stored data of any known version."""
    cls = event_class(event_type)
    if cls is None:
        raise UnknownEventTypeError(event_type)
    if schema_version > cls.schema_version:
        raise EventDecodeError(
            f"{event_type} v{schema_version} is newer than this code (v{cls.schema_version})"
        )
    current = upcast(event_type, schema_version, data, cls.schema_version)
    try:
        return cls(**current)
    except TypeError as error:
        raise EventDecodeError(f"{event_type}: {error}") from None


def envelope_to_dict(envelope: Envelope) -> dict[str, Any]:
    """The envelope as JSON-ready data (times as ISO-8601 strings)."""
    body = dataclasses.asdict(envelope)
    body["occurred_at"] = envelope.occurred_at.isoformat()
    if body["sealed"] is None:
        del body["sealed"]  # only envelopes published to Kafka carry a seal
    return body


def encode_envelope(envelope: Envelope) -> str:
    """One envelope as a compact JSON line."""
    return json.dumps(envelope_to_dict(envelope), separators=(",", ":"), ensure_ascii=False)


SealOpener = Callable[[str, dict[str, Any], dict[str, Any] | None], dict[str, Any]]


def decode_envelope(raw: str | bytes, open_seal: SealOpener | None = None) -> Envelope:
    """Parse a JSON envelope and upcast its data to the current schema version. A sealed
    envelope is opened with `open_seal` (event type, data, seal -> data) when given;
    without it, its personal fields stay redacted."""
    body = json.loads(raw)
    data = body["data"]
    if open_seal is not None and body.get("sealed") is not None:
        data = open_seal(body["event_type"], data, body["sealed"])
    event = event_from_data(body["event_type"], body["schema_version"], data)
    return Envelope(
        event_id=body["event_id"],
        event_type=body["event_type"],
        schema_version=event.schema_version,
        aggregate_id=body["aggregate_id"],
        aggregate_version=body["aggregate_version"],
        position=body["position"],
        occurred_at=datetime.fromisoformat(body["occurred_at"]),
        actor_id=body["actor_id"],
        correlation_id=body["correlation_id"],
        data=event_to_data(event),
    )
