"""DELETE /v1/users/me: the password is checked, every view forgets the person, their
media is deleted, their username and email are free again, and their personal data in
the event log is unreadable (crypto-shredding); rebuilding every view afterwards gives
the same views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from photoshare.infra.roots.embedded import create_embedded_app, open_event_store
from photoshare.infra.sqlite.catalog import open_views
from photoshare.streams import rebuild as blue_green
from support.embedded import Account, cheap_settings, event_store, head, post_photo, register

CAPTION = "Sunset over Zanzibar #zanzibarsecret"
COMMENT = "what a marvellous mangosteen"


def deleted(client: TestClient, account: Account, password: str | None = None,
            **kwargs: Any) -> httpx.Response:
    body = {"password": account.password if password is None else password}
    return client.request("DELETE", "/v1/users/me", headers=account.auth,
                          **({"json": body} | kwargs))


def caught_up(client: TestClient) -> dict[str, str]:
    return {"X-Min-Position": str(head(client))}


@pytest.fixture
def story(client: TestClient) -> dict[str, Any]:
    """Doomed posts, comments on a friend's photo, likes it, and follows both ways."""
    doomed = register(client, "doomed_dora", display_name="Dora Doomed", bio="a secret bio")
    friend = register(client, "friend_fred")
    photo = post_photo(client, doomed, caption=CAPTION, alt_text="dora's alt text")
    friends_photo = post_photo(client, friend, caption="fred's own photo")
    client.put(f"/v1/users/me/following/{friend.user_id}", headers=doomed.auth)
    client.put(f"/v1/users/me/following/{doomed.user_id}", headers=friend.auth)
    client.put(f"/v1/photos/{friends_photo['photo_id']}/likes/me", headers=doomed.auth)
    client.put(f"/v1/photos/{photo['photo_id']}/likes/me", headers=friend.auth)
    comment = client.post(f"/v1/photos/{friends_photo['photo_id']}/comments",
                          headers=doomed.auth, json={"text": COMMENT})
    assert comment.status_code == 201
    client.post(f"/v1/photos/{photo['photo_id']}/comments", headers=friend.auth,
                json={"text": "fred says hi"})
    post_photo(client, friend, caption="with dora", tagged=doomed.username)
    return {"doomed": doomed, "friend": friend, "photo": photo, "friends_photo": friends_photo}


def test_a_wrong_password_is_401_and_changes_nothing(client: TestClient, story) -> None:
    before = head(client)
    response = deleted(client, story["doomed"], "not my password")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert head(client) == before
    assert client.get(f"/v1/users/{story['doomed'].user_id}",
                      headers=caught_up(client)).status_code == 200


@pytest.mark.parametrize("body", [None, {}, {"password": ""}, {"password": 12},
                                  {"password": "x", "extra": 1}])
def test_a_missing_or_bad_body_is_422_and_changes_nothing(client: TestClient, body) -> None:
    account = register(client)
    before = head(client)
    kwargs = {"json": body} if body is not None else {}
    response = client.request("DELETE", "/v1/users/me", headers=account.auth, **kwargs)
    assert response.status_code == 422, response.text
    assert "error" in response.json()
    assert head(client) == before


def test_without_a_token_it_is_401(client: TestClient) -> None:
    response = client.request("DELETE", "/v1/users/me", json={"password": "whatever"})
    assert response.status_code == 401


