"""GET /v1/timeline through HTTP on the real embedded app: read-your-writes, paging,
the viewer's own posts (also after a reload and a restart), unfollow and delete, the
celebrity merge, auth and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from photoshare.commands.messages import CommandContext, PostPhoto, StoredImage
from photoshare.infra.roots.embedded import create_embedded_app
from photoshare.infra.settings import Settings
from support.embedded import Account, cheap_settings, event_store, image_bytes, register

SMALL = image_bytes(size=(64, 48))


def position(response: httpx.Response) -> int:
    value = response.headers["X-Event-Position"]
    assert value.isdigit(), value
    return int(value)


def post(client: TestClient, account: Account, caption: str = "") -> tuple[str, int]:
    """Upload a photo; its id and the log position of the post."""
    response = client.post("/v1/photos", headers=account.auth, data={"caption": caption},
                           files={"file": ("p.jpg", SMALL, "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()["photo_id"], position(response)


def follow(client: TestClient, follower: Account, followee: Account) -> int:
    response = client.put(f"/v1/users/me/following/{followee.user_id}", headers=follower.auth)
    assert response.status_code == 204, response.text
    return position(response)


def unfollow(client: TestClient, follower: Account, followee: Account) -> int:
    response = client.delete(f"/v1/users/me/following/{followee.user_id}",
                             headers=follower.auth)
    assert response.status_code == 204, response.text
    return position(response)


def timeline(client: TestClient, account: Account, after: int, **params: Any
             ) -> dict[str, Any]:
    """One page, read after the views have passed log position `after`."""
    response = client.get("/v1/timeline", params=params,
                          headers={**account.auth, "X-Min-Position": str(after)})
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Read-Position"]) >= after
    assert "X-Read-Stale" not in response.headers
    return response.json()


def photo_ids(body: dict[str, Any]) -> list[str]:
    return [item["photo_id"] for item in body["items"]]


def test_a_followees_post_is_on_the_timeline_at_once(client: TestClient) -> None:
    reader, author = register(client), register(client)
    follow(client, reader, author)
    photo_id, at = post(client, author, caption="hello #sun")
    body = timeline(client, reader, at)
    assert body["next_cursor"] is None
    [card] = body["items"]
    assert card["photo_id"] == photo_id
    assert card["owner"]["user_id"] == author.user_id
    assert card["owner"]["username"] == author.username
    assert card["caption"] == "hello #sun" and card["hashtags"] == ["sun"]
    assert card["liked_by_me"] is False
    assert set(card["urls"]) and all(url.startswith("/media/") for url in card["urls"].values())
    # The viewer's like shows on their own timeline.
    liked = client.put(f"/v1/photos/{photo_id}/likes/me", headers=reader.auth)
    assert liked.status_code == 204
    [card] = timeline(client, reader, position(liked))["items"]
    assert card["liked_by_me"] is True and card["likes"] == 1
    # On the author's own timeline too, but not on someone's who does not follow them.
    assert photo_ids(timeline(client, author, at)) == [photo_id]
    assert timeline(client, register(client), at)["items"] == []


def test_my_own_post_is_on_my_timeline_after_a_reload_and_a_restart(
        settings: Settings) -> None:
    """What a new user does first: post, reload Home, and find the photo there."""
    with TestClient(create_embedded_app(settings)) as client:
        me, friend = register(client), register(client)
        follow(client, me, friend)
        theirs, _ = post(client, friend, caption="theirs")
        mine, at = post(client, me, caption="my first #photo")
        body = timeline(client, me, at)  # the page the upload leads to
        assert photo_ids(body) == [mine, theirs]
        card = body["items"][0]
        assert card["owner"]["user_id"] == me.user_id and card["caption"] == "my first #photo"
        assert card["liked_by_me"] is False
        # A reload: a new request that knows no log position.
        reloaded = client.get("/v1/timeline", headers=me.auth)
        assert reloaded.status_code == 200 and photo_ids(reloaded.json()) == [mine, theirs]
        # The friend sees it only once they follow back.
        assert photo_ids(timeline(client, friend, at)) == [theirs]
        at = follow(client, friend, me)
        assert photo_ids(timeline(client, friend, at)) == [mine, theirs]
    # The server restarted on the same data dir: the views it built show it too.
    with TestClient(create_embedded_app(settings)) as client:
        restarted = client.get("/v1/timeline", headers=me.auth)
        assert restarted.status_code == 200, restarted.text
        assert photo_ids(restarted.json()) == [mine, theirs]


def test_my_own_posts_leave_when_deleted_and_stay_through_unfollows(
        client: TestClient) -> None:
    me, friend = register(client), register(client)
    first, _ = post(client, me)
    follow(client, me, friend)
    theirs, _ = post(client, friend)
    second, at = post(client, me)
    assert photo_ids(timeline(client, me, at)) == [second, theirs, first]
    # Pages cross between my posts and the materialized ones without gaps.
    page_one = timeline(client, me, at, limit=2)
    page_two = timeline(client, me, at, limit=2, cursor=page_one["next_cursor"])
    assert photo_ids(page_one) + photo_ids(page_two) == [second, theirs, first]
    assert page_two["next_cursor"] is None

    at = unfollow(client, me, friend)
    assert photo_ids(timeline(client, me, at)) == [second, first]
    deleted = client.delete(f"/v1/photos/{second}", headers=me.auth)
    assert deleted.status_code == 204, deleted.text
    assert photo_ids(timeline(client, me, position(deleted))) == [first]


def test_following_back_fills_and_pages_have_no_gaps_or_repeats(client: TestClient) -> None:
    reader, author, other = register(client), register(client), register(client)
    posted = [post(client, author)[0] for _ in range(3)]
    at = follow(client, reader, author)  # back-fills the three posts
    follow(client, reader, other)
    posted += [post(client, other)[0], post(client, author)[0]]
    at = max(at, post(client, register(client))[1])  # someone reader does not follow
    newest_first = posted[::-1]

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = timeline(client, reader, at, **params)
        assert len(body["items"]) <= 2
        seen += photo_ids(body)
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first and pages == 3
    assert photo_ids(timeline(client, reader, at)) == newest_first


def test_unfollow_and_delete_remove_posts(client: TestClient) -> None:
    reader, kept, dropped = register(client), register(client), register(client)
    follow(client, reader, kept)
    follow(client, reader, dropped)
    first, _ = post(client, kept)
    gone, _ = post(client, dropped)
    last, at = post(client, kept)
    assert photo_ids(timeline(client, reader, at)) == [last, gone, first]

    at = unfollow(client, reader, dropped)
    assert photo_ids(timeline(client, reader, at)) == [last, first]

    deleted = client.delete(f"/v1/photos/{last}", headers=kept.auth)
    assert deleted.status_code == 204, deleted.text
    assert photo_ids(timeline(client, reader, position(deleted))) == [first]


@pytest.fixture
def celebrity_client(tmp_path: Path) -> Iterator[TestClient]:
    """An app where anyone with two or more followers is a celebrity (not fanned out)."""
    settings = cheap_settings(tmp_path / "celebrity", celebrity_threshold=1)
    with TestClient(create_embedded_app(settings)) as test_client:
        yield test_client


def test_a_celebritys_posts_are_merged_into_timelines(celebrity_client: TestClient) -> None:
    client = celebrity_client
    star, fan, other_fan, friend = (register(client) for _ in range(4))
    early, _ = post(client, star)
    follow(client, fan, star)
    follow(client, fan, friend)
    follow(client, other_fan, star)  # star now has two followers: a celebrity
    mine, _ = post(client, friend)
    late, at = post(client, star)
    body = timeline(client, fan, at)
    assert photo_ids(body) == [late, mine, early]
    assert body["items"][0]["owner"]["user_id"] == star.user_id
    assert photo_ids(timeline(client, other_fan, at)) == [late, early]
    # A celebrity's own posts are on their own timeline too.
    assert photo_ids(timeline(client, star, at)) == [late, early]
    # Paging crosses between merged and materialized posts without gaps.
    first = timeline(client, fan, at, limit=1)
    second = timeline(client, fan, at, limit=2, cursor=first["next_cursor"])
    assert photo_ids(first) + photo_ids(second) == [late, mine, early]
    assert second["next_cursor"] is None
    # Unfollowing and deleting work on merged posts too.
    at = unfollow(client, other_fan, star)  # back below the threshold
    assert photo_ids(timeline(client, other_fan, at)) == []
    assert photo_ids(timeline(client, fan, at)) == [late, mine, early]
    deleted = client.delete(f"/v1/photos/{late}", headers=star.auth)
    assert deleted.status_code == 204
    assert photo_ids(timeline(client, fan, position(deleted))) == [mine, early]


def test_the_timeline_needs_a_valid_token(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
        response = client.get("/v1/timeline", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] in ("missing_token", "invalid_token")


@pytest.mark.parametrize("cursor", ["garbage!", "bm90IGpzb24", "eyJwIjoiYSJ9", "eyJwIjotMX0",
                                    "W10", "eyJwIjp0cnVlfQ"])
def test_a_garbage_cursor_is_a_400(client: TestClient, cursor: str) -> None:
    reader = register(client)
    response = client.get("/v1/timeline", params={"cursor": cursor}, headers=reader.auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_limit_is_at_most_100(client: TestClient) -> None:
    reader, author = register(client), register(client)
    at = follow(client, reader, author)
    # Posted through the command side directly: 105 uploads through HTTP would be slow.
    commands = event_store(client)
    image = StoredImage("o.jpg", "jpeg", 10, 10, {"large": "l.jpg"})
    for i in range(105):
        at = commands.execute(PostPhoto(owner_id=author.user_id, image=image, caption=str(i)),
                              CommandContext(author.user_id, f"bulk-{i}")).position
    body = timeline(client, reader, at, limit=500)
    assert len(body["items"]) == 100 and body["next_cursor"] is not None
    assert [c["caption"] for c in body["items"]] == [str(i) for i in range(104, 4, -1)]
    rest = timeline(client, reader, at, limit=500, cursor=body["next_cursor"])
    assert [c["caption"] for c in rest["items"]] == ["4", "3", "2", "1", "0"]
    assert rest["next_cursor"] is None
    for bad in ("0", "-1", "x"):
        response = client.get("/v1/timeline", params={"limit": bad}, headers=reader.auth)
        assert response.status_code == 422
