"""The happy paths of every write endpoint of API.md, the media they produce, and the events
they append (with correlation ids, actors, and no private data in the public log)."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image

from support.embedded import Account, event_store, head, image_bytes, post_photo, register

IMMUTABLE = "public, max-age=31536000, immutable"
PHOTO_VARIANTS = {"large": 1080, "medium": 640, "square": 320, "feed": 1080, "feed_small": 640}

# --- helpers ----------------------------------------------------------------------------


def position(response: httpx.Response) -> int:
    """The X-Event-Position of a successful write."""
    value = response.headers.get("X-Event-Position")
    assert value is not None and value.isdigit(), dict(response.headers)
    return int(value)


def write(client: TestClient, method: str, url: str, status: int, **kwargs: Any
          ) -> httpx.Response:
    """A write that must succeed with `status` and report the log head it reached."""
    response = client.request(method, url, **kwargs)
    assert response.status_code == status, response.text
    assert position(response) == head(client)
    return response


def appends(client: TestClient, method: str, url: str, status: int, **kwargs: Any
            ) -> httpx.Response:
    """A write that must append at least one event."""
    before = head(client)
    response = write(client, method, url, status, **kwargs)
    assert position(response) > before
    return response


def changes_nothing(client: TestClient, method: str, url: str, status: int, **kwargs: Any
                    ) -> httpx.Response:
    """A write that must succeed without appending (an idempotent repeat)."""
    before = head(client)
    response = write(client, method, url, status, **kwargs)
    assert head(client) == before
    assert position(response) == before
    return response


def new_events(client: TestClient, after: int) -> list[str]:
    return [e.event_type for e in event_store(client).read_log(after)]


def fetch_media(client: TestClient, url: str) -> Image.Image:
    """GET a media URL: an immutable, cacheable JPEG."""
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == IMMUTABLE
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG"
    return image


def jpeg_with_gps(size: tuple[int, int] = (1600, 1200)) -> bytes:
    """A JPEG carrying camera and GPS EXIF tags, as a phone would upload it."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.Model] = "Tracker 3000"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (52.0, 31.0, 12.0),
        ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (13.0, 24.0, 36.0),
    }
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, "JPEG", exif=exif)
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo), "no GPS"
    return data


def assert_no_metadata(client: TestClient, url: str) -> None:
    raw = client.get(url).content
    image = fetch_media(client, url)
    assert dict(image.getexif()) == {}
    assert b"Exif\x00\x00" not in raw and b"SpyCam" not in raw and b"Tracker" not in raw
    assert not {"exif", "comment", "xmp"} & set(image.info)


def comment(client: TestClient, account: Account, photo_id: str, text: str = "nice") -> str:
    response = appends(client, "POST", f"/v1/photos/{photo_id}/comments", 201,
                       headers=account.auth, json={"text": text})
    return response.json()["comment_id"]


def is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


# --- accounts -----------------------------------------------------------------------------


def test_register_answers_201_with_id_and_username(client: TestClient) -> None:
    username = f"New_{uuid4().hex[:8]}"
    before = head(client)
    response = appends(client, "POST", "/v1/users", 201, json={
        "username": username, "email": f"{username}@example.com", "password": "s3cret pass",
        "display_name": "New Person", "bio": "hello", "location": "Lisbon", "age": 30})
    body = response.json()
    assert set(body) == {"user_id", "username"}
    assert body["username"] == username and is_uuid(body["user_id"])
    assert new_events(client, before) == ["UserRegistered"]


def test_register_with_only_the_required_fields(client: TestClient) -> None:
    username = f"min_{uuid4().hex[:8]}"
    appends(client, "POST", "/v1/users", 201, json={
        "username": username, "email": f"{username}@example.com", "password": "s3cret pass",
        "display_name": "Min"})


def test_login_answers_a_bearer_session(client: TestClient) -> None:
    account = register(client)
    before = head(client)
    response = client.post("/v1/sessions",
                           json={"login": account.username, "password": account.password})
    assert response.status_code == 200, response.text
    session = response.json()
    assert set(session) == {"access_token", "token_type", "expires_in", "user_id"}
    assert session["token_type"] == "bearer"
    assert session["user_id"] == account.user_id
    assert session["expires_in"] == client.app.state.settings.token_ttl_seconds > 0
    assert head(client) == before, "logging in records nothing"
    me = client.patch("/v1/users/me", json={},
                      headers={"Authorization": f"Bearer {session['access_token']}"})
    assert me.status_code == 200 and me.json()["user_id"] == account.user_id


