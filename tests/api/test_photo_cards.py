"""Photo cards served as ready JSON (readapi/cards.py): the same bytes as the cards
`shapes.photos` builds, on the real embedded app's views, and fresh after everything a
card shows changes while its fixed parts are cached."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from fastapi.testclient import TestClient

from photoshare.readapi import blocking, shapes
from photoshare.readapi.cards import CardCache, page_cards
from support.embedded import Account, image_bytes, register

SMALL = image_bytes(size=(64, 48))


def ok(response: httpx.Response, status: int = 204) -> httpx.Response:
    assert response.status_code == status, response.text
    return response


def at(response: httpx.Response) -> dict[str, str]:
    return {"X-Min-Position": response.headers["X-Event-Position"]}


def post(client: TestClient, account: Account, **fields: str) -> tuple[str, httpx.Response]:
    response = ok(client.post("/v1/photos", headers=account.auth, data=fields,
                              files={"file": ("p.jpg", SMALL, "image/jpeg")}), 201)
    return response.json()["photo_id"], response


def wait(client: TestClient, reader: Account, response: httpx.Response) -> None:
    """Until the views have applied the write `response` made (a read-your-writes read)."""
    ok(client.get("/v1/timeline", headers={**reader.auth, **at(response)}), 200)
    assert client.app.state.runner.position >= int(response.headers["X-Event-Position"])


def expected(client: TestClient, photo_ids: list[str], viewer: str | None) -> bytes:
    """The cards as `shapes.photos` makes them, blocked tags removed, encoded."""
    read = client.app.state.read
    q = read.queries()
    records = q.photos.many(photo_ids)
    cards = shapes.photos(read, q, [records[p] for p in photo_ids if p in records], viewer)
    return orjson.dumps(blocking.without_hidden_tags(blocking.controls_of(q, viewer), cards))


def served(client: TestClient, cache: CardCache, photo_ids: list[str],
           viewer: str | None) -> bytes:
    read = client.app.state.read
    q = read.queries()
    return orjson.dumps(page_cards(read, cache, q, photo_ids, viewer,
                                   blocking.controls_of(q, viewer)))


def same(client: TestClient, cache: CardCache, photo_ids: list[str],
         viewers: list[str | None]) -> list[Any]:
    for viewer in viewers:
        got = served(client, cache, photo_ids, viewer)
        assert got == expected(client, photo_ids, viewer)
    return orjson.loads(got)


def test_ready_cards_are_the_shaped_cards_byte_for_byte_cached_or_not(
        client: TestClient) -> None:
    owner, tagged, blocked = register(client), register(client), register(client)
    viewer = register(client)
    first, _ = post(client, owner, caption="Caf\u00e9 \"night\" #sun #\u00e9t\u00e9",
                    location="Z\u00fcrich", tagged=f"{tagged.username},{blocked.username}",
                    alt_text="two dogs")
    second, _ = post(client, tagged, caption="plain")
    ok(client.put(f"/v1/photos/{first}/likes/me", headers=viewer.auth))
    ok(client.post(f"/v1/photos/{first}/comments", headers=viewer.auth,
                   json={"text": "nice"}), 201)
    last = ok(client.put(f"/v1/users/me/blocks/{blocked.user_id}", headers=viewer.auth))
    wait(client, viewer, last)
    cache = CardCache()
    ids = [first, "no-such-photo", second]
    viewers: list[str | None] = [viewer.user_id, None, owner.user_id]
    cards = same(client, cache, ids, viewers)  # cold: every card made from its row
    assert len(cache) == 2
    assert [c["photo_id"] for c in cards] == [first, second]
    cards = same(client, cache, ids, viewers)  # warm: spliced from the cache
    assert [t["user_id"] for t in orjson.loads(served(client, cache, ids, viewer.user_id))[0]
            ["tagged"]] == [tagged.user_id]  # the blocked person is not shown to the blocker
    assert [t["user_id"] for t in cards[0]["tagged"]] == [tagged.user_id, blocked.user_id]


def test_a_cached_card_shows_every_change_at_once(client: TestClient) -> None:
    """What a card shows that can change (counts, alt text, the people's names and
    avatars, the viewer's like, blocks, deletion) is read on every page."""
    owner, tagged, viewer = register(client), register(client), register(client)
    photo, response = post(client, owner, caption="hi", tagged=tagged.username)
    wait(client, viewer, response)
    cache = CardCache()
    same(client, cache, [photo], [viewer.user_id])
    assert cache.get(photo) is not None
    # Each change made only once the one before was checked: made all at once, a later
    # one could be applied between the served read and the reference read.
    make_changes = [
        lambda: client.put(f"/v1/photos/{photo}/likes/me", headers=viewer.auth),
        lambda: client.post(f"/v1/photos/{photo}/comments", headers=owner.auth,
                            json={"text": "a"}),
        lambda: client.patch(f"/v1/photos/{photo}", headers=owner.auth,
                             json={"alt_text": "a cat"}),
        lambda: client.patch("/v1/users/me", headers=owner.auth,
                             json={"display_name": "New Name"}),
        lambda: client.patch("/v1/users/me", headers=tagged.auth,
                             json={"display_name": "Tagged"}),
        lambda: client.put(f"/v1/users/me/blocks/{tagged.user_id}", headers=viewer.auth),
    ]
    for make_change in make_changes:
        change = make_change()
        assert change.status_code < 300, change.text
        wait(client, viewer, change)
        same(client, cache, [photo], [viewer.user_id, None])
    [card] = orjson.loads(served(client, cache, [photo], viewer.user_id))
    assert (card["likes"], card["comments"], card["alt_text"], card["liked_by_me"],
            card["owner"]["display_name"], card["tagged"]) == (1, 1, "a cat", True,
                                                               "New Name", [])
    # Through the API too: the timeline's cards come from the app's own cache.
    timeline = ok(client.get("/v1/timeline", headers={**owner.auth, **at(change)}),
                  200).json()
    assert timeline["items"][0]["alt_text"] == "a cat" and timeline["items"][0]["likes"] == 1
    gone = ok(client.delete(f"/v1/photos/{photo}", headers=owner.auth))
    wait(client, viewer, gone)
    assert served(client, cache, [photo], viewer.user_id) == b"[]"
    assert ok(client.get("/v1/timeline", headers={**owner.auth, **at(gone)}),
              200).json()["items"] == []


def test_the_cache_keeps_at_most_its_capacity() -> None:
    cache = CardCache(capacity=2)
    parts = object()
    for photo_id in ("a", "b", "c"):
        cache.put(photo_id, parts)  # type: ignore[arg-type]
    assert len(cache) == 2 and cache.get("a") is None and cache.get("c") is parts
