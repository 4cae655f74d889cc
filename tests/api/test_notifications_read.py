"""Notifications over HTTP: the list, the read marker, and the live stream (SSE).

The list and marker run on the embedded app through TestClient. The stream runs on a
real uvicorn server in a thread (TestClient waits for a response to end, and an event
stream never does), read with httpx streaming; every wait is bounded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from photoshare.infra.roots.embedded import create_embedded_app
from photoshare.infra.sqlite.catalog import bindings, open_views
from photoshare.streams.runner import Notice, ProjectionRunner
from support.embedded import Account, cheap_settings, event_store, head, post_photo, register
from support.threaded import served

SUMMARY_KEYS = {"user_id", "username", "display_name", "avatar_url"}
ITEM_KEYS = {"notification_id", "type", "actor", "photo_id", "photo", "created_at", "read"}
STREAM = "/v1/notifications/stream"


def position(response: httpx.Response) -> str:
    assert response.status_code in (200, 201, 204), response.text
    return response.headers["X-Event-Position"]


def listing(client: TestClient | httpx.Client, account: Account, after: str = "0",
            **params: Any) -> dict[str, Any]:
    response = client.get("/v1/notifications", params=params,
                          headers={**account.auth, "X-Min-Position": after})
    assert response.status_code == 200, response.text
    assert "X-Read-Stale" not in response.headers
    return response.json()


def kinds(page: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(type, actor username, photo id) of each item, in page order."""
    return [(i["type"], i["actor"]["username"], i.get("photo_id")) for i in page["items"]]


def summary(account: Account) -> dict[str, Any]:
    return {"user_id": account.user_id, "username": account.username,
            "display_name": account.username.title(), "avatar_url": None}


def like(client: TestClient | httpx.Client, account: Account, photo_id: str) -> str:
    return position(client.put(f"/v1/photos/{photo_id}/likes/me", headers=account.auth))


def mark_read(client: TestClient, account: Account, up_to: str) -> httpx.Response:
    return client.post("/v1/notifications/read", headers=account.auth, json={"up_to": up_to})


# --- the list ---------------------------------------------------------------------------


@pytest.fixture
def story(client: TestClient) -> dict[str, Any]:
    """ann posts a photo tagging bob and cy; bob follows and likes; cy comments; dee
    follows bob."""
    ann, bob, cy, dee = (register(client, name) for name in ("ann_n", "bob_n", "cy_n", "dee_n"))
    photo_id = post_photo(client, ann, tagged="bob_n,CY_N")["photo_id"]
    position(client.put(f"/v1/users/me/following/{ann.user_id}", headers=bob.auth))
    like(client, bob, photo_id)
    comment = client.post(f"/v1/photos/{photo_id}/comments", headers=cy.auth,
                          json={"text": "lovely"})
    last = position(client.put(f"/v1/users/me/following/{bob.user_id}", headers=dee.auth))
    return {"ann": ann, "bob": bob, "cy": cy, "dee": dee, "photo_id": photo_id,
            "comment_id": comment.json()["comment_id"], "last": last}


def test_each_action_notifies_the_right_person_with_the_actor(client: TestClient,
                                                             story: dict[str, Any]) -> None:
    ann, bob, cy, dee, photo_id = (story[k] for k in ("ann", "bob", "cy", "dee", "photo_id"))
    after = story["last"]
    anns = listing(client, ann, after)
    assert kinds(anns) == [("comment", "cy_n", photo_id), ("like", "bob_n", photo_id),
                           ("follow", "bob_n", None)]
    assert anns["next_cursor"] is None
    for item in anns["items"]:
        assert set(item) == ITEM_KEYS - ({"photo_id", "photo"} if item["type"] == "follow"
                                         else set())
        assert set(item["actor"]) == SUMMARY_KEYS
        assert item["read"] is False and item["created_at"].endswith("+00:00")
    assert anns["items"][0]["actor"] == summary(cy)
    assert anns["items"][1]["actor"] == summary(bob)
    assert kinds(listing(client, bob, after)) == [("follow", "dee_n", None),
                                                  ("tag", "ann_n", photo_id)]
    assert kinds(listing(client, cy, after)) == [("tag", "ann_n", photo_id)]
    assert listing(client, dee, after) == {"items": [], "next_cursor": None}
    ids = [i["notification_id"] for i in anns["items"]]
    assert len(set(ids)) == 3


def test_own_actions_notify_nobody(client: TestClient) -> None:
    ann, bob = register(client), register(client)
    photo_id = post_photo(client, ann, tagged=ann.username)["photo_id"]
    like(client, ann, photo_id)
    last = position(client.post(f"/v1/photos/{photo_id}/comments", headers=ann.auth,
                                json={"text": "me, me, me"}))
    assert listing(client, ann, last)["items"] == []
    assert listing(client, bob, last)["items"] == []