@pytest.mark.parametrize("spelling", ["username", "USERNAME", "email", "EMAIL", "Mixed"])
def test_login_by_username_or_email_ignores_case(client: TestClient, spelling: str) -> None:
    account = register(client, f"Login_{uuid4().hex[:8]}",
                       email=f"Login.{uuid4().hex[:8]}@Example.com")
    login = {"username": account.username, "USERNAME": account.username.upper(),
             "email": account.email, "EMAIL": account.email.upper(),
             "Mixed": account.email.swapcase()}[spelling]
    response = client.post("/v1/sessions", json={"login": login, "password": account.password})
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == account.user_id


# --- profile and avatar -----------------------------------------------------------------


def test_update_profile_answers_the_new_profile(client: TestClient) -> None:
    account = register(client, bio="old bio", location="Porto", age=20)
    before = head(client)
    response = appends(client, "PATCH", "/v1/users/me", 200, headers=account.auth, json={
        "display_name": "  Zoe\u0301 \U0001f4f8 ", "bio": "line one\nline two",
        "location": "Oslo", "age": 31})
    assert response.json() == {
        "user_id": account.user_id, "username": account.username,
        "display_name": "Zo\u00e9 \U0001f4f8", "bio": "line one\nline two",
        "location": "Oslo", "age": 31, "avatar_url": None, "private": False}
    assert new_events(client, before) == ["ProfileUpdated"]


def test_update_profile_changes_only_the_fields_sent(client: TestClient) -> None:
    account = register(client, bio="keep me", location="Rome", age=44)
    response = appends(client, "PATCH", "/v1/users/me", 200, headers=account.auth,
                       json={"display_name": "Renamed"})
    profile = response.json()
    assert (profile["display_name"], profile["bio"], profile["location"], profile["age"]) == (
        "Renamed", "keep me", "Rome", 44)


def test_update_profile_with_null_clears_optional_fields(client: TestClient) -> None:
    account = register(client, bio="bio", location="Rome", age=44)
    response = appends(client, "PATCH", "/v1/users/me", 200, headers=account.auth,
                       json={"bio": None, "location": None, "age": None})
    profile = response.json()
    assert (profile["bio"], profile["location"], profile["age"]) == ("", "", None)


@pytest.mark.parametrize("body", [{}, {"bio": "same"}], ids=["empty", "unchanged"])
def test_update_profile_that_changes_nothing_appends_nothing(client: TestClient,
                                                             body: dict) -> None:
    account = register(client, bio="same")
    response = changes_nothing(client, "PATCH", "/v1/users/me", 200, headers=account.auth,
                               json=body)
    assert response.json()["bio"] == "same"


def test_change_avatar_serves_the_new_avatar(client: TestClient) -> None:
    account = register(client)
    before = head(client)
    response = appends(client, "PUT", "/v1/users/me/avatar", 200, headers=account.auth,
                       files={"file": ("me.png", image_bytes("PNG", (500, 400)), "image/png")})
    avatar_url = response.json()["avatar_url"]
    assert avatar_url.startswith("/media/")
    avatar = fetch_media(client, avatar_url)
    assert avatar.size[0] == avatar.size[1] <= 320
    assert new_events(client, before) == ["AvatarChanged"]
    profile = client.patch("/v1/users/me", headers=account.auth, json={}).json()
    assert profile["avatar_url"] == avatar_url


def test_avatar_variants_carry_no_exif(client: TestClient) -> None:
    account = register(client)
    response = appends(client, "PUT", "/v1/users/me/avatar", 200, headers=account.auth,
                       files={"file": ("me.jpg", jpeg_with_gps(), "image/jpeg")})
    for url in {response.json()["avatar_url"], *response.json().get("avatar_urls", {}).values()}:
        assert_no_metadata(client, url)


# --- photos -------------------------------------------------------------------------------


