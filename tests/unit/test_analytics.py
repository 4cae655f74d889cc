"""The analysts' API (`streams.analytics`): the log in order with filters, exports that
read back unchanged, and an export that rebuilds the very same views in a fresh store."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photoshare.events.codec import decode_envelope, encode_envelope
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite.catalog import bindings, open_views
from photoshare.streams.analytics import (
    iter_events,
    last_events,
    read_export,
    trace,
    write_csv,
    write_jsonl,
)
from photoshare.streams.runner import ProjectionRunner
from support.embedded import event_store, image_bytes, post_photo, register
from support.histories import ListLog


def scenario(client: TestClient) -> dict[str, str]:
    """Three users, follows, photos, a like, a comment, a deletion; a few ids."""
    ann, bob, cy = register(client, "ann"), register(client, "bob"), register(client, "cyd")
    for follower, followee in ((bob, ann), (cy, ann), (ann, bob)):
        assert client.put(f"/v1/users/me/following/{followee.user_id}",
                          headers=follower.auth).status_code == 204
    first = post_photo(client, ann, caption="Sunset #beach", tagged="bob")["photo_id"]
    second = post_photo(client, bob, image_bytes(color="red"), caption="Café crème")["photo_id"]
    gone = post_photo(client, cy, caption="oops")["photo_id"]
    assert client.put(f"/v1/photos/{first}/likes/me", headers=bob.auth).status_code == 204
    comment = client.post(f"/v1/photos/{first}/comments", json={"text": "lovely"},
                          headers={**cy.auth, "X-Request-ID": "req-comment-1"})
    assert comment.status_code == 201, comment.text
    assert client.delete(f"/v1/photos/{gone}", headers=cy.auth).status_code == 204
    assert client.patch("/v1/users/me", json={"bio": "beaches"},
                        headers=ann.auth).status_code == 200
    return {"ann": ann.user_id, "bob": bob.user_id, "first": first, "second": second}


def test_iter_events_is_the_public_log_in_order(client: TestClient,
                                                settings: Settings) -> None:
    scenario(client)
    events = list(iter_events(settings))
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert {"UserRegistered", "PhotoPosted", "PhotoLiked", "CommentAdded",
            "PhotoDeleted"} <= {e["event_type"] for e in events}
    assert not {"EmailClaimed", "PasswordSet"} & {e["event_type"] for e in events}
    everything = list(iter_events(settings, include_internal=True))
    assert {"EmailClaimed", "PasswordSet"} <= {e["event_type"] for e in everything}
    assert len(everything) == event_store(client).head_position()
    # The same envelopes the event store serves, as dicts.
    assert [decode_envelope(encode_envelope(e)) for e in event_store(client).read_log(0, 10_000)
            ] == [decode_envelope(_line(e)) for e in events]


def _line(event: dict) -> str:
    buffer = io.StringIO()
    write_jsonl([event], buffer)
    return buffer.getvalue()


def test_iter_events_filters(client: TestClient, settings: Settings) -> None:
    ids = scenario(client)
    events = list(iter_events(settings))

    photos = list(iter_events(settings, types=["PhotoPosted", "PhotoDeleted"]))
    assert photos == [e for e in events if e["event_type"] in {"PhotoPosted", "PhotoDeleted"}]
    assert list(iter_events(settings, types="PhotoPosted,PhotoDeleted")) == photos

    first_photo = list(iter_events(settings, aggregate=ids["first"]))
    assert [e["event_type"] for e in first_photo] == ["PhotoPosted"]

    middle = events[len(events) // 2]
    later = list(iter_events(settings, from_position=middle["position"]))
    assert later == [e for e in events if e["position"] >= middle["position"]]

    moment = datetime.fromisoformat(middle["occurred_at"])
    since = list(iter_events(settings, since=middle["occurred_at"]))
    until = list(iter_events(settings, until=moment))
    assert since == [e for e in events if datetime.fromisoformat(e["occurred_at"]) >= moment]
    assert until == [e for e in events if datetime.fromisoformat(e["occurred_at"]) < moment]
    assert list(iter_events(settings, since=moment + timedelta(days=1))) == []

    with pytest.raises(ValueError, match="PhotoPosed"):
        iter_events(settings, types=["PhotoPosed"])


def test_last_events_and_trace(client: TestClient, settings: Settings) -> None:
    scenario(client)
    events = list(iter_events(settings))
    last, head = last_events(settings, 3)
    assert last == events[-3:] and head == event_store(client).head_position()
    assert last_events(settings, 1000)[0] == events
    likes, _ = last_events(settings, 5, types=["PhotoLiked"])
    assert [e["event_type"] for e in likes] == ["PhotoLiked"]

    caused = trace(settings, "req-comment-1")
    assert [e["event_type"] for e in caused] == ["CommentAdded"]
    assert set(caused[0]["applied_by"]) == {b.projection.name for b in bindings(settings)}
    assert caused[0]["pending"] == []
    assert trace(settings, "no-such-request") == []


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_round_trip(client: TestClient, settings: Settings, tmp_path: Path,
                           fmt: str) -> None:
    scenario(client)
    events = list(iter_events(settings))
    path = tmp_path / f"export.{fmt}"
    with path.open("w", encoding="utf-8", newline="") as out:
        count = (write_csv if fmt == "csv" else write_jsonl)(iter_events(settings), out)
    assert count == len(events)
    assert list(read_export(path)) == events
    assert list(read_export(path, format=fmt)) == events


def test_export_reimported_into_a_fresh_store_reproduces_the_views(
        client: TestClient, settings: Settings, tmp_path: Path) -> None:
    scenario(client)
    export = tmp_path / "log.jsonl"
    with export.open("w", encoding="utf-8") as out:
        write_jsonl(iter_events(settings), out)
    envelopes = [decode_envelope(line) for line in export.read_text("utf-8").splitlines()]

    fresh = open_views(tmp_path / "fresh" / "views.sqlite3")
    try:
        runner = ProjectionRunner(ListLog(envelopes), fresh, bindings(settings), batch_size=7)
        runner.catch_up()
        live = client.app.state.runner.runner.views
        dump = fresh.dump()
        assert any(dump.values())
        assert dump == live.dump()
    finally:
        fresh.close()
