"""Private accounts and follow requests through HTTP on the real embedded app: the
privacy switch, requests (asked, repeated, listed, approved, declined, withdrawn),
making an account public again, what strangers, followers and the owner see (profile,
photos, comments, lists, timeline, search, hashtags), `relationship`, notifications,
and every refusal changing nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from support.embedded import Account, event_store, head, image_bytes, register

SMALL = image_bytes(size=(64, 48))


# --- helpers ----------------------------------------------------------------------------


def position(response: httpx.Response) -> int:
    value = response.headers["X-Event-Position"]
    assert value.isdigit(), value
    return int(value)


def new_events(client: TestClient, after: int) -> list[str]:
    return [e.event_type for e in event_store(client).read_log(after)]


def fresh(headers: dict[str, str] | None = None, client: TestClient | None = None
          ) -> dict[str, str]:
    """Headers that wait for the views to reach the log's head."""
    assert client is not None
    return {**(headers or {}), "X-Min-Position": str(head(client))}


def get(client: TestClient, url: str, account: Account | None = None,
        **params: Any) -> httpx.Response:
    return client.get(url, params=params,
                      headers=fresh(account.auth if account else None, client))


def make_private(client: TestClient, account: Account, private: bool = True) -> httpx.Response:
    response = client.patch("/v1/users/me", headers=account.auth, json={"private": private})
    assert response.status_code == 200, response.text
    assert response.json()["private"] is private
    return response


def follow(client: TestClient, follower: Account, followee: Account) -> httpx.Response:
    return client.put(f"/v1/users/me/following/{followee.user_id}", headers=follower.auth)


def post(client: TestClient, account: Account, caption: str = "") -> str:
    response = client.post("/v1/photos", headers=account.auth, data={"caption": caption},
                           files={"file": ("p.jpg", SMALL, "image/jpeg")})
    assert response.status_code == 201, response.text
    return response.json()["photo_id"]


def requests_of(client: TestClient, account: Account, **params: Any) -> dict[str, Any]:
    response = get(client, "/v1/users/me/follow-requests", account, **params)
    assert response.status_code == 200, response.text
    return response.json()