def test_post_photo_answers_201_with_servable_variants(client: TestClient) -> None:
    account = register(client)
    before = head(client)
    response = appends(client, "POST", "/v1/photos", 201, headers=account.auth,
                       data={"caption": "Golden hour #sunset", "location": "Lisbon"},
                       files={"file": ("p.jpg", image_bytes(size=(1600, 1200)), "image/jpeg")})
    body = response.json()
    assert set(body) == {"photo_id", "urls", "variants", "placeholder", "alt_text"}
    assert is_uuid(body["photo_id"])
    assert set(body["urls"]) == set(PHOTO_VARIANTS)
    sizes = {name: fetch_media(client, url).size for name, url in body["urls"].items()}
    assert sizes == {"large": (1080, 810), "medium": (640, 480), "square": (320, 320),
                     "feed": (1080, 810), "feed_small": (640, 480)}
    assert new_events(client, before) == ["PhotoPosted"]


def test_posting_a_png_gives_jpeg_variants(client: TestClient) -> None:
    account = register(client)
    photo = post_photo(client, account, image_bytes("PNG", (300, 200)))
    for url in photo["urls"].values():
        assert fetch_media(client, url).size[0] <= 300  # never upscaled


def test_photo_variants_carry_no_exif(client: TestClient) -> None:
    account = register(client)
    photo = post_photo(client, account, jpeg_with_gps())
    for url in photo["urls"].values():
        assert_no_metadata(client, url)


def test_post_photo_with_tags(client: TestClient) -> None:
    owner, bob, carol = register(client), register(client), register(client)
    before = head(client)
    post_photo(client, owner, caption="with friends",
               tagged=f"@{bob.username}, {carol.username.upper()},{bob.username}")
    posted = event_store(client).read_log(before)[-1]
    assert posted.event_type == "PhotoPosted"
    assert posted.data["tagged_user_ids"] == [bob.user_id, carol.user_id]


def test_delete_photo_answers_204(client: TestClient) -> None:
    account = register(client)
    photo_id = post_photo(client, account)["photo_id"]
    before = head(client)
    response = appends(client, "DELETE", f"/v1/photos/{photo_id}", 204, headers=account.auth)
    assert response.content == b""
    assert new_events(client, before) == ["PhotoDeleted"]


# --- follows, likes, comments ---------------------------------------------------------------


def test_follow_and_unfollow_are_idempotent(client: TestClient) -> None:
    fan, star = register(client), register(client)
    url = f"/v1/users/me/following/{star.user_id}"
    first = appends(client, "PUT", url, 204, headers=fan.auth)
    again = changes_nothing(client, "PUT", url, 204, headers=fan.auth)
    assert position(again) >= position(first)
    appends(client, "DELETE", url, 204, headers=fan.auth)
    changes_nothing(client, "DELETE", url, 204, headers=fan.auth)
    appends(client, "PUT", url, 204, headers=fan.auth)  # following again is a new fact


def test_unfollowing_someone_never_followed_changes_nothing(client: TestClient) -> None:
    fan, star = register(client), register(client)
    changes_nothing(client, "DELETE", f"/v1/users/me/following/{star.user_id}", 204,
                    headers=fan.auth)


def test_like_and_unlike_are_idempotent(client: TestClient) -> None:
    owner, fan = register(client), register(client)
    url = f"/v1/photos/{post_photo(client, owner)['photo_id']}/likes/me"
    first = appends(client, "PUT", url, 204, headers=fan.auth)
    again = changes_nothing(client, "PUT", url, 204, headers=fan.auth)
    assert position(again) >= position(first)
    appends(client, "DELETE", url, 204, headers=fan.auth)
    changes_nothing(client, "DELETE", url, 204, headers=fan.auth)
    appends(client, "PUT", url, 204, headers=fan.auth)


def test_unliking_a_photo_never_liked_changes_nothing(client: TestClient) -> None:
    owner, fan = register(client), register(client)
    photo_id = post_photo(client, owner)["photo_id"]
    changes_nothing(client, "DELETE", f"/v1/photos/{photo_id}/likes/me", 204, headers=fan.auth)


def test_owners_can_like_their_own_photos(client: TestClient) -> None:
    owner = register(client)
    photo_id = post_photo(client, owner)["photo_id"]
    appends(client, "PUT", f"/v1/photos/{photo_id}/likes/me", 204, headers=owner.auth)


def test_comment_answers_201_and_can_be_deleted(client: TestClient) -> None:
    owner, fan = register(client), register(client)
    photo_id = post_photo(client, owner)["photo_id"]
    before = head(client)
    comment_id = comment(client, fan, photo_id, "  Lovely \U0001f60d\nreally  ")
    assert is_uuid(comment_id)
    added = event_store(client).read_log(before)[-1]
    assert added.data["text"] == "Lovely \U0001f60d\nreally"
    response = appends(client, "DELETE", f"/v1/photos/{photo_id}/comments/{comment_id}", 204,
                       headers=fan.auth)
    assert response.content == b""
    assert new_events(client, before) == ["CommentAdded", "CommentDeleted"]