def test_deleting_forgets_the_person_in_every_view(client: TestClient, story) -> None:
    doomed, friend = story["doomed"], story["friend"]
    photo_id, friends_photo_id = story["photo"]["photo_id"], story["friends_photo"]["photo_id"]
    at = caught_up(client)
    noticed = client.get("/v1/notifications", headers={**friend.auth, **at}).json()["items"]
    assert {n["type"] for n in noticed} == {"follow", "like", "comment"}
    inbox = client.get("/v1/notifications", headers={**doomed.auth, **at}).json()["items"]
    assert {n["type"] for n in inbox} == {"follow", "like", "comment", "tag"}
    assert client.get("/v1/search/photos", params={"q": "zanzibar"},
                      headers=at).json()["items"] != []
    response = deleted(client, doomed)
    assert response.status_code == 204, response.text
    at = caught_up(client)
    assert int(response.headers["X-Event-Position"]) == int(at["X-Min-Position"])
    assert client.get(f"/v1/users/{doomed.user_id}", headers=at).status_code == 404
    assert client.get("/v1/users/by-username/doomed_dora", headers=at).status_code == 404
    assert client.get(f"/v1/photos/{photo_id}", headers=at).status_code == 404
    fred = client.get(f"/v1/users/{friend.user_id}", headers=at).json()
    assert (fred["followers"], fred["following"]) == (0, 0)
    card = client.get(f"/v1/photos/{friends_photo_id}", headers=at).json()
    assert card["likes"] == 0 and card["comments"] == 0
    comments = client.get(f"/v1/photos/{friends_photo_id}/comments", headers=at).json()
    assert comments["items"] == []
    assert client.get(f"/v1/users/{friend.user_id}/followers", headers=at).json()["items"] == []
    timeline = client.get("/v1/timeline", headers={**friend.auth, **at}).json()
    assert photo_id not in [item["photo_id"] for item in timeline["items"]]
    notifications = client.get("/v1/notifications", headers={**friend.auth, **at}).json()
    assert [n["actor"]["user_id"] for n in notifications["items"]] == []
    views = client.app.state.read.queries()  # their own inbox (no token can read it now)
    assert views.notifications.for_user(doomed.user_id, None, 100) == []
    for kind, q in (("users", "doomed"), ("users", "Dora"), ("photos", "zanzibar"),
                    ("photos", "#zanzibarsecret")):
        found = client.get(f"/v1/search/{kind}", params={"q": q}, headers=at).json()
        assert found["items"] == [], (kind, q)
    tags = client.get("/v1/search/hashtags", params={"q": "zanzibars"}, headers=at).json()
    assert tags["items"] == []
    # The media is gone too.
    for url in story["photo"]["urls"].values():
        assert client.get(url).status_code == 404


def test_the_token_and_every_other_token_of_the_account_stop_working(
        client: TestClient, story) -> None:
    doomed = story["doomed"]
    other = client.post("/v1/sessions", json={"login": doomed.username,
                                              "password": doomed.password}).json()
    assert deleted(client, doomed).status_code == 204
    again = deleted(client, doomed)  # twice: the token was revoked
    assert again.status_code == 401
    other_auth = {"Authorization": f"Bearer {other['access_token']}"}
    before = head(client)
    assert client.post(f"/v1/photos/{story['friends_photo']['photo_id']}/comments",
                       headers=other_auth, json={"text": "still here?"}).status_code == 401
    assert client.request("DELETE", "/v1/users/me", headers=other_auth,
                          json={"password": doomed.password}).status_code == 401
    assert head(client) == before
    for login in (doomed.username, doomed.email):
        assert client.post("/v1/sessions", json={"login": login, "password": doomed.password}
                           ).status_code == 401


def test_the_username_and_email_can_be_registered_again(client: TestClient, story) -> None:
    doomed = story["doomed"]
    assert deleted(client, doomed).status_code == 204
    again = register(client, doomed.username, email=doomed.email, password="a new password")
    assert again.user_id != doomed.user_id
    at = caught_up(client)
    profile = client.get(f"/v1/users/by-username/{doomed.username}", headers=at).json()
    assert profile["user_id"] == again.user_id
    assert (profile["followers"], profile["following"], profile["photos"]) == (0, 0, 0)
    by_email = client.post("/v1/sessions", json={"login": doomed.email,
                                                 "password": "a new password"})
    assert by_email.status_code == 200 and by_email.json()["user_id"] == again.user_id
    # and the name is taken again, by the new account
    taken = client.post("/v1/users", json={"username": doomed.username.upper(),
                                           "email": "other@example.com", "password": "x" * 12,
                                           "display_name": "X"})
    assert taken.status_code == 409
    # a tag of the name now means the new account
    tagged = post_photo(client, story["friend"], tagged=doomed.username)
    photo = client.get(f"/v1/photos/{tagged['photo_id']}", headers=caught_up(client)).json()
    assert [t["user_id"] for t in photo["tagged"]] == [again.user_id]