def refused(client: TestClient, method: str, url: str, status: int, code: str,
            **kwargs: Any) -> None:
    """A refusal with `status` and error `code` that appends nothing."""
    before = head(client)
    response = client.request(method, url, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    assert head(client) == before


@pytest.fixture
def people(client: TestClient) -> dict[str, Account]:
    """owner (private, with a photo that has a comment), follower (approved), stranger."""
    owner, follower, stranger = (register(client, name) for name in
                                 ("priv_owner", "priv_follower", "priv_stranger"))
    photo = post(client, owner, "secret sunset #hidden_tag")
    client.post(f"/v1/photos/{photo}/comments", headers=owner.auth, json={"text": "mine"})
    make_private(client, owner)
    assert follow(client, follower, owner).status_code == 202
    approved = client.put(f"/v1/users/me/follow-requests/{follower.user_id}",
                          headers=owner.auth)
    assert approved.status_code == 204, approved.text
    owner.photo_id = photo  # type: ignore[attr-defined]
    return {"owner": owner, "follower": follower, "stranger": stranger}


# --- the switch -------------------------------------------------------------------------


def test_privacy_is_an_event_of_its_own_and_part_of_every_profile(client: TestClient) -> None:
    ann = register(client)
    before = head(client)
    response = make_private(client, ann)
    assert new_events(client, before) == ["AccountPrivacyChanged"]
    assert position(response) == head(client)
    # The same value again, or null, records nothing; other fields go with it.
    before = head(client)
    make_private(client, ann)
    assert client.patch("/v1/users/me", headers=ann.auth,
                        json={"private": None}).json()["private"] is True
    assert head(client) == before
    both = client.patch("/v1/users/me", headers=ann.auth, json={"bio": "hi", "private": False})
    assert both.status_code == 200 and both.json()["private"] is False
    assert new_events(client, before) == ["ProfileUpdated", "AccountPrivacyChanged"]
    make_private(client, ann)
    for url in (f"/v1/users/{ann.user_id}", f"/v1/users/by-username/{ann.username}"):
        assert get(client, url).json()["private"] is True
    assert get(client, "/v1/users/me", ann).json()["private"] is True


@pytest.mark.parametrize("value", ["yes", 1, 0, [], {}])
def test_private_must_be_a_boolean(client: TestClient, value: Any) -> None:
    ann = register(client)
    refused(client, "PATCH", "/v1/users/me", 422, "validation_error",
            headers=ann.auth, json={"private": value})


def test_only_the_signed_in_user_changes_privacy(client: TestClient) -> None:
    refused(client, "PATCH", "/v1/users/me", 401, "missing_token", json={"private": True})


# --- requests ---------------------------------------------------------------------------


def test_following_a_private_account_asks_once_and_waits(client: TestClient) -> None:
    owner, fan = register(client), register(client)
    make_private(client, owner)
    before = head(client)
    response = follow(client, fan, owner)
    assert response.status_code == 202 and response.json() == {"status": "requested"}
    assert position(response) == head(client)
    assert new_events(client, before) == ["FollowRequested"]
    again = follow(client, fan, owner)
    assert again.status_code == 202 and again.json() == {"status": "requested"}
    assert head(client) == position(response)
    profile = get(client, f"/v1/users/{owner.user_id}", fan).json()
    assert profile["followers"] == 0
    assert profile["relationship"] == {"following": False, "requested": True,
                                       "followed_by": False, "blocking": False, "muting": False}
    page = requests_of(client, owner)
    assert page["next_cursor"] is None
    [item] = page["items"]
    assert set(item) == {"user_id", "username", "display_name", "avatar_url", "requested_at"}
    assert (item["user_id"], item["username"]) == (fan.user_id, fan.username)
    assert requests_of(client, fan)["items"] == []  # one's own requests are not listed


def test_approving_makes_a_follow_like_any_other(client: TestClient) -> None:
    owner, fan = register(client), register(client)
    make_private(client, owner)
    follow(client, fan, owner)
    before = head(client)
    response = client.put(f"/v1/users/me/follow-requests/{fan.user_id}", headers=owner.auth)
    assert response.status_code == 204 and position(response) == head(client)
    assert new_events(client, before) == ["FollowRequestApproved", "UserFollowed"]
    assert requests_of(client, owner)["items"] == []
    followers = get(client, f"/v1/users/{owner.user_id}/followers", fan).json()["items"]
    assert [f["user_id"] for f in followers] == [fan.user_id]
    assert get(client, f"/v1/users/{owner.user_id}", fan).json()["relationship"] == {
        "following": True, "requested": False,
        "followed_by": False, "blocking": False, "muting": False}
    assert get(client, f"/v1/users/{fan.user_id}", owner).json()["relationship"] == {
        "following": False, "requested": False,
        "followed_by": True, "blocking": False, "muting": False}
    # Following again is the plain idempotent 204; approving again is no request at all.
    before = head(client)
    assert follow(client, fan, owner).status_code == 204
    assert head(client) == before
    refused(client, "PUT", f"/v1/users/me/follow-requests/{fan.user_id}", 404,
            "follow_request_not_found", headers=owner.auth)


def test_declining_and_withdrawing_end_a_request(client: TestClient) -> None:
    owner, fan, other = register(client), register(client), register(client)
    make_private(client, owner)
    follow(client, fan, owner)
    follow(client, other, owner)
    assert [i["user_id"] for i in requests_of(client, owner)["items"]] == [other.user_id,
                                                                           fan.user_id]
    before = head(client)
    declined = client.delete(f"/v1/users/me/follow-requests/{fan.user_id}", headers=owner.auth)
    assert declined.status_code == 204
    assert new_events(client, before) == ["FollowRequestDeclined"]
    before = head(client)
    withdrawn = client.delete(f"/v1/users/me/following/{owner.user_id}", headers=other.auth)
    assert withdrawn.status_code == 204
    assert new_events(client, before) == ["FollowRequestCancelled"]
    assert requests_of(client, owner)["items"] == []
    refused(client, "DELETE", f"/v1/users/me/follow-requests/{fan.user_id}", 404,
            "follow_request_not_found", headers=owner.auth)
    # Nothing pending: withdrawing again changes nothing.
    before = head(client)
    assert client.delete(f"/v1/users/me/following/{owner.user_id}",
                         headers=other.auth).status_code == 204
    assert head(client) == before
    # A declined person may ask again.
    assert follow(client, fan, owner).status_code == 202
    assert [i["user_id"] for i in requests_of(client, owner)["items"]] == [fan.user_id]
    assert get(client, f"/v1/users/{owner.user_id}", fan).json()["followers"] == 0


def test_requests_page_like_the_other_lists(client: TestClient) -> None:
    owner = register(client)
    make_private(client, owner)
    fans = [register(client) for _ in range(5)]
    for fan in fans:
        assert follow(client, fan, owner).status_code == 202
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = requests_of(client, owner, **params)
        assert len(page["items"]) <= 2
        seen += [item["user_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [fan.user_id for fan in reversed(fans)]
    assert get(client, "/v1/users/me/follow-requests", owner,
               cursor="garbage!").status_code == 400
    assert get(client, "/v1/users/me/follow-requests", None).status_code == 401


@pytest.mark.parametrize("target", ["not-a-uuid", "4f0c8c3e-1d2b-4c5a-9e8f-7a6b5c4d3e2f",
                                    "self"])
def test_no_such_request_is_404(client: TestClient, target: str) -> None:
    owner, fan = register(client), register(client)
    make_private(client, owner)
    follow(client, fan, owner)
    target = owner.user_id if target == "self" else target
    for method in ("PUT", "DELETE"):
        refused(client, method, f"/v1/users/me/follow-requests/{target}", 404,
                "follow_request_not_found", headers=owner.auth)
    # The request is someone else's to answer.
    refused(client, "PUT", f"/v1/users/me/follow-requests/{fan.user_id}", 404,
            "follow_request_not_found", headers=fan.auth)
    refused(client, "PUT", f"/v1/users/me/follow-requests/{fan.user_id}", 401,
            "missing_token")


def test_following_oneself_or_nobody_is_refused_while_private(client: TestClient) -> None:
    owner = register(client)
    make_private(client, owner)
    refused(client, "PUT", f"/v1/users/me/following/{owner.user_id}", 400,
            "cannot_follow_self", headers=owner.auth)
    refused(client, "PUT", "/v1/users/me/following/nobody", 404, "user_not_found",
            headers=owner.auth)


def test_going_public_approves_every_pending_request(client: TestClient) -> None:
    owner, ann, bob, declined = (register(client) for _ in range(4))
    make_private(client, owner)
    for fan in (ann, bob, declined):
        follow(client, fan, owner)
    client.delete(f"/v1/users/me/follow-requests/{declined.user_id}", headers=owner.auth)
    before = head(client)
    make_private(client, owner, False)
    assert new_events(client, before) == ["AccountPrivacyChanged",
                                          "FollowRequestApproved", "FollowRequestApproved",
                                          "UserFollowed", "UserFollowed"]
    followers = get(client, f"/v1/users/{owner.user_id}/followers").json()["items"]
    assert {f["user_id"] for f in followers} == {ann.user_id, bob.user_id}
    assert requests_of(client, owner)["items"] == []
    # Public again: following is immediate.
    assert follow(client, declined, owner).status_code == 204


# --- what each viewer sees --------------------------------------------------------------


def _content_urls(owner: Account) -> list[str]:
    photo = owner.photo_id  # type: ignore[attr-defined]
    return [f"/v1/users/{owner.user_id}/photos", f"/v1/photos/{photo}",
            f"/v1/photos/{photo}/comments", f"/v1/users/{owner.user_id}/followers",
            f"/v1/users/{owner.user_id}/following"]


def test_strangers_see_the_header_but_not_the_content(client: TestClient,
                                                      people: dict[str, Account]) -> None:
    owner, stranger = people["owner"], people["stranger"]
    for viewer in (stranger, None):
        for url in _content_urls(owner):
            response = get(client, url, viewer)
            assert response.status_code == 403, (url, response.text)
            assert response.json()["error"]["code"] == "private_account"
        header = get(client, f"/v1/users/{owner.user_id}", viewer)
        assert header.status_code == 200
        shown = header.json()
        assert shown["private"] is True and shown["photos"] == 1 and shown["followers"] == 1
    assert get(client, f"/v1/users/{owner.user_id}", stranger).json()["relationship"] == {
        "following": False, "requested": False,
        "followed_by": False, "blocking": False, "muting": False}
    assert "relationship" not in get(client, f"/v1/users/{owner.user_id}").json()


def test_the_owner_and_approved_followers_see_everything(client: TestClient,
                                                         people: dict[str, Account]) -> None:
    owner = people["owner"]
    for viewer in (owner, people["follower"]):
        for url in _content_urls(owner):
            assert get(client, url, viewer).status_code == 200, url
        photos = get(client, f"/v1/users/{owner.user_id}/photos", viewer).json()["items"]
        assert [p["photo_id"] for p in photos] == [owner.photo_id]  # type: ignore[attr-defined]


def test_an_unfollow_takes_the_access_away(client: TestClient,
                                           people: dict[str, Account]) -> None:
    owner, follower = people["owner"], people["follower"]
    client.delete(f"/v1/users/me/following/{owner.user_id}", headers=follower.auth)
    assert get(client, f"/v1/users/{owner.user_id}/photos", follower).status_code == 403
    # Going public opens everything to everyone.
    make_private(client, owner, False)
    for url in _content_urls(owner):
        assert get(client, url).status_code == 200, url


def test_only_followers_get_the_posts_in_their_timeline(client: TestClient,
                                                        people: dict[str, Account]) -> None:
    owner, follower, stranger = people["owner"], people["follower"], people["stranger"]
    pending = register(client)
    follow(client, pending, owner)
    new = post(client, owner, "for my followers")

    def timeline(account: Account) -> list[str]:
        return [p["photo_id"] for p in get(client, "/v1/timeline", account).json()["items"]]

    assert new in timeline(follower) and new in timeline(owner)
    assert new not in timeline(stranger) and new not in timeline(pending)
    client.put(f"/v1/users/me/follow-requests/{pending.user_id}", headers=owner.auth)
    assert new in timeline(pending)


def test_search_finds_private_photos_only_for_those_who_may_see_them(
        client: TestClient, people: dict[str, Account]) -> None:
    owner, follower, stranger = people["owner"], people["follower"], people["stranger"]
    public_one = register(client)
    post(client, public_one, "public sunset #hidden_tag")

    def photos(viewer: Account | None) -> int:
        response = get(client, "/v1/search/photos", viewer, q="sunset")
        assert response.status_code == 200, response.text
        return len(response.json()["items"])

    def tag_count(viewer: Account | None) -> int:
        found = get(client, "/v1/search/hashtags", viewer, q="#hidden").json()["items"]
        return next((t["photos"] for t in found if t["tag"] == "hidden_tag"), 0)

    assert (photos(owner), photos(follower), photos(stranger), photos(None)) == (2, 2, 1, 1)
    assert (tag_count(owner), tag_count(follower), tag_count(stranger)) == (2, 2, 1)
    # A page stays a full page: the hidden photo is filtered in the query, not after it.
    page = get(client, "/v1/search/photos", stranger, q="sunset", limit=1).json()
    assert len(page["items"]) == 1 and page["next_cursor"] is None
    # A tag only private photos carry is not even offered to strangers.
    post(client, owner, "#onlymine")
    assert get(client, "/v1/search/hashtags", stranger, q="onlym").json()["items"] == []
    assert get(client, "/v1/search/hashtags", owner, q="onlym").json()["items"] == [
        {"tag": "onlymine", "photos": 1}]
    # The account's own profile is still found by name.
    users = get(client, "/v1/search/users", stranger, q="priv_owner").json()["items"]
    assert [u["user_id"] for u in users] == [owner.user_id]
    make_private(client, owner, False)
    assert photos(stranger) == 2 and tag_count(None) == 2


def test_requests_and_approvals_are_notified(client: TestClient) -> None:
    owner, fan = register(client), register(client)
    make_private(client, owner)
    follow(client, fan, owner)

    def kinds(account: Account) -> list[tuple[str, str]]:
        items = get(client, "/v1/notifications", account).json()["items"]
        return [(n["type"], n["actor"]["user_id"]) for n in items]

    assert kinds(owner) == [("follow_request", fan.user_id)]
    client.put(f"/v1/users/me/follow-requests/{fan.user_id}", headers=owner.auth)
    assert kinds(owner) == [("follow", fan.user_id)]
    assert kinds(fan) == [("follow_request_approved", owner.user_id)]
    # A withdrawn request's notification goes away.
    other = register(client)
    follow(client, other, owner)
    client.delete(f"/v1/users/me/following/{owner.user_id}", headers=other.auth)
    assert kinds(owner) == [("follow", fan.user_id)]


def test_only_those_who_may_see_a_photo_like_or_comment_on_it(
        client: TestClient, people: dict[str, Account]) -> None:
    owner, follower, stranger = people["owner"], people["follower"], people["stranger"]
    photo = owner.photo_id  # type: ignore[attr-defined]
    refused(client, "PUT", f"/v1/photos/{photo}/likes/me", 403, "private_account",
            headers=stranger.auth)
    refused(client, "POST", f"/v1/photos/{photo}/comments", 403, "private_account",
            headers=stranger.auth, json={"text": "hello"})
    for account in (follower, owner):
        assert client.put(f"/v1/photos/{photo}/likes/me",
                          headers=account.auth).status_code == 204
        assert client.post(f"/v1/photos/{photo}/comments", headers=account.auth,
                           json={"text": "nice"}).status_code == 201