def test_each_comment_is_a_new_one(client: TestClient) -> None:
    owner = register(client)
    photo_id = post_photo(client, owner)["photo_id"]
    assert comment(client, owner, photo_id, "same") != comment(client, owner, photo_id, "same")


def test_positions_increase_strictly_across_appending_writes(client: TestClient) -> None:
    alice, bob = register(client), register(client)
    photo_id = post_photo(client, alice)["photo_id"]
    steps = [
        ("PATCH", "/v1/users/me", 200, alice, {"json": {"bio": "new"}}),
        ("PUT", f"/v1/users/me/following/{alice.user_id}", 204, bob, {}),
        ("PUT", f"/v1/photos/{photo_id}/likes/me", 204, bob, {}),
        ("POST", f"/v1/photos/{photo_id}/comments", 201, bob, {"json": {"text": "hi"}}),
        ("POST", "/v1/photos", 201, alice, {"files": {"file": ("a.jpg", image_bytes(),
                                                              "image/jpeg")}}),
        ("PUT", "/v1/users/me/avatar", 200, alice, {"files": {"file": ("a.jpg", image_bytes(),
                                                                       "image/jpeg")}}),
        ("DELETE", f"/v1/photos/{photo_id}/likes/me", 204, bob, {}),
        ("DELETE", f"/v1/users/me/following/{alice.user_id}", 204, bob, {}),
        ("DELETE", f"/v1/photos/{photo_id}", 204, alice, {}),
    ]
    positions = [position(appends(client, method, url, status, headers=actor.auth, **kwargs))
                 for method, url, status, actor, kwargs in steps]
    assert positions == sorted(set(positions))
    assert positions[-1] == head(client)


# --- media ----------------------------------------------------------------------------------

INVALID_MEDIA_KEYS = {
    "uppercase_hex": "A" * 64 + ".jpg",
    "short": "a" * 63 + ".jpg",
    "long": "a" * 65 + ".jpg",
    "no_extension": "a" * 64,
    "unknown_extension": "a" * 64 + ".exe",
    "uppercase_extension": "a" * 64 + ".JPG",
    "trailing_newline": "a" * 64 + ".jpg%0A",
    "nul": "a" * 64 + ".jpg%00",
    "not_hex": "g" * 64 + ".jpg",
    "dot_dot": "%2E%2E",
    "backslash_traversal": "..%5C..%5Cetc%5Cpasswd",
    "word": "passwd",
}


