"""The read routes' fast path (`readapi/routing.py`) answers exactly as FastAPI's own
handling does: the same requests, ordinary and odd, sent to the real embedded app with
the fast path and then, on the same data, without it, get the same status, body and
headers (request ids aside)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from photoshare.infra.roots.embedded import create_embedded_app
from photoshare.readapi import routing
from support.embedded import cheap_settings, post_photo, register

COMPARED_HEADERS = ("content-type", "cache-control", "x-read-position", "x-read-stale",
                    "www-authenticate")


def _requests(ids: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    me, photo, token = ids["user"], ids["photo"], ids["token"]
    auth = {"Authorization": f"Bearer {token}"}
    at = {**auth, "X-Min-Position": ids["position"]}
    long_cursor = "e" * 600
    return [
        ("/v1/timeline", auth), ("/v1/timeline", at), ("/v1/timeline?limit=1", auth),
        ("/v1/timeline?limit=500", auth), ("/v1/timeline?limit=0", auth),
        ("/v1/timeline?limit=abc", auth), ("/v1/timeline?limit=%2B3", auth),
        ("/v1/timeline?limit=1&limit=2", auth), ("/v1/timeline?limit=", auth),
        ("/v1/timeline?cursor=garbage!", auth), (f"/v1/timeline?cursor={long_cursor}", auth),
        ("/v1/timeline?cursor=", auth), ("/v1/timeline?limit=0&cursor=garbage!", {}),
        ("/v1/timeline", {}), ("/v1/timeline", {"Authorization": "Bearer nope"}),
        ("/v1/timeline", {"Authorization": "Basic x"}),
        ("/v1/timeline", {**auth, "X-Min-Position": "12a"}),
        ("/v1/timeline", {**auth, "X-Min-Position": "-1"}),
        (f"/v1/users/{me}", {}), (f"/v1/users/{me}", auth), ("/v1/users/nobody", {}),
        ("/v1/users/me", auth), ("/v1/users/me", {}),
        (f"/v1/users/{me}/photos?limit=1", auth), (f"/v1/users/{me}/followers", {}),
        (f"/v1/photos/{photo}", {}), (f"/v1/photos/{photo}", auth),
        (f"/v1/photos/{photo}", {"Authorization": "Bearer nope"}), ("/v1/photos/none", auth),
        (f"/v1/photos/{photo}/comments?limit=2", {}),
        ("/v1/search/users?q=fast", {}), ("/v1/search/users?q=", {}),
        ("/v1/search/users", {}), (f"/v1/search/users?q={'x' * 201}", {}),
        ("/v1/search/users?q=a&q=b", {}), ("/v1/search/photos?q=sun", auth),
        ("/v1/search/hashtags?q=su", {}), ("/v1/notifications", auth),
        ("/v1/notifications?limit=x", auth), ("/healthz", {}), ("/readyz", {}),
        ("/healthz", auth), ("/v1/nowhere", {}), ("/v1/timeline/", auth),
        (f"/v1/users/{me}/", {}), ("/docs", {}), ("/openapi.json", {}),
        *_blocked_requests(ids),
        # A private account: its header for all, its content for no stranger.
        (f"/v1/users/{ids['private']}", {}), (f"/v1/users/{ids['private']}", auth),
        (f"/v1/users/{ids['private']}/photos", {}), (f"/v1/users/{ids['private']}/photos", auth),
        (f"/v1/users/{ids['private']}/followers", auth),
        (f"/v1/photos/{ids['private_photo']}", {}), (f"/v1/photos/{ids['private_photo']}", auth),
        (f"/v1/photos/{ids['private_photo']}/comments", auth),
        ("/v1/search/photos?q=hidden", auth), ("/v1/search/hashtags?q=hid", auth),
        ("/v1/users/me/follow-requests", auth), ("/v1/users/me/follow-requests", {}),
    ]


def _blocked_requests(ids: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """The reads of someone the user blocked (404s, filtered lists) and the user's own
    lists of blocks and mutes: the rules of readapi/blocking.py hold on both paths."""
    me, photo = ids["user"], ids["photo"]
    shut_out = {"Authorization": f"Bearer {ids['blocked_token']}"}
    auth = {"Authorization": f"Bearer {ids['token']}"}
    return [(f"/v1/users/{me}", shut_out), (f"/v1/users/{me}/photos", shut_out),
            (f"/v1/photos/{photo}", shut_out), (f"/v1/photos/{photo}/comments", shut_out),
            (f"/v1/users/{me}/followers", shut_out), ("/v1/search/users?q=fast", shut_out),
            ("/v1/search/photos?q=sun", shut_out), ("/v1/timeline", shut_out),
            ("/v1/notifications", shut_out), (f"/v1/users/{ids['blocked']}", auth),
            ("/v1/users/me/blocks", auth), ("/v1/users/me/mutes?limit=1", auth),
            ("/v1/users/me/blocks", {})]


def _answers(settings: Any, ids: dict[str, str]) -> list[tuple[Any, ...]]:
    with TestClient(create_embedded_app(settings)) as client:
        answers = []
        for path, headers in _requests(ids):
            response = client.get(path, headers=headers)
            answers.append((path, response.status_code, response.content,
                            [(name, response.headers.get(name)) for name in COMPARED_HEADERS],
                            "x-request-id" in response.headers))
        # The same requests counted under the same labels (route template, status).
        counts = sorted(line for line in client.get("/metrics").text.splitlines()
                        if line.startswith("photoshare_http_request_duration_seconds_count"))
        answers.append(("/metrics", counts))
        return answers


def test_the_fast_path_answers_as_fastapi_does(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = cheap_settings(tmp_path)
    with TestClient(create_embedded_app(settings)) as client:
        account = register(client, "fast_path_user", display_name="Fäst Path 📷")
        other = register(client)
        client.put(f"/v1/users/me/following/{other.user_id}", headers=account.auth)
        post_photo(client, other, caption="first #sun")
        photo = post_photo(client, account, caption="sun and sea #sun #sea ünïcode")
        shut_out = register(client)
        client.put(f"/v1/users/me/mutes/{other.user_id}", headers=account.auth)
        client.put(f"/v1/users/me/blocks/{shut_out.user_id}", headers=account.auth)
        private = register(client)
        hidden = post_photo(client, private, caption="hidden #hidden")
        client.patch("/v1/users/me", headers=private.auth, json={"private": True})
        client.put(f"/v1/users/me/following/{private.user_id}", headers=account.auth)
        liked = client.put(f"/v1/photos/{photo['photo_id']}/likes/me", headers=account.auth)
        ids = {"user": account.user_id, "photo": photo["photo_id"], "token": account.token,
               "position": liked.headers["X-Event-Position"], "blocked": shut_out.user_id,
               "blocked_token": shut_out.token, "private": private.user_id,
               "private_photo": hidden["photo_id"]}
    fast = _answers(settings, ids)
    monkeypatch.setattr(routing, "FAST_PATH", False)
    standard = _answers(settings, ids)
    assert [a[:2] for a in fast] == [a[:2] for a in standard]
    for one, other in zip(fast, standard):
        assert one == other, one[0]
    # The odd requests were refused, the ordinary ones served.
    statuses = dict((a[0], a[1]) for a in fast)
    assert statuses["/v1/timeline?limit=1"] == 200
    assert statuses["/v1/timeline?limit=0"] == 422
    assert statuses["/v1/search/users?q=a&q=b"] == 200
    shut_out = [a for a in fast if a[0] == f"/v1/photos/{ids['photo']}" and a[1] == 404]
    assert shut_out, "the blocked person's read of the blocker's photo was answered 404"
    assert statuses[f"/v1/users/{ids['private']}/photos"] == 403
    assert statuses[f"/v1/photos/{ids['private_photo']}"] == 403
    assert statuses[f"/v1/users/{ids['private']}"] == 200


def test_the_hot_read_routes_take_the_fast_path() -> None:
    from photoshare.readapi.routes import photos, search, timeline, users
    planned = {route.path for module in (timeline, users, photos, search)
               for route in module.router.routes
               if routing._plan(route.endpoint.__wrapped__, route.path) is not None}
    assert {"/v1/timeline", "/v1/users/{user_id}", "/v1/photos/{photo_id}",
            "/v1/search/users", "/v1/users/me"} <= planned
    from photoshare.readapi.routes import people_controls
    assert all(routing._plan(route.endpoint.__wrapped__, route.path) is not None
               for route in people_controls.router.routes)
