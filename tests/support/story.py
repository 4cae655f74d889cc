"""The whole story through HTTP, told against any base URL: register, follow, post, read
your own writes, like, comment, counts, search, notifications and their live stream,
paging, unfollow and delete."""

from __future__ import annotations

import io
import json
import queue
import threading
from typing import Any

import httpx
from PIL import Image
from support.embedded import image_bytes


class Person:
    def __init__(self, api: httpx.Client, username: str, display_name: str) -> None:
        self.api = api
        created = api.post("/v1/users", json={
            "username": username, "email": f"{username}@story.example",
            "password": "story password", "display_name": display_name})
        assert created.status_code == 201, created.text
        self.user_id = created.json()["user_id"]
        self.position = int(created.headers["X-Event-Position"])
        session = api.post("/v1/sessions", json={"login": username, "password": "story password"})
        self.token = session.json()["access_token"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def write(self, method: str, path: str, status: int, **kwargs: Any) -> httpx.Response:
        response = self.api.request(method, path, headers=self.auth, **kwargs)
        assert response.status_code == status, response.text
        self.position = max(self.position, int(response.headers["X-Event-Position"]))
        return response

    def read(self, path: str) -> Any:
        """Read your own writes: wait for the views to pass this person's last write."""
        response = self.api.get(path, headers={**self.auth,
                                               "X-Min-Position": str(self.position)})
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Read-Position"]) >= self.position
        assert "X-Read-Stale" not in response.headers
        return response.json()

    def post(self, caption: str, tagged: str = "") -> str:
        return self.upload(caption, tagged)["photo_id"]

    def upload(self, caption: str, tagged: str = "", **form: str) -> dict[str, Any]:
        """Post an 800x600 photo (`form`: more fields, e.g. alt_text); the upload's answer."""
        response = self.write("POST", "/v1/photos", 201, data={"caption": caption,
                                                               "tagged": tagged, **form},
                              files={"file": ("p.jpg", image_bytes(), "image/jpeg")})
        return response.json()

    def pages(self, path: str, limit: int) -> list[dict[str, Any]]:
        items, cursor = [], None
        while True:
            url = f"{path}?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = self.read(url)
            assert len(page["items"]) <= limit
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


# An 800x600 photo (4:3, inside the feed's 4:5..1.91:1: not cropped) as each variant.
STORY_PHOTO_SIZES = {"large": (800, 600), "medium": (640, 480), "square": (320, 320),
                     "feed": (800, 600), "feed_small": (640, 480)}


def assert_sizes_are_served(api: httpx.Client, uploaded: dict[str, Any],
                            shown: list[dict[str, Any]]) -> None:
    """The upload's answer gives each variant's URL, size and the placeholder; the photo
    shapes read back say the same, and each image served has the size it is said to."""
    variants = uploaded["variants"]
    assert {name: (v["width"], v["height"]) for name, v in variants.items()} == \
        STORY_PHOTO_SIZES
    assert {name: v["url"] for name, v in variants.items()} == uploaded["urls"]
    assert isinstance(uploaded["placeholder"], str) and len(uploaded["placeholder"]) == 28
    for photo in shown:
        assert (photo["variants"], photo["placeholder"], photo["urls"]) == \
            (variants, uploaded["placeholder"], uploaded["urls"])
    for variant in variants.values():
        response = api.get(variant["url"], follow_redirects=True)
        assert response.status_code == 200
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.size == (variant["width"], variant["height"])


def listen(base: str, token: str, received: queue.Queue, ready: threading.Event) -> None:
    with httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=30)) as client:
        with client.stream("GET", f"/v1/notifications/stream?access_token={token}") as stream:
            ready.set()
            event: dict[str, str] = {}
            for line in stream.iter_lines():
                if line.startswith(("event:", "data:")):
                    key, _, value = line.partition(":")
                    event[key] = value.strip()
                elif not line and "data" in event:
                    received.put(event)
                    event = {}
                    if received.qsize() >= 1:
                        return


