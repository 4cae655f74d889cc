"""`Idempotency-Key` on POST (API.md, "Additions"), through HTTP: a retry with the same key
and body gets the first answer and appends nothing; another body is 422; the key is the
caller's own; answers outlive a restart (embedded) and are shared by write API processes
(Redis, cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from photoshare.infra.http.idempotency import (
    Fingerprint,
    Reserved,
    storage_key,
)
from photoshare.infra.sqlite.idempotency import SqliteIdempotencyStore
from photoshare.infra.http.web import ApiError
from photoshare.infra.roots.cluster import create_write_app
from photoshare.infra.roots.embedded import create_embedded_app
from photoshare.infra.settings import Settings
from support.embedded import (
    Account,
    cheap_settings,
    event_store,
    head,
    image_bytes,
    post_photo,
    register,
)

KEY = "Idempotency-Key"


def new_key() -> str:
    return str(uuid4())


def events_after(client: TestClient, position: int) -> list[str]:
    return [e.event_type for e in event_store(client).read_log(position)]


def same_answer(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers.get("x-event-position") == first.headers.get("x-event-position")
    assert again.headers.get("content-type") == first.headers.get("content-type")
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["x-request-id"] != first.headers["x-request-id"]  # its own


def comment(client: TestClient, account: Account, photo_id: str, key: str | None,
            text: str = "lovely") -> httpx.Response:
    headers = {**account.auth, **({KEY: key} if key else {})}
    return client.post(f"/v1/photos/{photo_id}/comments", headers=headers,
                       json={"text": text})


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def alice(client: TestClient) -> Account:
    return register(client)


@pytest.fixture
def photo_id(client: TestClient, alice: Account) -> str:
    return post_photo(client, alice)["photo_id"]


# --- replays -------------------------------------------------------------------------------


def test_a_retried_comment_gets_the_first_answer_and_appends_nothing(
        client: TestClient, alice: Account, photo_id: str) -> None:
    before, key = head(client), new_key()
    first = comment(client, alice, photo_id, key)
    assert first.status_code == 201, first.text
    again = comment(client, alice, photo_id, key)
    same_answer(first, again)
    assert events_after(client, before) == ["CommentAdded"]
    assert head(client) == int(first.headers["x-event-position"])


def test_the_same_key_with_another_body_is_422_and_appends_nothing(
        client: TestClient, alice: Account, photo_id: str) -> None:
    key = new_key()
    assert comment(client, alice, photo_id, key, "first").status_code == 201
    before = head(client)
    reused = comment(client, alice, photo_id, key, "second")
    assert reused.status_code == 422
    assert error_code(reused) == "idempotency_key_reused"
    assert head(client) == before


def test_the_same_key_on_another_endpoint_is_422(client: TestClient, alice: Account,
                                                 photo_id: str) -> None:
    key = new_key()
    assert comment(client, alice, photo_id, key).status_code == 201
    other = post_photo(client, alice)["photo_id"]
    reused = comment(client, alice, other, key)
    assert (reused.status_code, error_code(reused)) == (422, "idempotency_key_reused")


def test_a_json_body_is_the_same_body_however_it_is_formatted(
        client: TestClient, alice: Account, photo_id: str) -> None:
    key, url = new_key(), f"/v1/photos/{photo_id}/comments"
    headers = {**alice.auth, KEY: key, "content-type": "application/json"}
    first = client.post(url, headers=headers, content=b'{"text": "hi"}')
    again = client.post(url, headers=headers, content=b'{ "text":"hi" }\n')
    same_answer(first, again)


def test_a_retried_registration_creates_one_user(client: TestClient) -> None:
    username, key = f"u_{uuid4().hex[:10]}", new_key()
    body = {"username": username, "email": f"{username}@example.com",
            "password": "correct horse battery", "display_name": "U"}
    before = head(client)
    first = client.post("/v1/users", json=body, headers={KEY: key})
    assert first.status_code == 201, first.text
    same_answer(first, client.post("/v1/users", json=body, headers={KEY: key}))
    assert events_after(client, before) == ["UserRegistered"]
    # Without a key the same request is a new one: the username is taken.
    assert client.post("/v1/users", json=body).status_code == 409


def test_a_retried_upload_posts_one_photo(client: TestClient, alice: Account) -> None:
    """The client encodes the multipart body again (a new random boundary): it is still
    the same request."""
    image, key, before = image_bytes(), new_key(), head(client)

    def upload() -> httpx.Response:
        return client.post("/v1/photos", headers={**alice.auth, KEY: key},
                           data={"caption": "sunset #beach"},
                           files={"file": ("photo.jpg", image, "image/jpeg")})

    first = upload()
    assert first.status_code == 201, first.text
    same_answer(first, upload())
    assert events_after(client, before) == ["PhotoPosted"]


def test_another_image_with_the_same_key_is_422(client: TestClient, alice: Account) -> None:
    key = new_key()

    def upload(color: str) -> httpx.Response:
        return client.post("/v1/photos", headers={**alice.auth, KEY: key},
                           files={"file": ("p.jpg", image_bytes(color=color), "image/jpeg")})

    assert upload("red").status_code == 201
    before = head(client)
    assert error_code(upload("blue")) == "idempotency_key_reused"
    assert head(client) == before


@pytest.mark.parametrize("body", [{"text": ""}, {"txet": "typo"}])
def test_an_error_answer_is_replayed_the_same(client: TestClient, alice: Account,
                                              photo_id: str, body: dict[str, Any]) -> None:
    key, url = new_key(), f"/v1/photos/{photo_id}/comments"
    first = client.post(url, headers={**alice.auth, KEY: key}, json=body)
    assert first.status_code == 422, first.text
    same_answer(first, client.post(url, headers={**alice.auth, KEY: key}, json=body))


def test_a_204_answer_is_replayed_with_its_position(client: TestClient, alice: Account,
                                                    photo_id: str) -> None:
    bob = register(client)
    liked = client.put(f"/v1/photos/{photo_id}/likes/me", headers=bob.auth)
    notifications = client.get("/v1/notifications", headers={
        **alice.auth, "X-Min-Position": liked.headers["x-event-position"]}).json()
    key, body = new_key(), {"up_to": notifications["items"][0]["notification_id"]}

    def mark_read() -> httpx.Response:
        return client.post("/v1/notifications/read", headers={**alice.auth, KEY: key},
                           json=body)

    first = mark_read()
    assert first.status_code == 204, first.text
    same_answer(first, mark_read())


# --- what is not replayed ----------------------------------------------------------------


def test_without_a_key_nothing_changes(client: TestClient, alice: Account,
                                       photo_id: str) -> None:
    before = head(client)
    first, second = comment(client, alice, photo_id, None), comment(client, alice, photo_id, None)
    assert first.status_code == second.status_code == 201
    assert first.json() != second.json()
    assert "idempotent-replayed" not in second.headers
    assert events_after(client, before) == ["CommentAdded", "CommentAdded"]


def test_another_users_key_is_independent(client: TestClient, alice: Account,
                                          photo_id: str) -> None:
    bob, key, before = register(client), new_key(), head(client)
    by_alice = comment(client, alice, photo_id, key)
    by_bob = comment(client, bob, photo_id, key)  # the same key and body
    assert by_alice.status_code == by_bob.status_code == 201
    assert by_alice.json() != by_bob.json()
    assert "idempotent-replayed" not in by_bob.headers
    assert events_after(client, before) == ["CommentAdded", "CommentAdded"]
    assert "idempotent-replayed" in comment(client, bob, photo_id, key).headers


def test_a_key_is_the_users_across_their_tokens(client: TestClient, alice: Account,
                                                photo_id: str) -> None:
    """A retry after logging in again still finds its answer."""
    key = new_key()
    first = comment(client, alice, photo_id, key)
    session = client.post("/v1/sessions", json={"login": alice.username,
                                                "password": alice.password})
    relogged = Account(alice.user_id, alice.username, alice.email, alice.password,
                       session.json()["access_token"])
    same_answer(first, comment(client, relogged, photo_id, key))


def test_an_invalid_token_is_401_with_or_without_a_key(client: TestClient,
                                                       photo_id: str) -> None:
    headers = {"Authorization": "Bearer not-a-token", KEY: new_key()}
    for _ in range(2):
        response = client.post(f"/v1/photos/{photo_id}/comments", headers=headers,
                               json={"text": "hi"})
        assert response.status_code == 401
        assert "idempotent-replayed" not in response.headers


@pytest.mark.parametrize("failure", [RuntimeError("the disk is full"),
                                     ApiError(503, "unavailable", "try again")])
def test_a_failed_request_is_not_kept(client: TestClient, alice: Account, photo_id: str,
                                      monkeypatch: pytest.MonkeyPatch,
                                      failure: Exception) -> None:
    """A 5xx (here, the event store failing: an exception, or a 503 answer) frees the
    key: the retry runs."""
    commands, key, before = event_store(client), new_key(), head(client)

    def broken(*_: object, **__: object) -> None:
        raise failure

    monkeypatch.setattr(commands, "execute", broken)
    if isinstance(failure, ApiError):
        assert comment(client, alice, photo_id, key).status_code == 503
    else:
        with pytest.raises(RuntimeError):
            comment(client, alice, photo_id, key)
    monkeypatch.undo()
    retried = comment(client, alice, photo_id, key)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert events_after(client, before) == ["CommentAdded"]


def test_log_ins_are_never_kept(client: TestClient, alice: Account) -> None:
    """Their answers are bearer tokens, kept nowhere; a log-in appends nothing anyway."""
    body, key = {"login": alice.username, "password": alice.password}, new_key()
    for _ in range(2):
        response = client.post("/v1/sessions", json=body, headers={KEY: key})
        assert response.status_code == 200
        assert "idempotent-replayed" not in response.headers


def test_a_request_in_flight_makes_a_retry_409(client: TestClient, settings: Settings,
                                               alice: Account, photo_id: str) -> None:
    """While another process runs the request (here: a store on the same file holds its
    key), a retry is told to wait; once that process gives the key up, the retry runs."""
    key, body = new_key(), b'{"text": "lovely"}'
    fingerprint = Fingerprint("POST", f"/v1/photos/{photo_id}/comments", b"",
                              "application/json")
    fingerprint.update(body)
    other_process = SqliteIdempotencyStore(settings.idempotency_path, ttl_seconds=60,
                                           lock_seconds=60)
    where = storage_key(f"user:{alice.user_id}", key)
    try:
        holder = other_process.reserve(where, fingerprint.hexdigest())
        assert isinstance(holder, Reserved)
        before = head(client)
        busy = comment(client, alice, photo_id, key)
        assert (busy.status_code, error_code(busy)) == (409, "idempotency_key_in_use")
        assert busy.headers["retry-after"] == "1"
        other = comment(client, alice, photo_id, key, "another text")
        assert error_code(other) == "idempotency_key_reused"
        assert head(client) == before
        other_process.release(where, holder)  # it failed: the key is free again
    finally:
        other_process.close()
    retried = comment(client, alice, photo_id, key)
    assert retried.status_code == 201
    assert events_after(client, before) == ["CommentAdded"]


@pytest.mark.parametrize("key", [b"x" * 256, b"tab\tinside", "café".encode(), b""])
def test_a_malformed_key_is_400(client: TestClient, alice: Account, photo_id: str,
                                key: bytes) -> None:
    before = head(client)
    response = client.post(f"/v1/photos/{photo_id}/comments", json={"text": "hi"},
                           headers={**alice.auth, KEY: key})
    assert (response.status_code, error_code(response)) == (400, "invalid_idempotency_key")
    assert head(client) == before


def test_bad_bodies_get_their_usual_answers_with_a_key(client: TestClient, alice: Account,
                                                      photo_id: str,
                                                      settings: Settings) -> None:
    url, before = f"/v1/photos/{photo_id}/comments", head(client)
    headers = {**alice.auth, KEY: new_key(), "content-type": "application/json"}
    too_big = client.post(url, headers=headers,
                          content=b'{"text": "' + b"x" * settings.max_json_body_bytes + b'"}')
    assert (too_big.status_code, error_code(too_big)) == (413, "payload_too_large")
    headers[KEY] = new_key()
    hostile = client.post(url, headers=headers, content=b"[" * 20_000 + b"]" * 20_000)
    assert 400 <= hostile.status_code < 500, hostile.text
    assert head(client) == before


def test_a_key_of_255_characters_is_fine(client: TestClient, alice: Account,
                                         photo_id: str) -> None:
    key = "k" * 255
    same_answer(comment(client, alice, photo_id, key), comment(client, alice, photo_id, key))


def test_openapi_documents_the_header_on_posts(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    def documented(path: str, method: str) -> bool:
        parameters = paths[path][method].get("parameters", [])
        return any(p["name"] == KEY and p["in"] == "header" for p in parameters)

    assert documented("/v1/photos", "post")
    assert documented("/v1/users", "post")
    assert documented("/v1/photos/{photo_id}/comments", "post")
    assert not documented("/v1/sessions", "post")
    assert not documented("/v1/photos/{photo_id}", "delete")


# --- across restarts and processes ----------------------------------------------------------


def test_an_answer_survives_a_restart(settings: Settings) -> None:
    key = new_key()
    with TestClient(create_embedded_app(settings)) as client:
        alice = register(client)
        photo = post_photo(client, alice)["photo_id"]
        first = comment(client, alice, photo, key)
        assert first.status_code == 201
    with TestClient(create_embedded_app(settings)) as client:
        before = head(client)
        same_answer(first, comment(client, alice, photo, key))
        assert head(client) == before


@pytest.fixture
def two_write_apis(tmp_path: Path, postgres_dsn: str, redis_url: str,
                   redis_client: redis.Redis) -> Iterator[tuple[TestClient, TestClient]]:
    """Two cluster write API processes (each with its own clients) on one event store and
    one Redis, under a key prefix of this test's own."""
    prefix = f"photoshare-test-{uuid4().hex}:"

    def app(name: str) -> Any:
        return create_write_app(cheap_settings(
            tmp_path / name, profile="cluster", postgres_dsn=postgres_dsn,
            redis_url=redis_url, redis_prefix=prefix))

    with TestClient(app("api-1")) as api_1, TestClient(app("api-2")) as api_2:
        yield api_1, api_2
    leftovers = list(redis_client.scan_iter(match=f"{prefix}*"))
    if leftovers:
        redis_client.delete(*leftovers)


