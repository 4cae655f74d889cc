"""Search through HTTP, on the real embedded app: people by username / first and last name
(prefix, accents folded), photos by caption words and #hashtags, paged with opaque cursors,
reading our own writes with X-Min-Position.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from photoshare.infra.roots.embedded import create_embedded_app
from support.embedded import Account, cheap_settings, image_bytes


def position(response: httpx.Response) -> int:
    value = response.headers.get("X-Event-Position")
    assert value is not None and value.isdigit(), response.headers
    return int(value)


class World:
    """Writes through the API, remembering the last write's log position."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.last = 0

    def _wrote(self, response: httpx.Response, status: int) -> httpx.Response:
        assert response.status_code == status, response.text
        self.last = max(self.last, position(response))
        return response

    def register(self, username: str, display_name: str) -> Account:
        body = {"username": username, "email": f"{username}@example.com",
                "password": "correct horse battery", "display_name": display_name}
        created = self._wrote(self.client.post("/v1/users", json=body), 201)
        session = self.client.post("/v1/sessions",
                                   json={"login": username, "password": body["password"]})
        assert session.status_code == 200, session.text
        return Account(created.json()["user_id"], username, body["email"], body["password"],
                       session.json()["access_token"])

    def post(self, account: Account, caption: str) -> str:
        response = self.client.post(
            "/v1/photos", headers=account.auth, data={"caption": caption},
            files={"file": ("p.jpg", image_bytes(size=(64, 48)), "image/jpeg")})
        return self._wrote(response, 201).json()["photo_id"]

    def rename(self, account: Account, display_name: str) -> None:
        self._wrote(self.client.patch("/v1/users/me", headers=account.auth,
                                      json={"display_name": display_name}), 200)

    def delete(self, account: Account, photo_id: str) -> None:
        self._wrote(self.client.delete(f"/v1/photos/{photo_id}", headers=account.auth), 204)

    def like(self, account: Account, photo_id: str) -> None:
        self._wrote(self.client.put(f"/v1/photos/{photo_id}/likes/me", headers=account.auth),
                    204)

    def search(self, kind: str, q: str, account: Account | None = None,
               **params: Any) -> httpx.Response:
        headers = {"X-Min-Position": str(self.last)}
        if account is not None:
            headers.update(account.auth)
        return self.client.get(f"/v1/search/{kind}", params={"q": q, **params},
                               headers=headers)

    def found(self, kind: str, q: str, account: Account | None = None,
              **params: Any) -> dict[str, Any]:
        response = self.search(kind, q, account, **params)
        assert response.status_code == 200, response.text
        assert response.headers.get("X-Read-Stale") is None, "the views kept up"
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        return body

    def hashtags(self, q: str, **params: Any) -> dict[str, Any]:
        response = self.client.get("/v1/search/hashtags", params={"q": q, **params},
                                   headers={"X-Min-Position": str(self.last)})
        assert response.status_code == 200, response.text
        assert response.headers.get("X-Read-Stale") is None, "the views kept up"
        return response.json()

    def ids(self, kind: str, q: str, **params: Any) -> list[str]:
        key = "user_id" if kind == "users" else "photo_id"
        return [item[key] for item in self.found(kind, q, **params)["items"]]

    def every_page(self, kind: str, q: str, limit: int) -> list[list[str]]:
        pages, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            body = self.found(kind, q, **params)
            key = "user_id" if kind == "users" else "photo_id"
            pages.append([item[key] for item in body["items"]])
            cursor = body["next_cursor"]
            if cursor is None:
                return pages
            assert len(pages) < 20, "paging never ends"


@pytest.fixture
def world(client: TestClient) -> World:
    return World(client)


