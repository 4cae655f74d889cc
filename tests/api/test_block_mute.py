"""Block and mute through HTTP on the real embedded app: the endpoints and their unhappy
paths, what a block ends and refuses on the write side, what each side then reads
(profiles, photos, comments, lists, timeline, search, notifications), mute, and the
`relationship` on profiles."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from photoshare.projections import controls as controls_module
from support.embedded import Account, head, image_bytes, register

SMALL = image_bytes(size=(64, 48))


def at(response: httpx.Response) -> dict[str, str]:
    """Headers for a read that waits for the write `response` made."""
    return {"X-Min-Position": response.headers["X-Event-Position"]}


def ok(response: httpx.Response, status: int = 204) -> httpx.Response:
    assert response.status_code == status, response.text
    return response


def post(client: TestClient, account: Account, caption: str = "",
         tagged: str = "") -> dict[str, Any]:
    response = client.post("/v1/photos", headers=account.auth,
                           data={"caption": caption, "tagged": tagged},
                           files={"file": ("p.jpg", SMALL, "image/jpeg")})
    return ok(response, 201).json() | {"headers": at(response)}


def block(client: TestClient, who: Account, whom: Account) -> httpx.Response:
    return ok(client.put(f"/v1/users/me/blocks/{whom.user_id}", headers=who.auth))


def mute(client: TestClient, who: Account, whom: Account) -> httpx.Response:
    return ok(client.put(f"/v1/users/me/mutes/{whom.user_id}", headers=who.auth))


def follow(client: TestClient, who: Account, whom: Account) -> httpx.Response:
    return client.put(f"/v1/users/me/following/{whom.user_id}", headers=who.auth)


def get(client: TestClient, path: str, account: Account | None = None,
        after: httpx.Response | None = None, **params: Any) -> httpx.Response:
    headers = {**(account.auth if account else {}), **(at(after) if after else {})}
    return client.get(path, headers=headers, params=params)


def ids(page: dict[str, Any], key: str = "user_id") -> list[str]:
    return [item[key] for item in page["items"]]


def error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


# --- the endpoints -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["blocks", "mutes"])
def test_put_delete_list_are_idempotent_and_paged(client: TestClient, kind: str) -> None:
    me, *others = (register(client) for _ in range(4))
    for other in others:
        ok(client.put(f"/v1/users/me/{kind}/{other.user_id}", headers=me.auth))
    before = head(client)
    again = ok(client.put(f"/v1/users/me/{kind}/{others[0].user_id}", headers=me.auth))
    assert head(client) == before  # nothing appended the second time
    first = get(client, f"/v1/users/me/{kind}", me, again, limit=2).json()
    assert ids(first) == [others[2].user_id, others[1].user_id]  # most recent first
    assert set(first["items"][0]) == {"user_id", "username", "display_name", "avatar_url"}
    rest = get(client, f"/v1/users/me/{kind}", me, cursor=first["next_cursor"]).json()
    assert ids(rest) == [others[0].user_id] and rest["next_cursor"] is None
    gone = ok(client.delete(f"/v1/users/me/{kind}/{others[1].user_id}", headers=me.auth))
    ok(client.delete(f"/v1/users/me/{kind}/{others[1].user_id}", headers=me.auth))
    assert ids(get(client, f"/v1/users/me/{kind}", me, gone).json()) == [
        others[2].user_id, others[0].user_id]
    # Private to the one who blocks or mutes: the others' own lists are empty.
    assert get(client, f"/v1/users/me/{kind}", others[0]).json()["items"] == []


@pytest.mark.parametrize("kind,code", [("blocks", "cannot_block_self"),
                                       ("mutes", "cannot_mute_self")])
def test_unhappy_paths(client: TestClient, kind: str, code: str) -> None:
    me = register(client)
    before = head(client)
    error(client.put(f"/v1/users/me/{kind}/{me.user_id}", headers=me.auth), 422, code)
    for method in ("put", "delete"):
        for unknown in ("2b1c0f4e-9d6a-4f7b-8e21-5c3a9d0e7f12", "not-a-uuid"):
            error(getattr(client, method)(f"/v1/users/me/{kind}/{unknown}", headers=me.auth),
                  404, "user_not_found")
        error(getattr(client, method)(f"/v1/users/me/{kind}/{me.user_id}"), 401, "missing_token")
    error(client.get(f"/v1/users/me/{kind}"), 401, "missing_token")
    error(client.get(f"/v1/users/me/{kind}", headers={"Authorization": "Bearer nope"}),
          401, "invalid_token")
    error(client.get(f"/v1/users/me/{kind}?cursor=garbage!", headers=me.auth),
          400, "invalid_cursor")
    assert client.get(f"/v1/users/me/{kind}?limit=0", headers=me.auth).status_code == 422
    assert head(client) == before


# --- block: the write side ---------------------------------------------------------------


def test_blocking_removes_follows_both_ways_and_refuses_acts(client: TestClient) -> None:
    ann, bob = register(client), register(client)
    ok(follow(client, ann, bob))
    ok(follow(client, bob, ann))
    photo = post(client, ann, "ann's")
    bobs = post(client, bob, "bob's")
    blocked = block(client, ann, bob)
    assert get(client, f"/v1/users/{ann.user_id}/followers", ann, blocked).json()["items"] == []
    assert get(client, f"/v1/users/{ann.user_id}/following", ann).json()["items"] == []
    me = get(client, "/v1/users/me", ann).json()
    assert (me["followers"], me["following"]) == (0, 0)
    before = head(client)
    # Bob, the blocked: Ann is as if she did not exist.
    error(follow(client, bob, ann), 404, "user_not_found")
    error(client.put(f"/v1/photos/{photo['photo_id']}/likes/me", headers=bob.auth),
          404, "photo_not_found")
    error(client.post(f"/v1/photos/{photo['photo_id']}/comments", headers=bob.auth,
                      json={"text": "hi"}), 404, "photo_not_found")
    tagging = client.post("/v1/photos", headers=bob.auth, data={"tagged": ann.username},
                          files={"file": ("p.jpg", SMALL, "image/jpeg")})
    error(tagging, 422, "unknown_tagged_user")
    # Ann, the blocker: told why she cannot follow; Bob's photos are gone for her.
    error(follow(client, ann, bob), 409, "user_blocked")
    error(client.put(f"/v1/photos/{bobs['photo_id']}/likes/me", headers=ann.auth),
          404, "photo_not_found")
    error(client.post(f"/v1/photos/{bobs['photo_id']}/comments", headers=ann.auth,
                      json={"text": "hi"}), 404, "photo_not_found")
    error(client.post("/v1/photos", headers=ann.auth, data={"tagged": bob.username},
                      files={"file": ("p.jpg", SMALL, "image/jpeg")}), 422, "unknown_tagged_user")
    assert head(client) == before
    # Unblocked: all is allowed again, and the follows stay ended.
    ok(client.delete(f"/v1/users/me/blocks/{bob.user_id}", headers=ann.auth))
    ok(client.put(f"/v1/photos/{photo['photo_id']}/likes/me", headers=bob.auth))
    unblocked = ok(follow(client, bob, ann))
    assert get(client, f"/v1/users/{ann.user_id}", ann, unblocked).json()["followers"] == 1


# --- block: the read side ----------------------------------------------------------------


@pytest.mark.parametrize("loaded", [None, 0], ids=["blockers-read-whole", "past-the-bound"])
def test_the_blocked_person_gets_404_and_finds_nothing(
        client: TestClient, loaded: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    ann, bob, cy = (register(client, f"blk_{n}_{id(client) % 9999}") for n in ("ann", "bob", "cy"))
    if loaded is not None:
        # Bob is blocked by more people than a read loads (here: none of them), so each
        # read asks about the people it shows (Controls.learn).
        monkeypatch.setattr(controls_module, "BLOCKERS_LOADED", loaded)
        for other in (register(client) for _ in range(2)):
            block(client, other, bob)
    ok(follow(client, bob, cy))
    photo = post(client, ann, "sunny #beachday", tagged=cy.username)
    on_cy = post(client, cy, "cy's #beachday", tagged=ann.username)
    comment = ok(client.post(f"/v1/photos/{on_cy['photo_id']}/comments", headers=ann.auth,
                             json={"text": "from ann"}), 201)
    ok(client.put(f"/v1/photos/{on_cy['photo_id']}/likes/me", headers=ann.auth))
    blocked = block(client, ann, bob)
    for path, code in ((f"/v1/users/{ann.user_id}", "user_not_found"),
                       (f"/v1/users/by-username/{ann.username}", "user_not_found"),
                       (f"/v1/users/{ann.user_id}/photos", "user_not_found"),
                       (f"/v1/users/{ann.user_id}/followers", "user_not_found"),
                       (f"/v1/users/{ann.user_id}/following", "user_not_found"),
                       (f"/v1/photos/{photo['photo_id']}", "photo_not_found"),
                       (f"/v1/photos/{photo['photo_id']}/comments", "photo_not_found")):
        error(get(client, path, bob, blocked), 404, code)
        # Anyone else, and Bob signed out, still see it.
        assert get(client, path, cy).status_code == 200, path
        assert get(client, path).status_code == 200, path
    # Not in Bob's searches, nor in the comments and tags of others' photos.
    assert ann.user_id not in ids(get(client, "/v1/search/users", bob, q="blk").json())
    assert cy.user_id in ids(get(client, "/v1/search/users", bob, q="blk").json())
    found = get(client, "/v1/search/photos", bob, q="#beachday").json()
    assert ids(found, "photo_id") == [on_cy["photo_id"]]
    assert ann.user_id not in [t["user_id"] for t in found["items"][0]["tagged"]]
    comments = get(client, f"/v1/photos/{on_cy['photo_id']}/comments", bob).json()
    assert comment.json()["comment_id"] not in ids(comments, "comment_id")
    assert get(client, f"/v1/photos/{on_cy['photo_id']}/comments", cy).json()["items"]
    # The blocker's profile header of Bob, to unblock; nothing else of his.
    seen = get(client, f"/v1/users/{bob.user_id}", ann).json()
    assert seen["relationship"] == {"following": False, "requested": False, "followed_by": False,
                                    "blocking": True, "muting": False}
    error(get(client, f"/v1/users/{bob.user_id}/photos", ann), 404, "user_not_found")
    # Nothing in Bob's answers says he is blocked: the relationship is his side only.
    assert get(client, f"/v1/users/{cy.user_id}", bob).json()["relationship"] == {
        "following": True, "requested": False,
        "followed_by": False, "blocking": False, "muting": False}


def test_the_blocker_sees_nothing_of_the_blocked(client: TestClient) -> None:
    ann, bob, cy = (register(client) for _ in range(3))
    for who, whom in ((ann, bob), (ann, cy), (cy, ann)):
        ok(follow(client, who, whom))
    bobs = post(client, bob, "bob #dune")
    cys = post(client, cy, "cy #dune")
    mine = post(client, ann, "ann #dune")
    ok(client.post(f"/v1/photos/{cys['photo_id']}/comments", headers=bob.auth, json={"text": "b"}),
       201)
    ok(client.put(f"/v1/photos/{mine['photo_id']}/likes/me", headers=bob.auth))
    ok(client.put(f"/v1/users/me/following/{ann.user_id}", headers=bob.auth))
    blocked = block(client, ann, bob)
    timeline = get(client, "/v1/timeline", ann, blocked).json()
    assert bobs["photo_id"] not in ids(timeline, "photo_id")
    assert cys["photo_id"] in ids(timeline, "photo_id")
    assert bobs["photo_id"] not in ids(get(client, "/v1/search/photos", ann, q="dune").json(),
                                       "photo_id")
    assert get(client, f"/v1/photos/{cys['photo_id']}/comments", ann).json()["items"] == []
    actors = [n["actor"]["user_id"] for n in get(client, "/v1/notifications", ann).json()["items"]]
    assert bob.user_id not in actors and cy.user_id in actors
    error(get(client, f"/v1/photos/{bobs['photo_id']}", ann), 404, "photo_not_found")
    # Unblocking brings back what Bob still does (his like); the follows stay ended.
    unblocked = ok(client.delete(f"/v1/users/me/blocks/{bob.user_id}", headers=ann.auth))
    assert get(client, f"/v1/photos/{bobs['photo_id']}", ann, unblocked).status_code == 200
    actors = [n["actor"]["user_id"] for n in get(client, "/v1/notifications", ann).json()["items"]]
    assert bob.user_id in actors


def test_filtered_pages_stay_full(client: TestClient) -> None:
    ann, bob, cy = (register(client) for _ in range(3))
    ok(follow(client, ann, bob))
    ok(follow(client, ann, cy))
    cys = [post(client, cy, f"cy {n}")["photo_id"] for n in range(3)]
    for n in range(8):
        post(client, bob, f"bob {n}")
    muted = mute(client, ann, bob)
    first = get(client, "/v1/timeline", ann, muted, limit=2).json()
    assert ids(first, "photo_id") == cys[::-1][:2]
    rest = get(client, "/v1/timeline", ann, limit=2, cursor=first["next_cursor"]).json()
    assert ids(rest, "photo_id") == [cys[0]] and rest["next_cursor"] is None


# --- mute --------------------------------------------------------------------------------


def test_mute_hides_posts_and_notifications_and_nothing_else(client: TestClient) -> None:
    ann, bob = register(client), register(client)
    ok(follow(client, ann, bob))
    old = post(client, bob, "before the mute")
    mine = post(client, ann, "ann's")
    ok(client.put(f"/v1/photos/{mine['photo_id']}/likes/me", headers=bob.auth))
    muted = mute(client, ann, bob)
    new = post(client, bob, "during the mute")
    ok(client.post(f"/v1/photos/{mine['photo_id']}/comments", headers=bob.auth,
                   json={"text": "muted words"}), 201)
    timeline = get(client, "/v1/timeline", ann, muted).json()
    assert ids(timeline, "photo_id") == [mine["photo_id"]]  # the materialized row is gone too
    assert get(client, "/v1/notifications", ann).json()["items"] == []
    # Nothing else changes: the follow, Bob's profile and photos, his comments.
    profile = get(client, f"/v1/users/{bob.user_id}", ann).json()
    assert profile["relationship"] == {"following": True, "requested": False, "followed_by": False,
                                       "blocking": False, "muting": True}
    assert get(client, f"/v1/photos/{new['photo_id']}", ann).status_code == 200
    assert get(client, f"/v1/photos/{mine['photo_id']}/comments", ann).json()["items"]
    # Bob is not told: his side of the relationship is as before.
    assert get(client, f"/v1/users/{ann.user_id}", bob).json()["relationship"] == {
        "following": False, "requested": False,
        "followed_by": True, "blocking": False, "muting": False}
    unmuted = ok(client.delete(f"/v1/users/me/mutes/{bob.user_id}", headers=ann.auth))
    back = get(client, "/v1/timeline", ann, unmuted).json()
    assert set(ids(back, "photo_id")) == {old["photo_id"], new["photo_id"], mine["photo_id"]}


def test_relationship_is_on_profiles_of_others_when_signed_in(client: TestClient) -> None:
    ann, bob = register(client), register(client)
    ok(follow(client, bob, ann))
    seen = get(client, f"/v1/users/by-username/{bob.username}", ann, ok(follow(client, ann, bob)))
    assert seen.json()["relationship"] == {"following": True, "requested": False,
    "followed_by": True,
                                           "blocking": False, "muting": False}
    assert "relationship" not in get(client, f"/v1/users/{bob.user_id}").json()
    assert "relationship" not in get(client, f"/v1/users/{ann.user_id}", ann).json()
    assert "relationship" not in get(client, "/v1/users/me", ann).json()


def test_a_block_ends_pending_follow_requests_both_ways(client: TestClient) -> None:
    ann, bob = register(client), register(client)
    for account in (ann, bob):
        ok(client.patch("/v1/users/me", headers=account.auth, json={"private": True}), 200)
    assert ok(follow(client, bob, ann), 202).json() == {"status": "requested"}
    assert ok(follow(client, ann, bob), 202).json() == {"status": "requested"}
    blocked = block(client, ann, bob)
    # Bob's request to Ann is declined, Ann's to Bob withdrawn, in the block's append.
    for owner in (ann, bob):
        assert get(client, "/v1/users/me/follow-requests", owner, blocked).json()["items"] == []
    assert ids(get(client, "/v1/users/me/blocks", ann, blocked).json()) == [bob.user_id]
    # While blocked, Bob cannot ask again; once unblocked, Ann asks afresh.
    error(follow(client, bob, ann), 404, "user_not_found")
    unblocked = ok(client.delete(f"/v1/users/me/blocks/{bob.user_id}", headers=ann.auth))
    assert get(client, f"/v1/users/{bob.user_id}", ann, unblocked).json()["relationship"][
        "requested"] is False
    assert ok(follow(client, ann, bob), 202).json() == {"status": "requested"}