@pytest.mark.parametrize("key", INVALID_MEDIA_KEYS.values(), ids=INVALID_MEDIA_KEYS.keys())
def test_an_invalid_media_key_is_400(client: TestClient, key: str) -> None:
    response = client.get(f"/media/{key}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_media_key"


@pytest.mark.parametrize("path", ["../etc/passwd", "..%2F..%2Fetc%2Fpasswd",
                                  "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"])
def test_a_traversal_attempt_is_refused(client: TestClient, path: str) -> None:
    # A key with "/" in it never reaches the media route: a 404 from the router is as good.
    response = client.get(f"/media/{path}")
    assert response.status_code in (400, 404), response.text
    assert response.json()["error"]["code"] in ("invalid_media_key", "not_found")
    assert b"root:" not in response.content


def test_an_unknown_but_valid_media_key_is_404(client: TestClient) -> None:
    response = client.get(f"/media/{'0' * 64}.jpg")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "media_not_found"


def test_media_answers_304_to_its_etag(client: TestClient) -> None:
    account = register(client)
    url = post_photo(client, account)["urls"]["square"]
    etag = client.get(url).headers["etag"]
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.content == b""


# --- the event log ----------------------------------------------------------------------


def sign_up(client: TestClient, request_id: str, name: str) -> Account:
    username = f"{name}_{uuid4().hex[:8]}"
    email = f"Private.{uuid4().hex[:8]}@Mail.Example.org"
    password = f"pw-{uuid4().hex}"
    created = client.post("/v1/users", headers={"X-Request-ID": request_id}, json={
        "username": username, "email": email, "password": password, "display_name": name})
    assert created.status_code == 201, created.text
    session = client.post("/v1/sessions", json={"login": email, "password": password})
    return Account(created.json()["user_id"], username, email, password,
                   session.json()["access_token"])


def test_the_event_log_records_who_did_what_for_which_request(client: TestClient) -> None:
    start = head(client)
    alice = sign_up(client, "req-1", "alice")
    bob = sign_up(client, "req-2", "bob")

    def as_(account: Account, request_id: str) -> dict[str, str]:
        return {**account.auth, "X-Request-ID": request_id}

    appends(client, "PATCH", "/v1/users/me", 200, headers=as_(alice, "req-3"),
            json={"bio": "photographer"})
    appends(client, "PUT", "/v1/users/me/avatar", 200, headers=as_(alice, "req-4"),
            files={"file": ("a.jpg", image_bytes(), "image/jpeg")})
    photo = appends(client, "POST", "/v1/photos", 201, headers=as_(alice, "req-5"),
                    data={"caption": "#sunset", "tagged": bob.username},
                    files={"file": ("p.jpg", jpeg_with_gps(), "image/jpeg")})
    photo_id = photo.json()["photo_id"]
    follow = f"/v1/users/me/following/{alice.user_id}"
    appends(client, "PUT", follow, 204, headers=as_(bob, "req-6"))
    changes_nothing(client, "PUT", follow, 204, headers=as_(bob, "req-7"))
    like = f"/v1/photos/{photo_id}/likes/me"
    appends(client, "PUT", like, 204, headers=as_(bob, "req-8"))
    added = appends(client, "POST", f"/v1/photos/{photo_id}/comments", 201,
                    headers=as_(bob, "req-9"), json={"text": "wow"})
    appends(client, "DELETE", f"/v1/photos/{photo_id}/comments/{added.json()['comment_id']}",
            204, headers=as_(alice, "req-10"))
    appends(client, "DELETE", like, 204, headers=as_(bob, "req-11"))
    appends(client, "DELETE", follow, 204, headers=as_(bob, "req-12"))
    appends(client, "DELETE", f"/v1/photos/{photo_id}", 204, headers=as_(alice, "req-13"))

    public = event_store(client).read_log(start, include_internal=False)
    assert [(e.event_type, e.correlation_id, e.actor_id) for e in public] == [
        ("UserRegistered", "req-1", None),
        ("UserRegistered", "req-2", None),
        ("ProfileUpdated", "req-3", alice.user_id),
        ("AvatarChanged", "req-4", alice.user_id),
        ("PhotoPosted", "req-5", alice.user_id),
        ("UserFollowed", "req-6", bob.user_id),
        ("PhotoLiked", "req-8", bob.user_id),
        ("CommentAdded", "req-9", bob.user_id),
        ("CommentDeleted", "req-10", alice.user_id),
        ("PhotoUnliked", "req-11", bob.user_id),
        ("UserUnfollowed", "req-12", bob.user_id),
        ("PhotoDeleted", "req-13", alice.user_id),
    ]
    assert [e.position for e in public] == sorted({e.position for e in public})
    assert_private_data_stays_internal(client, start, [alice, bob])


def assert_private_data_stays_internal(client: TestClient, start: int,
                                       accounts: list[Account]) -> None:
    everything = event_store(client).read_log(start, include_internal=True)
    internal = [e for e in everything if e.event_type in ("EmailClaimed", "PasswordSet")]
    assert len(internal) == 2 * len(accounts), "registration records its private facts"
    hashes = [e.data["password_hash"] for e in internal if e.event_type == "PasswordSet"]
    secrets = [*hashes, "$argon2"]
    for account in accounts:
        secrets += [account.password, account.email.lower(), account.email.split("@")[0]]
    for envelope in event_store(client).read_log(start, include_internal=False):
        text = json.dumps(dataclasses.asdict(envelope), default=str).lower()
        for secret in secrets:
            assert secret.lower() not in text, (envelope.event_type, secret)
        assert not {"email", "password", "password_hash"} & set(envelope.data)


def test_a_write_without_a_request_id_gets_a_generated_correlation_id(client: TestClient
                                                                       ) -> None:
    account = register(client)
    response = appends(client, "PATCH", "/v1/users/me", 200, headers=account.auth,
                       json={"bio": "generated"})
    envelope = event_store(client).read_log(position(response) - 1)[-1]
    assert envelope.correlation_id == response.headers["X-Request-ID"]
    assert is_uuid(envelope.correlation_id)