def cursor(state: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


# --- people -----------------------------------------------------------------------------------


def test_search_users_by_prefix_of_username_first_and_last_name(world: World) -> None:
    zoe = world.register("zoe_k", "Zoë Kravitz")
    jose = world.register("jose.n", "José Núñez")
    cy = world.register("cy_d", "Cy Dee")
    world.register("bob", "Robert Smith")

    assert world.found("users", "zoe")["items"] == [
        {"user_id": zoe.user_id, "username": "zoe_k", "display_name": "Zoë Kravitz",
         "avatar_url": None}]
    assert world.ids("users", "ZOË") == [zoe.user_id]
    assert world.ids("users", "krav") == [zoe.user_id]
    assert world.ids("users", "nunez") == [jose.user_id]
    assert world.ids("users", "Núñ") == [jose.user_id]
    assert world.ids("users", "jose") == [jose.user_id]
    assert world.ids("users", "jose.") == [jose.user_id]
    assert world.ids("users", "cy") == [cy.user_id]
    assert world.ids("users", "cy_") == [cy.user_id]
    assert world.ids("users", "cy_d") == [cy.user_id]
    assert world.ids("users", "jose nun") == [jose.user_id]
    assert world.ids("users", "jose smith") == []
    assert world.ids("users", "nobody") == []


def test_an_exact_username_comes_first(world: World) -> None:
    world.register("anna", "Ann Anna")
    world.register("annie", "Ann Annie")
    ann = world.register("ann", "Zed")
    assert world.ids("users", "ann")[0] == ann.user_id
    assert len(world.ids("users", "ann")) == 3


def test_a_profile_rename_is_searchable_at_once(world: World) -> None:
    ann = world.register("ann_x", "Ann Old")
    world.rename(ann, "Zoë Nouvelle")
    assert world.ids("users", "old") == []
    assert world.ids("users", "nouv") == [ann.user_id]
    assert world.found("users", "zoe")["items"][0]["display_name"] == "Zoë Nouvelle"


# --- photos -----------------------------------------------------------------------------------


def test_search_photos_by_caption_words_and_hashtags(world: World) -> None:
    ann = world.register("ann_p", "Ann")
    beach = world.post(ann, "Sunny day at the beach #Sun")
    sea = world.post(ann, "sun on the sea")
    sunset = world.post(ann, "Evening #sunset")
    cafe = world.post(ann, "Café crème #nuit")

    # The last #tag is a prefix (the type-ahead's "#bea" finds "#beach"); whole tags first.
    assert world.ids("photos", "#sun") == [beach, sunset]
    assert world.ids("photos", "#SUN") == [beach, sunset]
    assert world.ids("photos", "#suns") == [sunset]
    assert set(world.ids("photos", "sun")) == {beach, sea}
    assert world.ids("photos", "#sunset") == [sunset]
    assert world.ids("photos", "cafe") == [cafe]
    assert world.ids("photos", "CREME #Nuit") == [cafe]
    assert world.ids("photos", "sun beach") == [beach]
    assert world.ids("photos", "#sun sea") == []
    assert world.ids("photos", "#sun #nu") == []   # an earlier #tag is a whole tag
    card = world.found("photos", "#nuit")["items"][0]
    assert card["photo_id"] == cafe and card["caption"] == "Café crème #nuit"
    assert card["hashtags"] == ["nuit"] and card["owner"]["username"] == "ann_p"
    assert card["urls"] and "liked_by_me" not in card


def test_photo_search_says_what_the_viewer_likes(world: World) -> None:
    ann = world.register("ann_l", "Ann")
    bob = world.register("bob_l", "Bob")
    liked = world.post(ann, "dog one")
    other = world.post(ann, "dog two")
    world.like(bob, liked)
    cards = world.found("photos", "dog", bob)["items"]
    assert {c["photo_id"]: c["liked_by_me"] for c in cards} == {liked: True, other: False}
    assert [c["photo_id"] for c in cards] == [other, liked]  # equal rank: newest first


def test_a_deleted_photo_is_not_found(world: World) -> None:
    ann = world.register("ann_d", "Ann")
    gone = world.post(ann, "#gone soon")
    kept = world.post(ann, "#gone later")
    world.delete(ann, gone)
    assert world.ids("photos", "#gone") == [kept]
    assert world.ids("photos", "soon") == []


# --- hashtags: the type-ahead -----------------------------------------------------------------


def test_hashtags_by_prefix_most_used_first(world: World) -> None:
    ann = world.register("ann_t", "Ann")
    world.post(ann, "Day one #beach #Sunset")
    world.post(ann, "#BEACH again")
    gone = world.post(ann, "#bear #beach")
    world.post(ann, "#bea")
    body = world.hashtags("#bea")
    assert body == {"items": [{"tag": "beach", "photos": 3}, {"tag": "bea", "photos": 1},
                              {"tag": "bear", "photos": 1}]}
    assert world.hashtags("BE", limit=1) == {"items": [{"tag": "beach", "photos": 3}]}
    assert world.hashtags("sun") == {"items": [{"tag": "sunset", "photos": 1}]}
    assert world.hashtags("zzz") == {"items": []}
    world.delete(ann, gone)
    assert world.hashtags("bea")["items"] == [{"tag": "beach", "photos": 2},
                                              {"tag": "bea", "photos": 1}]
    # Photo search by the same prefix finds the photos behind the suggestions.
    assert len(world.ids("photos", "#bea")) == 3


@pytest.mark.parametrize(("params", "code"), [
    ({}, "validation_error"), ({"q": ""}, "validation_error"),
    ({"q": "x" * 102}, "validation_error"), ({"q": "x", "limit": 0}, "validation_error"),
    ({"q": "x", "limit": 51}, "validation_error"), ({"q": "x", "limit": "many"},
                                                     "validation_error"),
    ({"q": "#"}, "invalid_hashtag_prefix"), ({"q": " "}, "invalid_hashtag_prefix"),
    ({"q": "bea ch"}, "invalid_hashtag_prefix"), ({"q": "#a#b"}, "invalid_hashtag_prefix"),
    ({"q": "be*"}, "invalid_hashtag_prefix"), ({"q": "___"}, "invalid_hashtag_prefix"),
    ({"q": "😀"}, "invalid_hashtag_prefix"), ({"q": "x" * 101}, "invalid_hashtag_prefix"),
    ({"q": "a\x00"}, "invalid_hashtag_prefix"),
])
def test_bad_hashtag_queries_are_422(client: TestClient, params: dict[str, Any],
                                     code: str) -> None:
    assert_error(client.get("/v1/search/hashtags", params=params), 422, code)


def test_hashtag_limits_at_the_edges_are_served(client: TestClient) -> None:
    for params in ({"q": "x" * 100}, {"q": "#" + "x" * 100}, {"q": "x", "limit": 1},
                   {"q": "x", "limit": 50}):
        response = client.get("/v1/search/hashtags", params=params)
        assert response.status_code == 200, (params, response.text)
        assert response.json() == {"items": []}


def test_the_hashtag_search_is_in_the_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/search/hashtags"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"q", "limit"}
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/HashtagsPublic")
    assert set(spec["components"]["schemas"]["HashtagPublic"]["properties"]) == {"tag",
                                                                                 "photos"}


# --- paging -----------------------------------------------------------------------------------


def test_paging_users_has_no_gaps_or_repeats(world: World) -> None:
    people = {world.register(f"pager_{n}", f"Pat Pager {n}").user_id for n in range(7)}
    pages = world.every_page("users", "pager", limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    flat = [uid for p in pages for uid in p]
    assert len(flat) == len(set(flat)) and set(flat) == people
    assert flat == world.ids("users", "pager", limit=100)


def test_paging_photos_has_no_gaps_or_repeats(world: World) -> None:
    ann = world.register("ann_pg", "Ann")
    photos = [world.post(ann, f"#paged photo {n}") for n in range(5)]
    pages = world.every_page("photos", "#paged", limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    flat = [pid for p in pages for pid in p]
    assert flat == list(reversed(photos))


def test_an_exact_last_page_has_no_next_cursor(world: World) -> None:
    for n in range(2):
        world.register(f"even_{n}", "Even")
    first = world.found("users", "even", limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"] is None
    assert world.found("users", "nothing_here", limit=2) == {"items": [], "next_cursor": None}


# --- bad input --------------------------------------------------------------------------------


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text


@pytest.mark.parametrize("kind", ["users", "photos"])
def test_q_is_required_and_bounded(client: TestClient, kind: str) -> None:
    assert_error(client.get(f"/v1/search/{kind}"), 422, "validation_error")
    assert_error(client.get(f"/v1/search/{kind}", params={"q": ""}), 422, "validation_error")
    assert_error(client.get(f"/v1/search/{kind}", params={"q": "x" * 201}), 422,
                 "validation_error")
    assert client.get(f"/v1/search/{kind}", params={"q": "x" * 200}).status_code == 200
    assert_error(client.get(f"/v1/search/{kind}", params={"q": "x", "limit": 0}), 422,
                 "validation_error")


@pytest.mark.parametrize("kind", ["users", "photos"])
@pytest.mark.parametrize("bad", [
    "garbage", "!!!", "a", cursor([1]), cursor({"o": -1}), cursor({"o": "3"}),
    cursor({"o": True}), cursor({"o": 1.5}), cursor({"p": 3}), cursor({}), cursor(None),
    cursor({"o": 10**40}), "x" * 600,
])
def test_a_garbage_cursor_is_400(client: TestClient, kind: str, bad: str) -> None:
    response = client.get(f"/v1/search/{kind}", params={"q": "sun", "cursor": bad})
    assert response.status_code in (400, 422), response.text
    if len(bad) <= 512:
        assert_error(response, 400, "invalid_cursor")


def test_a_limit_above_the_maximum_is_served_as_the_maximum(world: World) -> None:
    world.register("lim_a", "Lim")
    assert len(world.found("users", "lim", limit=1000)["items"]) == 1


HOSTILE = [
    " ", '"', '""', '"unclosed', 'a"b', "*", "sun*", "-", "-sun", "NEAR", "NEAR(a b)", "AND",
    "OR", "NOT", "sun AND", "AND OR NOT", "(", ")", "(sun", "{caption}: sun", "caption:sun",
    "#", "##", "#*", "#😀", "😀", "👍🏽", "🏳️‍🌈", "\u200b", "\u0301", "ǅ", "𝔰𝔲𝔫", "ｓｕｎ", "日本語",
    "שלום", "'; DROP TABLE search_users; --", "%", "_", "\\", "%00", "\x00", "a" * 200,
    '"' * 200, "(" * 200, "🙂" * 200, "sun " * 50, "#sun " * 40, "@", "..",
]


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One app for the many hostile queries, with someone and something to find."""
    settings = cheap_settings(tmp_path_factory.mktemp("search") / "data")
    with TestClient(create_embedded_app(settings)) as client:
        world = World(client)
        ann = world.register("ann_h", "Ann Sun")
        world.post(ann, "sun #sun")
        yield world


@pytest.mark.parametrize("kind", ["users", "photos"])
@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_answer_200(shared_world: World, kind: str, q: str) -> None:
    body = shared_world.found(kind, q)
    assert isinstance(body["items"], list)
    if q.strip(' "()*-_') == "sun":
        assert body["items"], "operators are text: the word is still found"