def tell_the_story(base: str) -> None:
    """The story against a running product at `base` (either profile)."""
    with httpx.Client(base_url=base, timeout=40) as api:
        alice = Person(api, "alice", "Alice Liddell")
        bob = Person(api, "bob", "Bob Marley")
        zoe = Person(api, "zoe", "Zoë Émilie")

        alice.write("PUT", f"/v1/users/me/following/{bob.user_id}", 204)
        uploaded = bob.upload("#Sunset at the beach", tagged="alice",
                              alt_text="The sun sets over a calm sea")
        sunset = uploaded["photo_id"]
        assert uploaded["alt_text"] == "The sun sets over a calm sea"
        alice.position = bob.position
        timeline = alice.read("/v1/timeline")
        assert [p["photo_id"] for p in timeline["items"]] == [sunset]
        assert timeline["items"][0]["owner"]["username"] == "bob"
        assert timeline["items"][0]["hashtags"] == ["sunset"]
        assert timeline["items"][0]["alt_text"] == "The sun sets over a calm sea"
        # Your own post is on your own Home too.
        assert [p["photo_id"] for p in bob.read("/v1/timeline")["items"]] == [sunset]

        alice.write("PUT", f"/v1/photos/{sunset}/likes/me", 204)
        alice.write("POST", f"/v1/photos/{sunset}/comments", 201, json={"text": "gorgeous"})
        photo = alice.read(f"/v1/photos/{sunset}")
        assert (photo["likes"], photo["comments"], photo["liked_by_me"]) == (1, 1, True)
        assert_sizes_are_served(api, uploaded, [photo, timeline["items"][0]])
        assert [t["username"] for t in photo["tagged"]] == ["alice"]
        comments = alice.read(f"/v1/photos/{sunset}/comments")["items"]
        assert [(c["author"]["username"], c["text"]) for c in comments] == [("alice", "gorgeous")]

        bob_profile = alice.read(f"/v1/users/{bob.user_id}")
        assert (bob_profile["followers"], bob_profile["following"], bob_profile["photos"]) == (1, 0, 1)
        assert alice.read("/v1/users/by-username/ALICE")["following"] == 1
        followers = alice.read(f"/v1/users/{bob.user_id}/followers")["items"]
        assert [f["username"] for f in followers] == ["alice"]

        assert [u["username"] for u in alice.read("/v1/search/users?q=zoe")["items"]] == ["zoe"]
        assert [u["username"] for u in alice.read("/v1/search/users?q=emil")["items"]] == ["zoe"]
        # Bob describes his photo better: only he may, and every shape serves it.
        better = "The sun sets over a calm sea; Alice waves from the sand"
        refused = api.patch(f"/v1/photos/{sunset}", headers=zoe.auth, json={"alt_text": "x"})
        assert refused.status_code == 403, refused.text
        assert bob.write("PATCH", f"/v1/photos/{sunset}", 200,
                         json={"alt_text": better}).json()["alt_text"] == better
        alice.position = bob.position
        assert alice.read(f"/v1/photos/{sunset}")["alt_text"] == better
        assert [p["alt_text"] for p in alice.read("/v1/search/photos?q=beach")["items"]] == [
            better]
        for q in ("%23sunset", "beach", "%23SUNSET", "%23suns"):
            assert [p["photo_id"] for p in alice.read(f"/v1/search/photos?q={q}")["items"]] == [
                sunset]
        assert alice.read("/v1/search/hashtags?q=%23Sun") == {
            "items": [{"tag": "sunset", "photos": 1}]}

        bob.position = alice.position
        kinds = sorted((n["type"], n["actor"]["username"])
                       for n in bob.read("/v1/notifications")["items"])
        assert kinds == [("comment", "alice"), ("follow", "alice"), ("like", "alice")]
        tags = alice.read("/v1/notifications")["items"]
        assert [(n["type"], n["photo_id"], n["read"]) for n in tags] == [("tag", sunset, False)]
        alice.write("POST", "/v1/notifications/read", 204,
                    json={"up_to": tags[0]["notification_id"]})
        assert [n["read"] for n in alice.read("/v1/notifications")["items"]] == [True]

        # The live stream: Zoë likes Bob's photo while Bob listens.
        received: queue.Queue = queue.Queue()
        ready = threading.Event()
        listener = threading.Thread(target=listen, args=(base, bob.token, received, ready),
                                    daemon=True)
        listener.start()
        assert ready.wait(10)
        zoe.write("PUT", f"/v1/photos/{sunset}/likes/me", 204)
        event = received.get(timeout=10)
        assert event["event"] == "notification"
        pushed = json.loads(event["data"])
        assert (pushed["type"], pushed["actor"]["username"]) == ("like", "zoe")
        listener.join(timeout=10)

        # Paging over several pages: no gaps, no repeats, newest first.
        more = [bob.post(f"photo number {n}") for n in range(5)]
        alice.position = bob.position
        walked = [p["photo_id"] for p in alice.pages("/v1/timeline", limit=2)]
        assert walked == [*reversed(more), sunset]
        mine = [p["photo_id"] for p in bob.pages(f"/v1/users/{bob.user_id}/photos", limit=4)]
        assert mine == walked
        assert [p["photo_id"] for p in bob.pages("/v1/timeline", limit=4)] == walked

        # Delete removes everywhere; unfollow empties the timeline.
        bob.write("DELETE", f"/v1/photos/{more[-1]}", 204)
        alice.position = bob.position
        assert more[-1] not in [p["photo_id"] for p in alice.read("/v1/timeline")["items"]]
        assert api.get(f"/v1/photos/{more[-1]}",
                       headers={"X-Min-Position": str(bob.position)}).status_code == 404
        assert alice.read(f"/v1/users/{bob.user_id}")["photos"] == 5
        alice.write("DELETE", f"/v1/users/me/following/{bob.user_id}", 204)
        assert alice.read("/v1/timeline")["items"] == []
        bob.position = alice.position  # his own posts stay on his Home, but the deleted one
        assert [p["photo_id"] for p in bob.pages("/v1/timeline", limit=10)] == [
            *reversed(more[:-1]), sunset]
        assert alice.read(f"/v1/users/{bob.user_id}")["followers"] == 0