def test_undo_removes_and_redo_does_not_duplicate(client: TestClient,
                                                  story: dict[str, Any]) -> None:
    ann, bob, photo_id = story["ann"], story["bob"], story["photo_id"]
    client.delete(f"/v1/photos/{photo_id}/likes/me", headers=bob.auth)
    last = like(client, bob, photo_id)
    assert kinds(listing(client, ann, last)) == [("like", "bob_n", photo_id),
                                                 ("comment", "cy_n", photo_id),
                                                 ("follow", "bob_n", None)]
    last = position(client.delete(f"/v1/users/me/following/{ann.user_id}", headers=bob.auth))
    assert [k[0] for k in kinds(listing(client, ann, last))] == ["like", "comment"]
    last = position(client.delete(f"/v1/photos/{photo_id}", headers=ann.auth))
    assert listing(client, ann, last)["items"] == []
    assert kinds(listing(client, bob, last)) == [("follow", "dee_n", None)]
    assert listing(client, story["cy"], last)["items"] == []


def test_pages_are_newest_first_with_a_cursor(client: TestClient,
                                              story: dict[str, Any]) -> None:
    ann = story["ann"]
    everything = listing(client, ann, story["last"])["items"]
    first = listing(client, ann, limit=2)
    assert first["items"] == everything[:2] and first["next_cursor"]
    second = listing(client, ann, limit=2, cursor=first["next_cursor"])
    assert second == {"items": everything[2:], "next_cursor": None}


# --- the read marker ------------------------------------------------------------------


def test_marking_read_flags_that_one_and_everything_older(client: TestClient,
                                                          story: dict[str, Any]) -> None:
    ann = story["ann"]
    items = listing(client, ann, story["last"])["items"]
    response = mark_read(client, ann, items[1]["notification_id"])  # the like
    assert response.status_code == 204 and response.content == b""
    after = position(response)
    assert int(after) == head(client)
    assert [i["read"] for i in listing(client, ann, after)["items"]] == [False, True, True]
    # Other people's flags are theirs.
    assert [i["read"] for i in listing(client, story["bob"], after)["items"]] == [False, False]

    # The same marker again records nothing; an older one leaves the flags alone.
    before = head(client)
    again = mark_read(client, ann, items[1]["notification_id"])
    assert again.status_code == 204 and head(client) == before == int(position(again))
    after = position(mark_read(client, ann, items[2]["notification_id"]))
    assert [i["read"] for i in listing(client, ann, after)["items"]] == [False, True, True]

    after = position(mark_read(client, ann, items[0]["notification_id"]))
    assert [i["read"] for i in listing(client, ann, after)["items"]] == [True, True, True]
    newer = like(client, story["dee"], story["photo_id"])
    assert [i["read"] for i in listing(client, ann, newer)["items"]] == [False, True, True, True]


def test_an_id_that_is_not_yours_is_refused_and_appends_nothing(
        client: TestClient, story: dict[str, Any]) -> None:
    bobs = listing(client, story["bob"], story["last"])["items"]
    before = head(client)
    for not_anns in (bobs[0]["notification_id"], "00000000-0000-4000-8000-000000000000"):
        refused = mark_read(client, story["ann"], not_anns)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "notification_not_found"
    assert head(client) == before
    assert not any(i["read"] for i in listing(client, story["ann"], story["last"])["items"])
    assert not any(i["read"] for i in listing(client, story["bob"], story["last"])["items"])


def test_the_marker_survives_a_rebuild_from_event_zero(client: TestClient,
                                                       story: dict[str, Any],
                                                       tmp_path: Path) -> None:
    ann = story["ann"]
    items = listing(client, ann, story["last"])["items"]
    after = position(mark_read(client, ann, items[1]["notification_id"]))
    listing(client, ann, after)
    live = client.app.state.runner.runner.views.dump()
    rebuilt_views = open_views(tmp_path / "rebuilt.sqlite3")
    try:
        runner = ProjectionRunner(event_store(client), rebuilt_views,
                                  bindings(client.app.state.settings), batch_size=3)
        runner.catch_up()
        rebuilt = rebuilt_views.dump()
    finally:
        rebuilt_views.close()
    for table in ("notifications", "notification_reads"):
        assert rebuilt[table] == live[table], table
    assert len(live["notification_reads"]) == 1


@pytest.mark.parametrize("body", [
    {"up_to": "not-a-uuid"}, {"up_to": 42}, {"up_to": None}, {"up_to": ""},
    {"up_to": "x" * 100}, {}, {"up_to": "00000000-0000-4000-8000-000000000000", "extra": 1},
    ["00000000-0000-4000-8000-000000000000"],
], ids=["not-uuid", "number", "null", "empty", "long", "missing", "extra-field", "list"])
def test_a_bad_marker_is_422_and_records_nothing(client: TestClient, body: Any) -> None:
    ann = register(client)
    before = head(client)
    response = client.post("/v1/notifications/read", headers=ann.auth, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert head(client) == before


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"},
                                     {"Authorization": "Basic abc"}],
                         ids=["none", "bad-token", "not-bearer"])
def test_notifications_need_a_valid_token(client: TestClient, headers: dict[str, str]) -> None:
    before = head(client)
    for response in (
        client.get("/v1/notifications", headers=headers),
        client.post("/v1/notifications/read", headers=headers,
                    json={"up_to": "00000000-0000-4000-8000-000000000000"}),
        client.get(STREAM, headers=headers),
    ):
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["code"] in ("missing_token", "invalid_token")
    assert head(client) == before