def test_the_event_store_file_holds_none_of_the_personal_data(client: TestClient,
                                                              story, settings) -> None:
    doomed = story["doomed"]
    assert deleted(client, doomed).status_code == 204
    secrets = [doomed.email, doomed.username, "Dora Doomed", "a secret bio", CAPTION,
               "zanzibarsecret", COMMENT, "dora's alt text"]
    raw = b"".join(path.read_bytes() for path in Path(settings.data_dir).glob("events*"))
    for secret in secrets:
        assert secret.encode() not in raw, secret
    # Every reader of the log gets the redacted form.
    for envelope in event_store(client).iter_log(include_internal=True):
        text = str(envelope.data)
        for secret in secrets:
            assert secret not in text, (envelope.event_type, secret)


def test_rebuilding_every_view_after_a_deletion_gives_the_same_views(tmp_path: Path) -> None:
    settings = cheap_settings(tmp_path / "data", celebrity_threshold=2, timeline_cap=3)
    with TestClient(create_embedded_app(settings)) as client:
        people = [register(client, f"person{n}") for n in range(4)]
        for fan in people[1:]:
            client.put(f"/v1/users/me/following/{people[0].user_id}", headers=fan.auth)
        client.put(f"/v1/users/me/following/{people[1].user_id}", headers=people[0].auth)
        for n, owner in enumerate(people[:2] * 2):
            photo = post_photo(client, owner, caption=f"#tag{n} photo {n}",
                               tagged=people[2].username)
            for fan in people[1:]:
                client.put(f"/v1/photos/{photo['photo_id']}/likes/me", headers=fan.auth)
                client.post(f"/v1/photos/{photo['photo_id']}/comments", headers=fan.auth,
                            json={"text": f"comment by {fan.username}"})
        assert deleted(client, people[1]).status_code == 204
        client.get(f"/v1/users/{people[0].user_id}", headers=caught_up(client))
    views = open_views(settings.views_path)
    before = views.dump()
    views.close()
    store = open_event_store(settings)
    for name in blue_green.view_names():
        blue_green.rebuild(settings, store, name, batch_size=5)
    store.close()
    views = open_views(settings.views_path)
    after = views.dump()
    views.close()
    assert after == before
    assert "person1" not in str(after)


def test_requests_blocks_and_mutes_of_the_person_end_with_the_account(
        client: TestClient) -> None:
    doomed, carol, dan, eve = (register(client) for _ in range(4))
    for private in (carol, doomed):
        assert client.patch("/v1/users/me", headers=private.auth,
                            json={"private": True}).status_code == 200
    asks = [(doomed, carol), (eve, doomed)]  # the person's request, and one to the person
    for follower, followee in asks:
        assert client.put(f"/v1/users/me/following/{followee.user_id}",
                          headers=follower.auth).status_code == 202
    for who, path in ((doomed, f"blocks/{dan.user_id}"), (dan, f"mutes/{doomed.user_id}"),
                      (eve, f"blocks/{doomed.user_id}")):
        assert client.put(f"/v1/users/me/{path}", headers=who.auth).status_code == 204
    before = head(client)
    assert deleted(client, doomed).status_code == 204
    recorded = [e.event_type for e in event_store(client).iter_log(before)]
    assert recorded[-1] == "AccountDeleted"
    assert sorted(t for t in recorded if t in {"FollowRequestCancelled", "UserUnblocked",
                                               "UserUnmuted"}) == [
        "FollowRequestCancelled", "UserUnblocked", "UserUnblocked", "UserUnmuted"]
    read = caught_up(client)
    for owner in (carol,):
        assert client.get("/v1/users/me/follow-requests",
                          headers={**owner.auth, **read}).json()["items"] == []
    for who, kind in ((dan, "mutes"), (eve, "blocks")):
        assert client.get(f"/v1/users/me/{kind}",
                          headers={**who.auth, **read}).json()["items"] == []
    # Eve's request to the deleted account is gone with it, and she may follow anyone.
    assert client.get(f"/v1/users/{doomed.user_id}", headers=eve.auth).status_code == 404
