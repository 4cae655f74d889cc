"""Hardening over HTTP: invisible characters are not stored, redirects never carry the
Host header, and one user cannot hold more than `max_streams_per_user` live streams."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from photoshare.infra.roots.embedded import create_embedded_app
from photoshare.infra.settings import Settings
from photoshare.streams.runner import Notice
from support.embedded import cheap_settings, post_photo, register
from support.threaded import served

RLO, PDF, ZWSP = "\u202e", "\u202c", "\u200b"
FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467"
STREAM = "/v1/notifications/stream"


# --- bidi controls and invisible characters -------------------------------------------


def test_a_bio_and_a_comment_are_stored_without_a_direction_override(client: TestClient) -> None:
    ann = register(client, "ann_rlo", display_name=f"Ann{ZWSP}", bio=f"hi{RLO}gpj.exe{PDF}")
    profile = client.get("/v1/users/me", headers=ann.auth).json()
    assert (profile["display_name"], profile["bio"]) == ("Ann", "higpj.exe")

    changed = client.patch("/v1/users/me", headers=ann.auth,
                           json={"bio": f"{RLO}new bio {FAMILY}", "location": f"{ZWSP}Oslo"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["bio"], changed.json()["location"]) == (f"new bio {FAMILY}", "Oslo")

    photo_id = post_photo(client, ann, caption=f"{RLO}sunset")["photo_id"]
    added = client.post(f"/v1/photos/{photo_id}/comments", headers=ann.auth,
                        json={"text": f"nice{RLO} shot {FAMILY}"})
    assert added.status_code == 201, added.text
    position = added.headers["X-Event-Position"]
    comments = client.get(f"/v1/photos/{photo_id}/comments",
                          headers={**ann.auth, "X-Min-Position": position}).json()["items"]
    assert [c["text"] for c in comments] == [f"nice shot {FAMILY}"]
    photo = client.get(f"/v1/photos/{photo_id}", headers=ann.auth).json()
    assert photo["caption"] == "sunset"


def test_a_comment_of_only_a_zero_width_space_is_refused_as_empty(client: TestClient) -> None:
    ann = register(client, "ann_zwsp")
    photo_id = post_photo(client, ann)["photo_id"]
    response = client.post(f"/v1/photos/{photo_id}/comments", headers=ann.auth,
                           json={"text": ZWSP * 3})
    assert response.status_code == 422, response.text
    assert "must not be empty" in response.text
    blank = client.patch("/v1/users/me", headers=ann.auth, json={"display_name": "\u3164"})
    assert blank.status_code == 422, blank.text


# --- redirects ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "location"), [
    ("GET", "/healthz/", "/healthz"),
    ("GET", "/v1/users/me/?a=1&b=%2F", "/v1/users/me?a=1&b=%2F"),
    ("POST", "/v1/users/", "/v1/users"),
    ("GET", "/v1/timeline/", "/v1/timeline"),
])
def test_a_trailing_slash_redirect_is_relative_whatever_the_host(
        client: TestClient, method: str, path: str, location: str) -> None:
    for host in ("evil.example", "evil.example:8443", "evil.example/x"):
        response = client.request(method, path, headers={"Host": host},
                                  follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"] == location
        assert "evil" not in response.headers["location"]


@pytest.mark.parametrize("path", ["//healthz/", "//evil.example/", "/\\evil.example/",
                                  "/nothing-here/", "/"])
def test_no_redirect_to_another_host_or_to_nowhere(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code != 307
    assert "location" not in response.headers


def test_routes_still_match_and_405_still_wins(client: TestClient) -> None:
    assert client.get("/healthz", follow_redirects=False).status_code == 200
    assert client.put("/v1/users", follow_redirects=False).status_code == 405


# --- the cap on open live streams -----------------------------------------------------


def http(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=5.0))


def wait_until(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def open_stream(stack: ExitStack, base_url: str, token: str) -> Iterator[str]:
    """An open stream on a client of its own, read up to its first event (the server
    holds it from then on); its lines from there. Closed, with its client, by `stack`,
    or once its lines are dropped (closing them closes the connection)."""
    api = stack.enter_context(http(base_url))
    response = stack.enter_context(api.stream("GET", f"{STREAM}?access_token={token}"))
    assert response.status_code == 200
    lines = response.iter_lines()
    assert next(lines) == "retry: 3000"
    return lines


def assert_refused(api: httpx.Client, token: str) -> None:
    response = api.get(f"{STREAM}?access_token={token}")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_streams"
    assert int(response.headers["Retry-After"]) > 0


def test_the_cap_defaults_to_five_and_reaches_the_read_services(tmp_path: Path) -> None:
    assert Settings().max_streams_per_user == 5
    app = create_embedded_app(cheap_settings(tmp_path / "data", max_streams_per_user=3))
    assert app.state.read.max_streams_per_user == 3


def test_one_stream_over_the_cap_is_429_until_one_closes(tmp_path: Path) -> None:
    app = create_embedded_app(cheap_settings(tmp_path / "data", max_streams_per_user=3))
    slots = app.state.read.stream_slots
    with served(app) as base_url, http(base_url) as api:
        ann, bob = register(api, "ann_cap"), register(api, "bob_cap")
        with ExitStack() as streams:
            first = open_stream(streams, base_url, ann.token)
            with ExitStack() as others:
                held = [open_stream(others, base_url, ann.token) for _ in range(2)]
                assert slots.held(ann.user_id) == 3
                assert_refused(api, ann.token)
                assert_refused(api, ann.token)  # a refusal takes no slot
                assert slots.held(ann.user_id) == 3
                with ExitStack() as bobs:
                    held.append(open_stream(bobs, base_url, bob.token))  # his own slots

                # The open streams still work while more are refused.
                app.state.read.live.publish([Notice(user_id=ann.user_id, kind="timeline",
                                                    data={"position": 7})])
                assert "event: timeline" in until_blank(first)
                assert len(held) == 3

            # Two clients went away: their slots come back, and new streams are taken.
            assert wait_until(lambda: slots.held(ann.user_id) == 1)
            with ExitStack() as again:
                held = [open_stream(again, base_url, ann.token) for _ in range(2)]
                assert_refused(api, ann.token)
                assert slots.held(ann.user_id) == 3
        assert wait_until(lambda: slots.held(ann.user_id) == 0)
        assert wait_until(lambda: slots.held(bob.user_id) == 0)


def until_blank(lines: Iterator[str]) -> list[str]:
    """The lines of the next event, skipping keep-alives."""
    event: list[str] = []
    for line in lines:
        if line == "" and event:
            return event
        if line and not line.startswith(":"):
            event.append(line)
    raise AssertionError("the stream ended")


class _BrokenFeed:
    """A feed that hands the stream one notice it cannot render (its stream then fails
    with an error), or that fails at once."""

    def __init__(self, fail_at_once: bool) -> None:
        self.fail_at_once = fail_at_once

    async def subscribe(self, user_id: str) -> AsyncIterator[Notice]:
        if self.fail_at_once:
            raise ConnectionError("the feed is gone")
        yield Notice(user_id=user_id, kind="notification", data={"not": "a notification"})


@pytest.mark.parametrize("fail_at_once", [True, False], ids=["feed-fails", "render-fails"])
def test_a_stream_that_fails_gives_its_slot_back(tmp_path: Path, fail_at_once: bool) -> None:
    app = create_embedded_app(cheap_settings(tmp_path / "data", max_streams_per_user=1))
    with served(app) as base_url, http(base_url) as api:
        ann = register(api, "ann_broken")
        app.state.read = dataclasses.replace(app.state.read, live=_BrokenFeed(fail_at_once))
        slots = app.state.read.stream_slots
        for _ in range(3):  # more than the cap, one after the other
            try:
                with api.stream("GET", f"{STREAM}?access_token={ann.token}") as response:
                    assert response.status_code == 200
                    for _line in response.iter_lines():
                        pass
            except httpx.RemoteProtocolError:
                pass  # the server broke the connection off: the error came mid-stream
            assert wait_until(lambda: slots.held(ann.user_id) == 0)
