"""The events vocabulary: frozen classes, the JSON codec, upcasters and the schema."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import jsonschema
import pytest

from photoshare import events
from photoshare.events import upcasting
from photoshare.events.codec import (
    EventDecodeError,
    decode_envelope,
    encode_envelope,
    event_from_data,
    event_to_data,
)
from photoshare.events.schema import published_schema
from photoshare.infra.cli.main import main as cli

SAMPLE = events.PhotoPosted(photo_id="p1", owner_id="u1", caption="sun #beach",
                            hashtags=["beach"], original_key="k.jpg", format="jpeg",
                            width=4000, height=3000, variants={"large": "l.jpg"})


def envelope_of(event: events.Event, position: int = 7) -> events.Envelope:
    return events.Envelope(
        event_id="e1", event_type=event.event_type(), schema_version=event.schema_version,
        aggregate_id="a1", aggregate_version=1, position=position,
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), actor_id="u1",
        correlation_id="req-1", data=events.event_to_data(event))


def test_events_are_frozen_and_past_tense() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SAMPLE.caption = "changed"  # type: ignore[misc]
    for cls in events.event_classes():
        assert cls.__name__.endswith(("ed", "Set", "Read")), cls.__name__
        assert cls.family in {"users", "photos", "graph", "engagement"}


def test_private_facts_are_not_published() -> None:
    public = {cls.event_type() for cls in events.public_event_classes()}
    assert {"EmailClaimed", "PasswordSet"}.isdisjoint(public)
    assert {"UserRegistered", "PhotoPosted", "UserFollowed", "CommentDeleted"} <= public
    assert "email" not in json.dumps(published_schema()["$defs"]["UserRegistered"])


def test_envelope_round_trips_through_json() -> None:
    envelope = envelope_of(SAMPLE)
    line = encode_envelope(envelope)
    assert "\n" not in line
    assert decode_envelope(line) == envelope


def test_every_published_envelope_validates_against_the_schema() -> None:
    schema = published_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    body = json.loads(encode_envelope(envelope_of(SAMPLE)))
    jsonschema.validate(body, schema)
    body["data"]["width"] = "wide"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, schema)


def test_unknown_types_and_future_versions_are_refused() -> None:
    with pytest.raises(events.UnknownEventTypeError):
        event_from_data("PhotoTeleported", 1, {})
    with pytest.raises(EventDecodeError):
        event_from_data("PhotoDeleted", 99, {"photo_id": "p", "owner_id": "u"})
    with pytest.raises(EventDecodeError):
        event_from_data("PhotoDeleted", 1, {"photo_id": "p"})


def test_upcasters_bring_old_versions_to_the_current_shape(monkeypatch) -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class PhotoDeletedV2(events.PhotoDeleted):
        schema_version = 2
        reason: str

    monkeypatch.setattr(upcasting, "_UPCASTERS", {})
    monkeypatch.setitem(events.catalog._CLASSES, "PhotoDeleted", PhotoDeletedV2)

    @events.register_upcaster("PhotoDeleted", 1)
    def add_reason(data: dict) -> dict:
        return {**data, "reason": "unknown"}

    old = {"event_id": "e", "event_type": "PhotoDeleted", "schema_version": 1,
           "aggregate_id": "p", "aggregate_version": 2, "position": 3,
           "occurred_at": "2026-01-01T00:00:00+00:00", "actor_id": "u",
           "correlation_id": "c", "data": {"photo_id": "p", "owner_id": "u"}}
    envelope = decode_envelope(json.dumps(old))
    assert envelope.schema_version == 2
    assert envelope.data == {"photo_id": "p", "owner_id": "u", "reason": "unknown"}
    with pytest.raises(ValueError):
        events.register_upcaster("PhotoDeleted", 1)(add_reason)


def test_cli_prints_the_published_schema(capsys, tmp_path) -> None:
    assert cli(["events", "schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["$defs"]) == {c.event_type() for c in events.public_event_classes()}
    target = tmp_path / "schema.json"
    assert cli(["events", "schema", "--output", str(target)]) == 0
    assert json.loads(target.read_text()) == printed


def test_a_v1_photo_posted_gets_the_sizes_its_width_and_height_give() -> None:
    v1 = {"photo_id": "p", "owner_id": "u", "original_key": "o.jpg", "format": "jpeg",
          "width": 1080, "height": 1920,
          "variants": {"large": "l.jpg", "medium": "m.jpg", "square": "s.jpg"}}
    event = event_from_data("PhotoPosted", 1, v1)
    assert event.variant_sizes == {"large": {"width": 608, "height": 1080},
                                   "medium": {"width": 360, "height": 640},
                                   "square": {"width": 320, "height": 320}}
    assert (event.placeholder, event.alt_text) == (None, None)
    small = event_from_data("PhotoPosted", 1, {**v1, "width": 200, "height": 120})
    assert small.variant_sizes["large"] == small.variant_sizes["medium"] == \
        {"width": 200, "height": 120}  # never upscaled
    assert small.variant_sizes["square"] == {"width": 120, "height": 120}


def test_a_v2_photo_posted_written_before_alt_text_reads_as_without_one() -> None:
    # v2 gained alt_text before it was released; a v2 event without it has none.
    data = event_to_data(SAMPLE)
    del data["alt_text"]
    assert event_from_data("PhotoPosted", 2, data).alt_text is None


def test_a_v1_avatar_changed_has_no_sizes_to_tell() -> None:
    event = event_from_data("AvatarChanged", 1, {"user_id": "u", "original_key": "o.jpg",
                                                 "variants": {"avatar": "a.jpg"}})
    assert (event.variant_sizes, event.placeholder) == ({}, None)