@pytest.mark.cluster
def test_write_api_processes_share_their_answers(
        two_write_apis: tuple[TestClient, TestClient]) -> None:
    api_1, api_2 = two_write_apis
    username, key = f"u_{uuid4().hex[:10]}", new_key()
    body = {"username": username, "email": f"{username}@example.com",
            "password": "correct horse battery", "display_name": "U"}
    first = api_1.post("/v1/users", json=body, headers={KEY: key})
    assert first.status_code == 201, first.text
    before = head(api_1)
    same_answer(first, api_2.post("/v1/users", json=body, headers={KEY: key}))
    reused = api_2.post("/v1/users", json={**body, "display_name": "V"}, headers={KEY: key})
    assert error_code(reused) == "idempotency_key_reused"

    token = api_2.post("/v1/sessions", json={"login": username,
                                             "password": body["password"]}).json()
    account = Account(first.json()["user_id"], username, body["email"], body["password"],
                      token["access_token"])
    image, photo_key = image_bytes(), new_key()

    def upload(api: TestClient) -> httpx.Response:
        return api.post("/v1/photos", headers={**account.auth, KEY: photo_key},
                        files={"file": ("p.jpg", image, "image/jpeg")})

    posted = upload(api_2)
    assert posted.status_code == 201, posted.text
    same_answer(posted, upload(api_1))
    assert events_after(api_1, before) == ["PhotoPosted"]