@pytest.mark.parametrize("query", ["?access_token=nope", "?access_token=", "?access_token=" +
                                   "a" * 5000], ids=["bad", "empty", "huge"])
def test_the_stream_refuses_a_bad_query_token_with_json(client: TestClient, query: str) -> None:
    response = client.get(STREAM + query)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] in ("missing_token", "invalid_token")


# --- the live stream over a real server ---------------------------------------------------


def http(base_url: str) -> httpx.Client:
    # A read that waits longer than this fails the test rather than hanging it.
    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=5.0))


class SseReader:
    """Reads Server-Sent Events from a streaming response, each wait bounded."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def next(self, seconds: float = 10.0) -> dict[str, str]:
        """The next event or comment as a dict of its fields (a comment: {":": text})."""
        deadline = time.monotonic() + seconds
        fields: dict[str, str] = {}
        for line in self.lines:
            assert time.monotonic() < deadline, f"nothing complete within {seconds}s"
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                return {":": line[1:].strip()}
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name in fields else value
        raise AssertionError("the stream ended")

    def until(self, wanted: str, seconds: float = 10.0) -> dict[str, str]:
        """Skip keep-alives (and anything else) until an event of type `wanted`."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {wanted} event within {seconds}s"
            event = self.next(remaining)
            if event.get("event") == wanted:
                return event


def wait_until(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_like_arrives_live_on_the_stream(tmp_path: Path) -> None:
    app = create_embedded_app(cheap_settings(tmp_path / "data"))
    with served(app) as base_url, http(base_url) as api, http(base_url) as other:
        ann, bob = register(api, "ann_live"), register(api, "bob_live")
        photo_id = post_photo(api, ann)["photo_id"]
        with api.stream("GET", f"{STREAM}?access_token={ann.token}") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            events = SseReader(response)
            assert events.next() == {"retry": "3000"}  # subscribed from here on

            liked_at = like(other, bob, photo_id)  # another client, while the stream is open
            event = events.until("notification")
            data = json.loads(event["data"])
            [item] = listing(other, ann, liked_at)["items"]
            assert data == item
            assert data["type"] == "like" and data["photo_id"] == photo_id
            assert data["actor"] == summary(bob) and data["read"] is False
            assert event["id"] == liked_at
            assert "\n" not in event["data"] and ": " not in event["data"]  # compact JSON

            follow_at = position(other.put(f"/v1/users/me/following/{ann.user_id}",
                                           headers=bob.auth))
            event = events.until("notification")
            assert json.loads(event["data"])["type"] == "follow"
            assert event["id"] == follow_at
        # The client went away: the server lets go of the subscription.
        assert wait_until(lambda: app.state.read.live.subscriber_count(ann.user_id) == 0)


def test_an_idle_stream_keeps_alive_and_relays_timeline_notices(tmp_path: Path) -> None:
    app = create_embedded_app(cheap_settings(tmp_path / "data", sse_keepalive_seconds=0.2))
    with served(app) as base_url, http(base_url) as api:
        ann = register(api, "ann_idle")
        with api.stream("GET", STREAM, headers=ann.auth) as response:  # Bearer works too
            assert response.status_code == 200
            events = SseReader(response)
            assert events.next() == {"retry": "3000"}
            started = time.monotonic()
            assert events.next(5) == {":": "keep-alive"}
            assert events.next(5) == {":": "keep-alive"}
            assert time.monotonic() - started >= 0.3
            assert app.state.read.live.subscriber_count(ann.user_id) == 1

            timeline = {"photo_id": "p-1", "owner_id": "u-1", "position": 41}
            app.state.read.live.publish([Notice(user_id="somebody-else", kind="timeline",
                                                data={"position": 40}),
                                         Notice(user_id=ann.user_id, kind="timeline",
                                                data=timeline)])
            event = events.until("timeline")
            assert event["id"] == "41" and json.loads(event["data"]) == timeline
            assert events.next(5) == {":": "keep-alive"}  # and still alive afterwards
        assert wait_until(lambda: app.state.read.live.subscriber_count(ann.user_id) == 0)


def test_the_stream_refuses_a_bad_token_over_http(tmp_path: Path) -> None:
    app = create_embedded_app(cheap_settings(tmp_path / "data"))
    with served(app) as base_url, http(base_url) as api:
        response = api.get(f"{STREAM}?access_token=forged.token.value")
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["code"] == "invalid_token"


def test_a_notification_carries_its_photos_thumbnail(client: TestClient,
                                                     story: dict[str, Any]) -> None:
    ann, photo_id = story["ann"], story["photo_id"]
    photo = client.get(f"/v1/photos/{photo_id}").json()
    items = [i for i in listing(client, ann, story["last"])["items"] if "photo_id" in i]
    assert items
    for item in items:
        assert item["photo"] == {"photo_id": photo_id,
                                 "urls": {"square": photo["urls"]["square"]},
                                 "variants": {"square": photo["variants"]["square"]},
                                 "placeholder": photo["placeholder"]}
        assert client.get(item["photo"]["urls"]["square"]).status_code == 200
