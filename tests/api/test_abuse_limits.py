"""Bounded under abuse (the hardening issue, points 1, 2, 7 and 9): no password hash for a
registration that cannot succeed, a bounded queue of hashes, registrations per address,
an atomic login limiter that strangers cannot turn against an account's owner, writes
per user, and logout revoking the token for every API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from photoshare.infra.auth.passwords import PasswordHasher
from photoshare.infra.roots.embedded import create_embedded_app
from support.embedded import Account, cheap_settings, head, post_photo, register

PASSWORD = "correct horse battery"


def app_with(tmp_path: Path, **limits: object) -> FastAPI:
    return create_embedded_app(cheap_settings(tmp_path / "data", **limits))


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hashed (not verified) from now on."""
    hashed: list[str] = []
    real = PasswordHasher.hash

    def counting(self: PasswordHasher, password: str) -> str:
        hashed.append(password)
        return real(self, password)

    monkeypatch.setattr(PasswordHasher, "hash", counting)
    return hashed


def user_body(**fields: object) -> dict[str, object]:
    name = f"u_{uuid4().hex[:12]}"
    return {"username": name, "email": f"{name}@example.com", "password": PASSWORD,
            "display_name": "Someone", **fields}


def from_address(app: FastAPI, address: str) -> TestClient:
    """Another client of the running app, seen as coming from `address`."""
    return TestClient(app, client=(address, 40000))


# --- 1. registration ---------------------------------------------------------------


def test_a_registration_that_cannot_succeed_costs_no_password_hash(
        tmp_path: Path, hashes: list[str]) -> None:
    with TestClient(app_with(tmp_path)) as client:
        taken = register(client)
        hashes.clear()
        cases = {
            "bad username": (user_body(username="no spaces allowed"), 422),
            "bad email": (user_body(email="not-an-email"), 422),
            "too young": (user_body(age=5), 422),
            "taken username": (user_body(username=taken.username.upper()), 409),
            "taken email": (user_body(email=taken.email.upper()), 409),
        }
        for name, (body, status) in cases.items():
            answer = client.post("/v1/users", json=body)
            assert answer.status_code == status, (name, answer.text)
        assert hashes == []
        assert client.post("/v1/users", json=user_body()).status_code == 201
        assert len(hashes) == 1


def test_registrations_are_limited_per_address(tmp_path: Path) -> None:
    app = app_with(tmp_path, registrations_per_hour_per_address=3)
    with TestClient(app) as client:
        for _ in range(3):
            assert client.post("/v1/users", json=user_body()).status_code == 201
        # Refused input does not use up the allowance: it is refused before it counts.
        assert client.post("/v1/users", json=user_body(username="x")).status_code == 422
        before = head(client)
        refused = client.post("/v1/users", json=user_body())
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_registrations"
        assert 3000 < int(refused.headers["Retry-After"]) <= 3600
        assert head(client) == before  # nothing appended
        # Another address is not affected.
        assert from_address(app, "198.51.100.7").post(
            "/v1/users", json=user_body()).status_code == 201


def test_beyond_the_hashing_queue_a_registration_is_told_to_retry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = PasswordHasher.hash
    monkeypatch.setattr(PasswordHasher, "hash",
                        lambda self, password: (release.wait(30), real(self, password))[1])
    app = app_with(tmp_path, password_hash_concurrency=1, password_hash_max_waiting=1)
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        passwords = app.state.write.passwords
        held = [pool.submit(client.post, "/v1/users", json=user_body()) for _ in range(2)]
        try:
            deadline = time.monotonic() + 10
            while (passwords.running, passwords.waiting) != (1, 1):
                assert time.monotonic() < deadline, (passwords.running, passwords.waiting)
                time.sleep(0.01)
            # One hashes (held), one waits: a third is refused at once, not queued.
            busy = client.post("/v1/users", json=user_body())
        finally:
            release.set()
        assert [f.result().status_code for f in held] == [201, 201]
    assert busy.status_code == 503, busy.text
    assert busy.json()["error"]["code"] == "busy"
    assert busy.headers["Retry-After"] == "1"


# --- 2. login ----------------------------------------------------------------------


@pytest.fixture
def login_app(tmp_path: Path) -> Iterator[tuple[FastAPI, TestClient, Account]]:
    app = app_with(tmp_path, login_max_failures=5, login_account_attempts_per_minute=10)
    with TestClient(app) as client:
        yield app, client, register(client, password=PASSWORD)


def log_in(client: TestClient, account: Account, password: str):  # noqa: ANN201
    return client.post("/v1/sessions", json={"login": account.username, "password": password})


def test_parallel_wrong_passwords_cannot_all_be_checked(
        login_app: tuple[FastAPI, TestClient, Account]) -> None:
    _, client, owner = login_app
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: log_in(client, owner, "wrong guess"), range(30)))
    statuses = [a.status_code for a in answers]
    # The limit is reserved before each password check: five checked, the rest refused.
    assert statuses.count(401) == 5 and statuses.count(429) == 25, statuses
    assert all(int(a.headers["Retry-After"]) > 0 for a in answers if a.status_code == 429)


def test_a_stranger_failing_cannot_lock_the_owner_out(
        login_app: tuple[FastAPI, TestClient, Account]) -> None:
    app, _, owner = login_app
    stranger, home = from_address(app, "203.0.113.66"), from_address(app, "192.0.2.10")
    statuses = [log_in(stranger, owner, f"guess {i}").status_code for i in range(8)]
    assert statuses == [401] * 5 + [429] * 3  # the stranger is stopped ...
    assert log_in(home, owner, PASSWORD).status_code == 200  # ... the owner is not


def test_guessing_from_many_addresses_is_slowed_per_account(
        login_app: tuple[FastAPI, TestClient, Account]) -> None:
    app, _, owner = login_app
    answers = [log_in(from_address(app, f"203.0.113.{i}"), owner, "wrong")
               for i in range(12)]
    assert [a.status_code for a in answers] == [401] * 10 + [429] * 2
    # A slow-down, not a lockout: at most a minute.
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60


def test_a_successful_login_clears_the_owners_own_failures(
        login_app: tuple[FastAPI, TestClient, Account]) -> None:
    _, client, owner = login_app
    for _ in range(4):
        assert log_in(client, owner, "typo").status_code == 401
    assert log_in(client, owner, PASSWORD).status_code == 200
    for _ in range(4):
        assert log_in(client, owner, "typo again").status_code == 401
    assert log_in(client, owner, PASSWORD).status_code == 200


# --- 7. writes per user ------------------------------------------------------------


def test_writes_are_limited_per_user(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path, user_writes_per_minute=4)) as client:
        ann, bob = register(client), register(client)
        photo = post_photo(client, ann)["photo_id"]  # 1
        comments = [client.post(f"/v1/photos/{photo}/comments", headers=ann.auth,
                                json={"text": f"comment {i}"}) for i in range(4)]
        assert [c.status_code for c in comments] == [201, 201, 201, 429]
        refused = comments[-1]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        before = head(client)
        assert client.put(f"/v1/photos/{photo}/likes/me", headers=ann.auth).status_code == 429
        assert head(client) == before
        # Others write on; reading is not limited.
        assert client.put(f"/v1/photos/{photo}/likes/me", headers=bob.auth).status_code == 204
        assert client.get(f"/v1/photos/{photo}/comments", headers=ann.auth).status_code == 200


# --- 9. logout ---------------------------------------------------------------------


def test_logging_out_revokes_that_token_for_both_apis(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path)) as client:
        ann = register(client)
        other = client.post("/v1/sessions", json={"login": ann.username,
                                                  "password": ann.password}).json()
        assert client.get("/v1/timeline", headers=ann.auth).status_code == 200
        assert client.delete("/v1/sessions/current", headers=ann.auth).status_code == 204
        for method, path, body in (("GET", "/v1/timeline", None),
                                   ("GET", "/v1/notifications", None),
                                   ("PATCH", "/v1/users/me", {"bio": "still me?"}),
                                   ("DELETE", "/v1/sessions/current", None)):
            answer = client.request(method, path, headers=ann.auth, json=body)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "invalid_token"
        stream = client.get("/v1/notifications/stream",
                            params={"access_token": ann.token})
        assert stream.status_code == 401
        # The same person's other session goes on.
        other_auth = {"Authorization": f"Bearer {other['access_token']}"}
        assert client.get("/v1/timeline", headers=other_auth).status_code == 200
    # And stays revoked after a restart (the embedded profile keeps it in the data dir).
    with TestClient(app_with(tmp_path)) as client:
        assert client.get("/v1/timeline", headers=ann.auth).status_code == 401
        assert client.get("/v1/timeline", headers=other_auth).status_code == 200


def test_logging_out_needs_a_valid_token(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path)) as client:
        assert client.delete("/v1/sessions/current").status_code == 401
        assert client.delete("/v1/sessions/current",
                             headers={"Authorization": "Bearer nope"}).status_code == 401


def test_authenticated_answers_are_not_stored_by_any_cache(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path)) as client:
        ann = register(client)
        photo = post_photo(client, ann)["photo_id"]
        for path in ("/v1/timeline", f"/v1/photos/{photo}", f"/v1/users/{ann.user_id}",
                     "/v1/notifications", "/v1/nowhere"):
            answer = client.get(path, headers=ann.auth)
            assert answer.headers["cache-control"] == "private, no-store", path
        written = client.patch("/v1/users/me", headers=ann.auth, json={"bio": "hi"})
        assert written.headers["cache-control"] == "private, no-store"
        # Anonymous answers keep their own caching (media stays immutable).
        public = client.get(f"/v1/photos/{photo}")
        assert "no-store" not in public.headers.get("cache-control", "")
        media = client.get(post_photo(client, ann)["urls"]["large"], headers=ann.auth)
        assert "immutable" in media.headers["cache-control"]


def test_a_signed_token_of_no_account_is_refused(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path)) as client:
        ann = register(client)
        photo = post_photo(client, ann)["photo_id"]
        # The views have passed the log's head (so the ghost's position too).
        caught_up = client.get("/v1/timeline",
                               headers={**ann.auth, "X-Min-Position": str(head(client))})
        assert "X-Read-Stale" not in caught_up.headers
        tokens = client.app.state.tokens
        ghost = tokens.issue(str(uuid4()), position=head(client)).token
        ghost_auth = {"Authorization": f"Bearer {ghost}"}
        for path in ("/v1/timeline", "/v1/notifications", f"/v1/photos/{photo}"):
            answer = client.get(path, headers=ghost_auth)
            assert answer.status_code == 401, (path, answer.text)
            assert answer.json()["error"]["code"] == "unknown_actor"
        assert client.get("/v1/notifications/stream",
                          params={"access_token": ghost}).status_code == 401
        assert client.patch("/v1/users/me", headers=ghost_auth,
                            json={"bio": "boo"}).status_code == 401
        # A real account is let in even before the views know it: its token says from
        # which log position on it must exist.
        runner = client.app.state.runner
        runner_position = runner.position
        fresh = tokens.issue(str(uuid4()), position=runner_position + 1_000).token
        assert client.get("/v1/timeline",
                          headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
        assert client.get("/v1/timeline", headers=ann.auth).status_code == 200
