"""Bad input, everywhere, gets a clear 4xx JSON error and appends no event.

Every rejected request here is checked three ways (`expect_error`): the status and machine
code, the error shape {"error": {"code", "message"}} with an X-Request-ID and no Python
internals in the body, and an unchanged event log head.
"""

from __future__ import annotations

import base64
import io
import json
import random
import re
import struct
import time
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photoshare.infra.roots.embedded import create_embedded_app
from support.embedded import Account, cheap_settings, head, image_bytes, post_photo, register

# --- helpers ----------------------------------------------------------------------------

# What leaked internals look like: a traceback, a source path, "SomeError: detail", or the
# repr of a Python object.
_LEAK = re.compile(r"Traceback|File \"|site-packages|\b[A-Z]\w*(?:Error|Exception)\b:"
                   r"|object at 0x")

Status = int | tuple[int, ...]


Codes = str | tuple[str, ...] | None


def assert_error(response: httpx.Response, status: Status, code: Codes = None) -> dict[str, Any]:
    """The response is an error of `status` (and `code`) in the API's shape; returns it."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert response.headers.get("X-Request-ID"), "every answer carries a request id"
    assert not _LEAK.search(response.text), f"exception text leaked: {response.text}"
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        codes = code if isinstance(code, tuple) else (code,)
        assert error["code"] in codes, error
    return error


def expect_error(client: TestClient, method: str, url: str, status: Status,
                 code: Codes = None, **kwargs: Any) -> dict[str, Any]:
    """Send a bad request: it must fail with `status`/`code` and append no event."""
    before = head(client)
    response = client.request(method, url, **kwargs)
    error = assert_error(response, status, code)
    assert head(client) == before, "a rejected request appended an event"
    return error


def raw_json(text: str) -> dict[str, Any]:
    """Request kwargs sending `text` verbatim as a JSON body (so "\\ud800" escapes survive)."""
    return {"content": text.encode(), "headers": {"Content-Type": "application/json"}}


def jpeg_file(data: bytes | None = None, name: str = "photo.jpg",
              media_type: str = "image/jpeg") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, image_bytes() if data is None else data, media_type)}


def noisy_image(fmt: str, size: tuple[int, int] = (320, 240)) -> bytes:
    """An image of random pixels: it compresses badly, so half of it is really half."""
    pixels = random.Random(7).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, fmt)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose IHDR claims `width` x `height` 1-bit pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose SOF0 header is patched to claim `width` x `height`."""
    data = bytearray(image_bytes(size=(16, 16)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bilevel_bomb() -> bytes:
    """A real 8000x8000 1-bit PNG: a few KiB on the wire, 64 megapixels decoded (over the
    product's 50 MP limit, under Pillow's own bomb threshold)."""
    buffer = io.BytesIO()
    Image.new("1", (8_000, 8_000)).save(buffer, "PNG")
    return buffer.getvalue()


def multipart(boundary: str, file_bytes: bytes, **fields: str) -> bytes:
    """A hand-built multipart/form-data body with one `file` part and text `fields`."""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
             f"{value}\r\n".encode() for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
                 + file_bytes + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def in_chunks(data: bytes, size: int = 8192) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def user_body(**overrides: Any) -> dict[str, Any]:
    """A valid registration body with a unique username; `overrides` replace fields."""
    name = f"u_{uuid4().hex[:12]}"
    body = {"username": name, "email": f"{name}@example.com",
            "password": "correct horse battery", "display_name": "Someone"}
    body.update(overrides)
    return body


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != field}


def random_id() -> str:
    return str(uuid4())


@dataclass
class World:
    """Alice owns a photo; Bob commented on it."""

    alice: Account
    bob: Account
    photo_id: str
    comment_id: str


@pytest.fixture
def world(client: TestClient) -> World:
    alice, bob = register(client), register(client)
    photo_id = post_photo(client, alice, caption="sunset")["photo_id"]
    comment = client.post(f"/v1/photos/{photo_id}/comments", headers=bob.auth,
                          json={"text": "nice"})
    assert comment.status_code == 201, comment.text
    return World(alice, bob, photo_id, comment.json()["comment_id"])


UPLOADS = [("POST", "/v1/photos"), ("PUT", "/v1/users/me/avatar")]
UPLOAD_IDS = ["photo", "avatar"]

# --- malformed JSON -----------------------------------------------------------------------

JSON_ENDPOINTS = [("POST", "/v1/users", False), ("POST", "/v1/sessions", False),
                  ("PATCH", "/v1/users/me", True),
                  ("POST", "/v1/photos/{photo_id}/comments", True)]
JSON_ENDPOINT_IDS = ["register", "login", "update_profile", "comment"]

NOT_JSON, NOT_AN_OBJECT = (400, "malformed_json"), (422, "validation_error")
MALFORMED_BODIES = {
    "truncated": (b'{"username": "abc", "email": ', NOT_JSON),
    "not_json": (b"username=abc&password=x", NOT_JSON),
    "single_quotes": (b"{'text': 'hi'}", NOT_JSON),
    "trailing_comma": (b'{"text": "hi",}', NOT_JSON),
    "whitespace": (b"   ", NOT_JSON),
    "array": (b'["text", "hi"]', NOT_AN_OBJECT),
    "string": (b'"hello"', NOT_AN_OBJECT),
    "number": (b"42", NOT_AN_OBJECT),
    "null": (b"null", NOT_AN_OBJECT),
    "empty": (b"", NOT_AN_OBJECT),
}

# Hostile rather than merely wrong: any clear 400/422 will do.
HOSTILE_BODIES = {
    "invalid_utf8": b'{"text": "\xff\xfe"}',
    "deeply_nested": b"[" * 20_000 + b"]" * 20_000,
    "deeply_nested_objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "huge_integer": b'{"age": 1' + b"0" * 5000 + b"}",
    "nan": b'{"age": NaN, "text": "hi"}',
    "infinity": b'{"age": Infinity, "text": "hi"}',
    "nul_byte": b'{"text": "hi"}\x00',
    "two_documents": b'{"text": "hi"}{"text": "hi"}',
}


def json_url(template: str, world: World) -> str:
    return template.format(photo_id=world.photo_id)


@pytest.mark.parametrize(("body", "expected"), MALFORMED_BODIES.values(),
                         ids=MALFORMED_BODIES.keys())
@pytest.mark.parametrize(("method", "template", "authed"), JSON_ENDPOINTS, ids=JSON_ENDPOINT_IDS)
def test_malformed_json_is_400_or_422(client: TestClient, world: World, method: str,
                                      template: str, authed: bool, body: bytes,
                                      expected: tuple[int, str]) -> None:
    headers = {"Content-Type": "application/json", **(world.bob.auth if authed else {})}
    expect_error(client, method, json_url(template, world), *expected, content=body,
                 headers=headers)


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
@pytest.mark.parametrize(("method", "template", "authed"), JSON_ENDPOINTS, ids=JSON_ENDPOINT_IDS)
def test_hostile_json_is_a_clear_4xx(client: TestClient, world: World, method: str,
                                     template: str, authed: bool, body: bytes) -> None:
    headers = {"Content-Type": "application/json", **(world.bob.auth if authed else {})}
    expect_error(client, method, json_url(template, world), (400, 422),
                 ("malformed_json", "validation_error", "bad_request"),
                 content=body, headers=headers)


@pytest.mark.parametrize(("method", "template", "authed"), JSON_ENDPOINTS, ids=JSON_ENDPOINT_IDS)
def test_json_endpoints_refuse_a_form_body(client: TestClient, world: World, method: str,
                                           template: str, authed: bool) -> None:
    expect_error(client, method, json_url(template, world), (400, 415, 422),
                 data={"text": "hi", "login": "x", "password": "y"},
                 headers=world.bob.auth if authed else {})


# --- missing, wrong-typed and unknown fields ---------------------------------------------

@pytest.mark.parametrize("field", ["username", "email", "password", "display_name"])
def test_register_without_a_required_field_is_422(client: TestClient, field: str) -> None:
    expect_error(client, "POST", "/v1/users", 422, "validation_error",
                 json=without(user_body(), field))


@pytest.mark.parametrize("body", [{"login": "someone"}, {"password": "x" * 10}, {}],
                         ids=["no_password", "no_login", "empty_object"])
def test_login_without_a_required_field_is_422(client: TestClient, body: dict) -> None:
    expect_error(client, "POST", "/v1/sessions", 422, "validation_error", json=body)


def test_comment_without_text_is_422(client: TestClient, world: World) -> None:
    expect_error(client, "POST", f"/v1/photos/{world.photo_id}/comments", 422,
                 "validation_error", json={}, headers=world.bob.auth)


WRONG_TYPED_REGISTRATIONS = {
    "username_number": {"username": 12345},
    "email_list": {"email": ["a@example.com"]},
    "password_number": {"password": 123456789},
    "display_name_null": {"display_name": None},
    "display_name_object": {"display_name": {"first": "A"}},
    "bio_object": {"bio": {"text": "hi"}},
    "location_bool": {"location": True},
    "age_string": {"age": "42"},
    "age_bool": {"age": True},
    "age_float": {"age": 42.5},
    "age_integral_float": {"age": 42.0},
    "age_list": {"age": [42]},
}


@pytest.mark.parametrize("override", WRONG_TYPED_REGISTRATIONS.values(),
                         ids=WRONG_TYPED_REGISTRATIONS.keys())
def test_register_with_a_wrong_typed_field_is_422(client: TestClient, override: dict) -> None:
    expect_error(client, "POST", "/v1/users", 422, "validation_error",
                 json=user_body(**override))


@pytest.mark.parametrize("body", [{"login": 42, "password": "correct horse"},
                                  {"login": "someone", "password": None},
                                  {"login": ["someone"], "password": "correct horse"}],
                         ids=["login_number", "password_null", "login_list"])
def test_login_with_a_wrong_typed_field_is_422(client: TestClient, body: dict) -> None:
    expect_error(client, "POST", "/v1/sessions", 422, "validation_error", json=body)


WRONG_TYPED_PROFILES = {
    "display_name_number": {"display_name": 42},
    "bio_object": {"bio": {"text": "hi"}},
    "location_list": {"location": ["Paris"]},
    "age_string": {"age": "42"},
    "age_bool": {"age": False},
    "age_float": {"age": 30.5},
}


@pytest.mark.parametrize("body", WRONG_TYPED_PROFILES.values(), ids=WRONG_TYPED_PROFILES.keys())
def test_profile_update_with_a_wrong_typed_field_is_422(client: TestClient, world: World,
                                                        body: dict) -> None:
    expect_error(client, "PATCH", "/v1/users/me", 422, "validation_error", json=body,
                 headers=world.alice.auth)


@pytest.mark.parametrize("text", [42, None, {"text": "hi"}, ["hi"], True],
                         ids=["number", "null", "object", "list", "bool"])
def test_comment_with_non_string_text_is_422(client: TestClient, world: World,
                                             text: object) -> None:
    expect_error(client, "POST", f"/v1/photos/{world.photo_id}/comments", 422,
                 "validation_error", json={"text": text}, headers=world.bob.auth)


def test_register_with_an_unknown_field_is_422(client: TestClient) -> None:
    expect_error(client, "POST", "/v1/users", 422, "validation_error",
                 json=user_body(is_admin=True))


def test_login_with_an_unknown_field_is_422(client: TestClient, world: World) -> None:
    expect_error(client, "POST", "/v1/sessions", 422, "validation_error",
                 json={"login": world.alice.username, "password": world.alice.password,
                       "remember_me": True})


@pytest.mark.parametrize("body", [{"username": "new_name"}, {"email": "new@example.com"},
                                  {"password": "new password!"}, {"bio": "x", "admin": True}],
                         ids=["username", "email", "password", "admin"])
def test_profile_update_with_an_unknown_or_read_only_field_is_422(client: TestClient,
                                                                  world: World,
                                                                  body: dict) -> None:
    expect_error(client, "PATCH", "/v1/users/me", 422, "validation_error", json=body,
                 headers=world.alice.auth)


def test_comment_with_an_unknown_field_is_422(client: TestClient, world: World) -> None:
    expect_error(client, "POST", f"/v1/photos/{world.photo_id}/comments", 422,
                 "validation_error", json={"text": "hi", "author_id": world.alice.user_id},
                 headers=world.bob.auth)


@pytest.mark.parametrize("body", [{"display_name": None}, {"display_name": ""},
                                  {"display_name": "   "}],
                         ids=["null", "empty", "blank"])
def test_display_name_cannot_be_cleared(client: TestClient, world: World, body: dict) -> None:
    expect_error(client, "PATCH", "/v1/users/me", 422, ("invalid_value", "validation_error"),
                 json=body, headers=world.alice.auth)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"], ids=["empty", "spaces", "whitespace"])
def test_empty_comment_is_422(client: TestClient, world: World, text: str) -> None:
    expect_error(client, "POST", f"/v1/photos/{world.photo_id}/comments", 422,
                 ("invalid_value", "validation_error"), json={"text": text},
                 headers=world.bob.auth)


# --- oversized fields and bodies ------------------------------------------------------------

OVERSIZED_REGISTRATIONS = {
    "username_31": ({"username": "u" * 31}, "invalid_username"),
    "username_65": ({"username": "u" * 65}, ("invalid_username", "validation_error")),
    "display_name_65": ({"display_name": "d" * 65}, "invalid_value"),
    "bio_501": ({"bio": "b" * 501}, "invalid_value"),
    "location_101": ({"location": "l" * 101}, "invalid_value"),
    "password_1025": ({"password": "p" * 1025}, "validation_error"),
    "password_short": ({"password": "short"}, "validation_error"),
    "email_255": ({"email": "e" * 243 + "@example.com"}, "invalid_value"),
}


@pytest.mark.parametrize(("override", "code"), OVERSIZED_REGISTRATIONS.values(),
                         ids=OVERSIZED_REGISTRATIONS.keys())
def test_register_with_an_out_of_range_field_is_422(client: TestClient, override: dict,
                                                    code: str) -> None:
    expect_error(client, "POST", "/v1/users", 422, code, json=user_body(**override))


@pytest.mark.parametrize("body", [{"display_name": "d" * 65}, {"bio": "b" * 501},
                                  {"location": "l" * 101}, {"bio": "b" * 2001}],
                         ids=["display_name_65", "bio_501", "location_101", "bio_2001"])
def test_profile_update_with_an_oversized_field_is_422(client: TestClient, world: World,
                                                       body: dict) -> None:
    expect_error(client, "PATCH", "/v1/users/me", 422, ("invalid_value", "validation_error"),
                 json=body, headers=world.alice.auth)


@pytest.mark.parametrize("length", [1001, 4001])
def test_oversized_comment_is_422(client: TestClient, world: World, length: int) -> None:
    expect_error(client, "POST", f"/v1/photos/{world.photo_id}/comments", 422,
                 ("invalid_value", "validation_error"), json={"text": "c" * length},
                 headers=world.bob.auth)


def test_login_with_an_oversized_password_is_422(client: TestClient, world: World) -> None:
    expect_error(client, "POST", "/v1/sessions", 422, "validation_error",
                 json={"login": world.alice.username, "password": "p" * 1025})


@pytest.mark.parametrize("form", [{"caption": "c" * 2201}, {"caption": "c" * 4001},
                                  {"location": "l" * 101}, {"tagged": "t" * 2001}],
                         ids=["caption_2201", "caption_4001", "location_101", "tagged_2001"])
def test_photo_with_an_oversized_form_field_is_422(client: TestClient, world: World,
                                                   form: dict) -> None:
    expect_error(client, "POST", "/v1/photos", 422, ("invalid_value", "validation_error"),
                 data=form, files=jpeg_file(), headers=world.alice.auth)


def test_photo_tagging_too_many_users_is_422(client: TestClient, world: World) -> None:
    friends = [register(client).username for _ in range(21)]
    expect_error(client, "POST", "/v1/photos", 422, "invalid_value",
                 data={"tagged": ",".join(friends)}, files=jpeg_file(),
                 headers=world.alice.auth)


def test_limits_are_inclusive(client: TestClient) -> None:
    account = register(client, "u" * 30, display_name="d" * 64, bio="b" * 500,
                       location="l" * 100, age=120)
    photo = post_photo(client, account, caption="c" * 2200)
    response = client.post(f"/v1/photos/{photo['photo_id']}/comments", headers=account.auth,
                           json={"text": "c" * 1000})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("streamed", [False, True], ids=["content_length", "chunked"])
@pytest.mark.parametrize(("method", "template", "authed"), JSON_ENDPOINTS, ids=JSON_ENDPOINT_IDS)
def test_json_body_over_64_kib_is_413(client: TestClient, world: World, method: str,
                                      template: str, authed: bool, streamed: bool) -> None:
    body = json.dumps({"text": "x" * 70_000}).encode()
    headers = {"Content-Type": "application/json", **(world.bob.auth if authed else {})}
    expect_error(client, method, json_url(template, world), 413, "payload_too_large",
                 content=in_chunks(body) if streamed else body, headers=headers)


@pytest.mark.parametrize("declared", ["abc", "-1", "1e3", "12 34"])
def test_an_invalid_content_length_is_400(client: TestClient, world: World,
                                          declared: str) -> None:
    expect_error(client, "PATCH", "/v1/users/me", 400, content=b'{"bio": "x"}',
                 headers={**world.alice.auth, "Content-Type": "application/json",
                          "Content-Length": declared})


def test_a_large_json_body_under_the_limit_is_judged_on_its_fields(client: TestClient) -> None:
    expect_error(client, "POST", "/v1/users", 422, "validation_error",
                 json=user_body(bio="b" * 60_000))


# --- odd unicode ----------------------------------------------------------------------------

SURROGATE = "\\ud800"  # a JSON escape for a lone high surrogate, sent verbatim
_MARK = "LONE_SURROGATE_HERE"


def with_surrogate(body: dict[str, Any], field: str) -> str:
    """`body` as JSON text with a lone-surrogate escape inside `field`."""
    return json.dumps({**body, field: f"a{_MARK}b"}).replace(_MARK, SURROGATE)


@pytest.mark.parametrize("field", ["username", "email", "password", "display_name", "bio",
                                   "location"])
def test_register_with_a_lone_surrogate_is_422(client: TestClient, field: str) -> None:
    expect_error(client, "POST", "/v1/users", 422, **raw_json(with_surrogate(user_body(), field)))


@pytest.mark.parametrize("field", ["login", "password"])
def test_login_with_a_lone_surrogate_is_422(client: TestClient, world: World,
                                            field: str) -> None:
    body = {"login": world.alice.username, "password": world.alice.password}
    expect_error(client, "POST", "/v1/sessions", 422, **raw_json(with_surrogate(body, field)))


@pytest.mark.parametrize("field", ["display_name", "bio", "location"])
def test_profile_update_with_a_lone_surrogate_is_422(client: TestClient, world: World,
                                                     field: str) -> None:
    kwargs = raw_json(with_surrogate({}, field))
    kwargs["headers"].update(world.alice.auth)
    expect_error(client, "PATCH", "/v1/users/me", 422, **kwargs)


@pytest.mark.parametrize("text", [SURROGATE, f"hi {SURROGATE}", "\\udfff", "\\udc00\\ud800"],
                         ids=["alone", "trailing", "low", "reversed_pair"])
def test_comment_with_a_lone_surrogate_is_422(client: TestClient, world: World,
                                              text: str) -> None:
    kwargs = raw_json(f'{{"text": "{text}"}}')
    kwargs["headers"].update(world.bob.auth)
    expect_error(client, "POST", f"/v1/photos/{world.photo_id}/comments", 422, **kwargs)


def test_a_valid_surrogate_pair_escape_is_an_emoji(client: TestClient, world: World) -> None:
    kwargs = raw_json('{"text": "\\ud83d\\udcf8"}')  # U+1F4F8 camera with flash
    kwargs["headers"].update(world.bob.auth)
    response = client.post(f"/v1/photos/{world.photo_id}/comments", **kwargs)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("form", [{"caption": "a\xed\xa0\x80b"}, {"location": "a\xed\xa0\x80b"}],
                         ids=["caption", "location"])
def test_photo_form_fields_with_surrogate_bytes_are_rejected(client: TestClient, world: World,
                                                             form: dict) -> None:
    # Bytes ED A0 80 are a UTF-8-encoded surrogate (invalid UTF-8); sent in a raw body.
    boundary = "surrogate-boundary"
    (name, value), marker = next(iter(form.items())), b"FIELD-VALUE-GOES-HERE"
    body = multipart(boundary, image_bytes(), **{name: marker.decode()})
    body = body.replace(marker, value.encode("latin-1"), 1)  # fields come before the file
    expect_error(client, "POST", "/v1/photos", (400, 422), content=body,
                 headers={**world.alice.auth,
                          "Content-Type": f"multipart/form-data; boundary={boundary}"})


CONTROL_USERNAMES = {
    "nul": "ab\x00{}", "trailing_nul": "ab{}\x00", "tab": "ab\t{}", "newline": "ab\n{}",
    "trailing_newline": "ab{}\n", "carriage_return": "ab{}\r", "escape": "ab\x1b{}",
    "delete": "ab\x7f{}", "zero_width_space": "ab\u200b{}",
}


@pytest.mark.parametrize("template", CONTROL_USERNAMES.values(), ids=CONTROL_USERNAMES.keys())
def test_username_with_a_control_character_is_invalid(client: TestClient,
                                                      template: str) -> None:
    expect_error(client, "POST", "/v1/users", 422, "invalid_username",
                 json=user_body(username=template.format(uuid4().hex[:8])))


CONTROL_TEXT = ["Al\x00ice", "Al\x07ice", "Al\x1bice", "Al\x7fice", "Al\x85ice", "Al\x9bice"]
CONTROL_IDS = ["nul", "bell", "escape", "delete", "next_line", "csi"]


@pytest.mark.parametrize("text", CONTROL_TEXT, ids=CONTROL_IDS)
def test_display_name_with_a_control_character_is_422(client: TestClient, text: str) -> None:
    expect_error(client, "POST", "/v1/users", 422, "invalid_value",
                 json=user_body(display_name=text))


@pytest.mark.parametrize("text", [*CONTROL_TEXT, "Al\nice", "Al\rice"],
                         ids=[*CONTROL_IDS, "newline", "carriage_return"])
def test_profile_display_name_with_a_control_character_is_422(client: TestClient, world: World,
                                                              text: str) -> None:
    expect_error(client, "PATCH", "/v1/users/me", 422, "invalid_value",
                 json={"display_name": text}, headers=world.alice.auth)


@pytest.mark.parametrize("text", CONTROL_TEXT, ids=CONTROL_IDS)
def test_comment_with_a_control_character_is_422(client: TestClient, world: World,
                                                 text: str) -> None:
    expect_error(client, "POST", f"/v1/photos/{world.photo_id}/comments", 422, "invalid_value",
                 json={"text": text}, headers=world.bob.auth)


@pytest.mark.parametrize("text", CONTROL_TEXT, ids=CONTROL_IDS)
def test_caption_with_a_control_character_is_422(client: TestClient, world: World,
                                                 text: str) -> None:
    expect_error(client, "POST", "/v1/photos", 422, "invalid_value", data={"caption": text},
                 files=jpeg_file(), headers=world.alice.auth)


# Accepted as sent (NFC). Direction overrides and zero-width characters are accepted too,
# but stripped: tests/unit/test_text_safety.py.
VALID_ODD_TEXT = {
    "emoji": "Sunsets \U0001f305\U0001f4f8",
    "zwj_family": "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "flag": "\U0001f1eb\U0001f1f7",
    "combining": "Zoe\u0301 e\u0300\u0323",
    "arabic": "\u0645\u0631\u062d\u0628\u0627",
    "cjk": "\u5199\u771f",
}


@pytest.mark.parametrize("text", VALID_ODD_TEXT.values(), ids=VALID_ODD_TEXT.keys())
def test_odd_but_valid_unicode_is_accepted_everywhere(client: TestClient, world: World,
                                                      text: str) -> None:
    registered = client.post("/v1/users", json=user_body(display_name=text, bio=text))
    assert registered.status_code == 201, registered.text
    profile = client.patch("/v1/users/me", headers=world.alice.auth,
                           json={"display_name": text, "bio": f"{text}\n{text}"})
    assert profile.status_code == 200, profile.text
    assert profile.json()["display_name"] == unicodedata.normalize("NFC", text)
    comment = client.post(f"/v1/photos/{world.photo_id}/comments", headers=world.bob.auth,
                          json={"text": text})
    assert comment.status_code == 201, comment.text
    post_photo(client, world.alice, caption=text)


# --- registration rules ---------------------------------------------------------------------

BAD_USERNAMES = {
    "empty": "",
    "too_short": "ab",
    "space": "a b{}",
    "dash": "a-b{}",
    "at": "a@b{}",
    "umlaut": "j\u00f6hn{}",
    "cyrillic": "\u0430dmin{}",
    "fullwidth": "\uff41bc{}",
    "kelvin_sign": "\u212aelvin{}",
    "leading_dot": ".ab{}",
    "trailing_dot": "ab{}.",
    "double_dot": "a..b{}",
    "only_dots": "...",
    "slash": "a/b{}",
    "emoji": "ab{}\U0001f600",
}


@pytest.mark.parametrize("template", BAD_USERNAMES.values(), ids=BAD_USERNAMES.keys())
def test_register_with_an_invalid_username_is_422(client: TestClient, template: str) -> None:
    username = template.format(uuid4().hex[:6])
    expect_error(client, "POST", "/v1/users", 422, "invalid_username",
                 json=user_body(username=username))


def test_username_taken_is_case_insensitive(client: TestClient) -> None:
    name = f"Case_{uuid4().hex[:8]}"
    register(client, name)
    for variant in (name.lower(), name.upper(), name):
        expect_error(client, "POST", "/v1/users", 409, "username_taken",
                     json=user_body(username=variant))


def test_email_taken_is_case_insensitive(client: TestClient) -> None:
    local = f"Mixed.{uuid4().hex[:8]}"
    register(client, email=f"{local}@Example.com")
    for variant in (f"{local.lower()}@example.com", f"{local.upper()}@EXAMPLE.COM",
                    f"  {local}@example.com  "):
        expect_error(client, "POST", "/v1/users", 409, "email_taken",
                     json=user_body(email=variant))


BAD_EMAILS = ["", "plainaddress", "no-at.example.com", "a@b", "a@@example.com",
              "a b@example.com", "a@exa mple.com", "@example.com", "a@.", "j\u00f6@example.com",
              "a@example.com\x00", "a\tb@example.com"]


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_register_with_an_invalid_email_is_422(client: TestClient, email: str) -> None:
    expect_error(client, "POST", "/v1/users", 422, ("invalid_value", "validation_error"),
                 json=user_body(email=email))


@pytest.mark.parametrize("age", [12, 121, 0, -1, 10**6, 10**30])
def test_register_with_an_out_of_range_age_is_422(client: TestClient, age: int) -> None:
    expect_error(client, "POST", "/v1/users", 422, "invalid_value", json=user_body(age=age))


@pytest.mark.parametrize("age", [12, 121])
def test_profile_update_with_an_out_of_range_age_is_422(client: TestClient, world: World,
                                                        age: int) -> None:
    expect_error(client, "PATCH", "/v1/users/me", 422, "invalid_value", json={"age": age},
                 headers=world.alice.auth)


# --- unknown ids ----------------------------------------------------------------------------

BAD_IDS = {
    "random_uuid": None,  # filled in per test
    "not_a_uuid": "not-a-uuid",
    "number": "12345",
    "very_long": "a" * 5000,
    "sql": "1' OR '1'='1",
    "spaces": "a b c",
    "unicode": "\u202e\U0001f600",
}


def bad_id(kind: str) -> str:
    return BAD_IDS[kind] or random_id()


@pytest.mark.parametrize("kind", BAD_IDS.keys())
@pytest.mark.parametrize("method", ["PUT", "DELETE"], ids=["follow", "unfollow"])
def test_following_an_unknown_user_is_404(client: TestClient, world: World, method: str,
                                          kind: str) -> None:
    expect_error(client, method, f"/v1/users/me/following/{bad_id(kind)}", 404,
                 "user_not_found", headers=world.bob.auth)


def test_following_a_photo_id_is_404(client: TestClient, world: World) -> None:
    expect_error(client, "PUT", f"/v1/users/me/following/{world.photo_id}", 404,
                 "user_not_found", headers=world.bob.auth)


PHOTO_ACTIONS = {
    "like": ("PUT", "/v1/photos/{}/likes/me", {}),
    "unlike": ("DELETE", "/v1/photos/{}/likes/me", {}),
    "comment": ("POST", "/v1/photos/{}/comments", {"json": {"text": "hello"}}),
    "delete": ("DELETE", "/v1/photos/{}", {}),
    "delete_comment": ("DELETE", "/v1/photos/{}/comments/" + str(uuid4()), {}),
}


@pytest.mark.parametrize("kind", BAD_IDS.keys())
@pytest.mark.parametrize("action", PHOTO_ACTIONS.keys())
def test_acting_on_an_unknown_photo_is_404(client: TestClient, world: World, action: str,
                                           kind: str) -> None:
    method, template, kwargs = PHOTO_ACTIONS[action]
    expect_error(client, method, template.format(bad_id(kind)), 404, "photo_not_found",
                 headers=world.alice.auth, **kwargs)


@pytest.mark.parametrize("action", PHOTO_ACTIONS.keys())
def test_a_user_id_is_not_a_photo_id(client: TestClient, world: World, action: str) -> None:
    method, template, kwargs = PHOTO_ACTIONS[action]
    expect_error(client, method, template.format(world.alice.user_id), 404, "photo_not_found",
                 headers=world.alice.auth, **kwargs)


@pytest.mark.parametrize("kind", BAD_IDS.keys())
def test_deleting_an_unknown_comment_is_404(client: TestClient, world: World,
                                            kind: str) -> None:
    expect_error(client, "DELETE", f"/v1/photos/{world.photo_id}/comments/{bad_id(kind)}",
                 404, "comment_not_found", headers=world.alice.auth)


def test_deleting_a_comment_through_another_photo_is_404(client: TestClient,
                                                         world: World) -> None:
    other_photo = post_photo(client, world.alice)["photo_id"]
    expect_error(client, "DELETE", f"/v1/photos/{other_photo}/comments/{world.comment_id}",
                 404, "comment_not_found", headers=world.alice.auth)


def test_a_photo_id_is_not_a_comment_id(client: TestClient, world: World) -> None:
    expect_error(client, "DELETE", f"/v1/photos/{world.photo_id}/comments/{world.photo_id}",
                 404, "comment_not_found", headers=world.alice.auth)


def test_deleting_a_comment_twice_is_404(client: TestClient, world: World) -> None:
    url = f"/v1/photos/{world.photo_id}/comments/{world.comment_id}"
    assert client.delete(url, headers=world.bob.auth).status_code == 204
    expect_error(client, "DELETE", url, 404, "comment_not_found", headers=world.bob.auth)


# --- authentication -------------------------------------------------------------------------

OTHER_SECRET = "another-secret-" + "y" * 32


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": user_id, "iss": "photoshare", "iat": now, "exp": now + 3600}
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _app_secret(client: TestClient) -> str:
    return client.app.state.settings.secret_key.get_secret_value()


BAD_AUTH: dict[str, Any] = {
    "missing": lambda c, a: {},
    "basic": lambda c, a: {"Authorization": "Basic eHl6OnBhc3N3b3Jk"},
    "bearer_without_token": lambda c, a: {"Authorization": "Bearer"},
    "token_without_scheme": lambda c, a: {"Authorization": a.token},
    "garbage": lambda c, a: {"Authorization": "Bearer not.a.jwt"},
    "random_text": lambda c, a: {"Authorization": "Bearer hunter2"},
    "other_secret": lambda c, a: {
        "Authorization": "Bearer " + jwt.encode(_claims(a.user_id), OTHER_SECRET, "HS256")},
    "expired": lambda c, a: {
        "Authorization": "Bearer "
        + c.app.state.tokens.issue(a.user_id, now=time.time() - 10**6).token},
    "alg_none": lambda c, a: {"Authorization": "Bearer " + _unsigned(_claims(a.user_id))},
    "wrong_issuer": lambda c, a: {
        "Authorization": "Bearer "
        + jwt.encode(_claims(a.user_id, iss="evil"), _app_secret(c), "HS256")},
    "no_expiry": lambda c, a: {
        "Authorization": "Bearer "
        + jwt.encode(_claims(a.user_id, exp=None), _app_secret(c), "HS256")},
    "tampered": lambda c, a: {"Authorization": "Bearer " + _tamper(a.token)},
}
BAD_AUTH_CODES = {"missing": "missing_token"}


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(uuid4())
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def authed_request(name: str, world: World) -> tuple[str, str, dict[str, Any]]:
    """A request that Alice may make and that would succeed with her token."""
    photo, bob = world.photo_id, world.bob.user_id
    return {
        "update_profile": ("PATCH", "/v1/users/me", {"json": {"bio": "new bio"}}),
        "change_avatar": ("PUT", "/v1/users/me/avatar", {"files": jpeg_file()}),
        "post_photo": ("POST", "/v1/photos", {"files": jpeg_file(), "data": {"caption": "c"}}),
        "delete_photo": ("DELETE", f"/v1/photos/{photo}", {}),
        "follow": ("PUT", f"/v1/users/me/following/{bob}", {}),
        "unfollow": ("DELETE", f"/v1/users/me/following/{bob}", {}),
        "like": ("PUT", f"/v1/photos/{photo}/likes/me", {}),
        "unlike": ("DELETE", f"/v1/photos/{photo}/likes/me", {}),
        "comment": ("POST", f"/v1/photos/{photo}/comments", {"json": {"text": "hi"}}),
        "delete_comment": ("DELETE", f"/v1/photos/{photo}/comments/{world.comment_id}", {}),
    }[name]


AUTHED_ENDPOINTS = ["update_profile", "change_avatar", "post_photo", "delete_photo", "follow",
                    "unfollow", "like", "unlike", "comment", "delete_comment"]


@pytest.mark.parametrize("endpoint", AUTHED_ENDPOINTS)
def test_the_reference_requests_succeed_with_a_valid_token(client: TestClient, world: World,
                                                           endpoint: str) -> None:
    method, url, kwargs = authed_request(endpoint, world)
    response = client.request(method, url, headers=world.alice.auth, **kwargs)
    assert 200 <= response.status_code < 300, response.text


@pytest.mark.parametrize("kind", BAD_AUTH.keys())
@pytest.mark.parametrize("endpoint", AUTHED_ENDPOINTS)
def test_a_bad_token_is_401(client: TestClient, world: World, endpoint: str, kind: str) -> None:
    method, url, kwargs = authed_request(endpoint, world)
    headers = BAD_AUTH[kind](client, world.alice)
    before = head(client)
    response = client.request(method, url, headers=headers, **kwargs)
    assert_error(response, 401, BAD_AUTH_CODES.get(kind, "invalid_token"))
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert head(client) == before


@pytest.mark.parametrize("endpoint", AUTHED_ENDPOINTS)
def test_a_valid_token_of_an_unknown_user_is_401(client: TestClient, world: World,
                                                 endpoint: str) -> None:
    method, url, kwargs = authed_request(endpoint, world)
    ghost = client.app.state.tokens.issue(random_id()).token
    expect_error(client, method, url, 401, "unknown_actor",
                 headers={"Authorization": f"Bearer {ghost}"}, **kwargs)


@pytest.mark.parametrize("subject", ["", "not-a-uuid", "a" * 5000])
def test_a_valid_token_with_an_odd_subject_is_401(client: TestClient, world: World,
                                                  subject: str) -> None:
    token = client.app.state.tokens.issue(subject).token
    expect_error(client, "PATCH", "/v1/users/me", 401, ("unknown_actor", "invalid_token"),
                 json={"bio": "x"}, headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_naming_a_photo_is_401(client: TestClient, world: World) -> None:
    token = client.app.state.tokens.issue(world.photo_id).token
    expect_error(client, "PUT", f"/v1/photos/{world.photo_id}/likes/me", 401, "unknown_actor",
                 headers={"Authorization": f"Bearer {token}"})


# --- authorisation --------------------------------------------------------------------------

def test_deleting_someone_elses_photo_is_403(client: TestClient, world: World) -> None:
    expect_error(client, "DELETE", f"/v1/photos/{world.photo_id}", 403, "not_photo_owner",
                 headers=world.bob.auth)


def test_deleting_a_comment_neither_yours_nor_on_your_photo_is_403(client: TestClient,
                                                                   world: World) -> None:
    carol = register(client)
    expect_error(client, "DELETE", f"/v1/photos/{world.photo_id}/comments/{world.comment_id}",
                 403, "not_comment_author_or_photo_owner", headers=carol.auth)


def test_the_photo_owner_can_delete_others_comments(client: TestClient, world: World) -> None:
    response = client.delete(f"/v1/photos/{world.photo_id}/comments/{world.comment_id}",
                             headers=world.alice.auth)
    assert response.status_code == 204, response.text


def test_the_comment_author_can_delete_it_on_someone_elses_photo(client: TestClient,
                                                                 world: World) -> None:
    response = client.delete(f"/v1/photos/{world.photo_id}/comments/{world.comment_id}",
                             headers=world.bob.auth)
    assert response.status_code == 204, response.text


def test_following_yourself_is_400(client: TestClient, world: World) -> None:
    expect_error(client, "PUT", f"/v1/users/me/following/{world.alice.user_id}", 400,
                 "cannot_follow_self", headers=world.alice.auth)


# --- deleted photos -------------------------------------------------------------------------

@pytest.mark.parametrize("action", PHOTO_ACTIONS.keys())
def test_a_deleted_photo_is_gone_for_every_action(client: TestClient, world: World,
                                                  action: str) -> None:
    assert client.delete(f"/v1/photos/{world.photo_id}",
                         headers=world.alice.auth).status_code == 204
    method, template, kwargs = PHOTO_ACTIONS[action]
    expect_error(client, method, template.format(world.photo_id), 404, "photo_not_found",
                 headers=world.alice.auth, **kwargs)


def test_a_comment_on_a_deleted_photo_cannot_be_deleted(client: TestClient,
                                                        world: World) -> None:
    assert client.delete(f"/v1/photos/{world.photo_id}",
                         headers=world.alice.auth).status_code == 204
    expect_error(client, "DELETE", f"/v1/photos/{world.photo_id}/comments/{world.comment_id}",
                 404, "photo_not_found", headers=world.bob.auth)


# --- login ----------------------------------------------------------------------------------

def test_login_with_a_wrong_password_is_401(client: TestClient, world: World) -> None:
    expect_error(client, "POST", "/v1/sessions", 401, "invalid_credentials",
                 json={"login": world.alice.username, "password": "wrong password"})


@pytest.mark.parametrize("login", ["nobody_here", "nobody@example.com", "@", "a" * 320,
                                   "\x00", "..", "NOBODY@EXAMPLE.COM "])
def test_login_as_an_unknown_user_is_401(client: TestClient, login: str) -> None:
    expect_error(client, "POST", "/v1/sessions", 401, "invalid_credentials",
                 json={"login": login, "password": "correct horse battery"})


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient,
                                                       world: World) -> None:
    wrong = client.post("/v1/sessions", json={"login": world.alice.username, "password": "nope"})
    unknown = client.post("/v1/sessions", json={"login": "ghost_user", "password": "nope"})
    assert wrong.json() == unknown.json()


@pytest.fixture
def strict_login_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = cheap_settings(tmp_path / "strict", login_max_failures=3)
    with TestClient(create_embedded_app(settings)) as test_client:
        yield test_client


def fail_logins(client: TestClient, login: str, times: int) -> None:
    for _ in range(times):
        expect_error(client, "POST", "/v1/sessions", 401, "invalid_credentials",
                     json={"login": login, "password": "wrong password"})


def expect_throttled(client: TestClient, login: str, password: str) -> None:
    before = head(client)
    response = client.post("/v1/sessions", json={"login": login, "password": password})
    assert_error(response, 429, "too_many_attempts")
    assert int(response.headers["Retry-After"]) > 0
    assert head(client) == before


def test_repeated_login_failures_are_throttled(strict_login_client: TestClient) -> None:
    client = strict_login_client
    account = register(client)
    fail_logins(client, account.username, 3)
    for login in (account.username, account.username.upper()):
        expect_throttled(client, login, account.password)  # even with the right password


def test_throttling_is_per_account_whichever_login_names_it(
        strict_login_client: TestClient) -> None:
    # Failures by username must also close the door to the same account by email;
    # otherwise every account gets twice the guesses.
    client = strict_login_client
    account = register(client)
    fail_logins(client, account.username, 3)
    expect_throttled(client, account.email, account.password)


# --- uploads --------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_upload_without_a_file_is_422(client: TestClient, world: World, method: str,
                                      url: str) -> None:
    expect_error(client, method, url, 422, "validation_error", data={"caption": "no file"},
                 headers=world.alice.auth)


@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_upload_with_the_file_as_a_text_field_is_422(client: TestClient, world: World,
                                                     method: str, url: str) -> None:
    expect_error(client, method, url, 422, "validation_error", data={"file": "not a file"},
                 headers=world.alice.auth)


@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_upload_as_json_is_422(client: TestClient, world: World, method: str, url: str) -> None:
    expect_error(client, method, url, (415, 422), json={"file": "aGVsbG8="},
                 headers=world.alice.auth)


@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_multipart_without_a_boundary_is_4xx(client: TestClient, world: World, method: str,
                                             url: str) -> None:
    expect_error(client, method, url, (400, 422), content=multipart("b0und", image_bytes()),
                 headers={**world.alice.auth, "Content-Type": "multipart/form-data"})


@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_multipart_cut_off_midway_is_4xx(client: TestClient, world: World, method: str,
                                         url: str) -> None:
    body = multipart("b0und", image_bytes())
    expect_error(client, method, url, (400, 422), content=body[: len(body) // 2],
                 headers={**world.alice.auth,
                          "Content-Type": "multipart/form-data; boundary=b0und"})


@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_empty_upload_is_422(client: TestClient, world: World, method: str, url: str) -> None:
    expect_error(client, method, url, 422, "empty_file", files=jpeg_file(b""),
                 headers=world.alice.auth)


NOT_IMAGES = {
    "text": b"just some text, not an image at all\n",
    "html": b"<!doctype html><script>alert(1)</script>",
    "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n",
    "gif": image_bytes("GIF", size=(32, 32)),
    "bmp": image_bytes("BMP", size=(32, 32)),
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    "zip": b"PK\x03\x04" + b"\0" * 64,
    "one_byte": b"\xff",
    "jpeg_magic_only": b"\xff\xd8",
}


@pytest.mark.parametrize("data", NOT_IMAGES.values(), ids=NOT_IMAGES.keys())
@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_upload_of_a_non_image_is_415(client: TestClient, world: World, method: str, url: str,
                                      data: bytes) -> None:
    # Claimed to be a JPEG: the server must judge the bytes, not the label.
    expect_error(client, method, url, 415, "unsupported_media_type", files=jpeg_file(data),
                 headers=world.alice.auth)


CORRUPT_IMAGES = {
    "jpeg_half": lambda: (lambda d: d[: len(d) // 2])(noisy_image("JPEG")),
    "png_half": lambda: (lambda d: d[: len(d) // 2])(noisy_image("PNG")),
    "jpeg_header_only": lambda: image_bytes()[:200],
    "png_signature_only": lambda: b"\x89PNG\r\n\x1a\n",
    "png_bad_crc": lambda: (lambda d: d[:29] + b"\0\0\0\0" + d[33:])(image_bytes("PNG")),
}


@pytest.mark.parametrize("make", CORRUPT_IMAGES.values(), ids=CORRUPT_IMAGES.keys())
@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_upload_of_a_corrupt_image_is_422(client: TestClient, world: World, method: str,
                                          url: str, make: Any) -> None:
    expect_error(client, method, url, 422, "invalid_image", files=jpeg_file(make()),
                 headers=world.alice.auth)


BOMBS = {
    "png_ihdr_100k_square": lambda: png_declaring(100_000, 100_000),
    "png_ihdr_wide": lambda: png_declaring(2**31 - 1, 1),
    "jpeg_sof_60k_square": lambda: jpeg_declaring(60_000, 60_000),
    "png_bilevel_64_megapixels": bilevel_bomb,
}


@pytest.mark.parametrize("make", BOMBS.values(), ids=BOMBS.keys())
@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_upload_of_a_decompression_bomb_is_422(client: TestClient, world: World, method: str,
                                               url: str, make: Any) -> None:
    expect_error(client, method, url, 422, "image_too_large", files=jpeg_file(make()),
                 headers=world.alice.auth)


@pytest.fixture
def small_upload_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = cheap_settings(tmp_path / "small", max_upload_bytes=50_000)
    with TestClient(create_embedded_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize("size", [60_000, 300_000], ids=["over_file_limit", "over_body_limit"])
@pytest.mark.parametrize("streamed", [False, True], ids=["content_length", "chunked"])
@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_upload_over_the_size_limit_is_413(small_upload_client: TestClient, method: str,
                                           url: str, streamed: bool, size: int) -> None:
    client = small_upload_client
    account = register(client)
    data = noisy_image("JPEG", (400, 300))
    data = (data * (size // len(data) + 1))[:size]  # a valid JPEG start, `size` bytes long
    boundary = "limit-boundary"
    body = multipart(boundary, data)
    headers = {**account.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    before = head(client)
    response = client.request(method, url, headers=headers,
                              content=in_chunks(body) if streamed else body)
    assert_error(response, 413, "payload_too_large")
    # The file's limit, in the docs' units, whichever check caught it (never the body
    # limit with the multipart framing added, in bytes).
    assert response.json()["error"]["message"] == "the file is larger than the limit of 48.8 KB"
    assert head(client) == before
    sent = response.request.headers
    assert ("content-length" not in sent) == streamed
    assert (sent.get("transfer-encoding") == "chunked") == streamed


@pytest.mark.parametrize(("method", "url"), UPLOADS, ids=UPLOAD_IDS)
def test_upload_just_under_the_limit_is_accepted(small_upload_client: TestClient, method: str,
                                                 url: str) -> None:
    client = small_upload_client
    account = register(client)
    data = image_bytes(size=(200, 150))
    assert len(data) < 50_000
    response = client.request(method, url, headers=account.auth, files=jpeg_file(data))
    assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize("tagged", ["nobody_{}", "{friend},nobody_{}", "@nobody_{}",
                                    "bad name!{}", "{friend}, ,nobody_{}"])
def test_tagging_an_unknown_user_is_422(client: TestClient, world: World, tagged: str) -> None:
    value = tagged.replace("{friend}", world.bob.username).format(uuid4().hex[:8])
    error = expect_error(client, "POST", "/v1/photos", 422, "unknown_tagged_user",
                         data={"tagged": value}, files=jpeg_file(), headers=world.alice.auth)
    assert "nobody_" in error["message"] or "bad name" in error["message"]


# --- request ids ----------------------------------------------------------------------------

ERROR_REQUESTS = {
    "malformed_json": ("POST", "/v1/users", raw_json("{")),
    "validation": ("POST", "/v1/users", {"json": {}}),
    "domain": ("POST", "/v1/users", {"json": {"username": "a", "email": "a@example.com",
                                              "password": "long enough", "display_name": "A"}}),
    "missing_token": ("PATCH", "/v1/users/me", {"json": {}}),
    "login": ("POST", "/v1/sessions", {"json": {"login": "ghost", "password": "nope"}}),
    "unknown_route": ("GET", "/v1/nowhere", {}),
    "wrong_method": ("DELETE", "/v1/users", {}),
    "media_key": ("GET", "/media/not-a-key", {}),
    "too_large": ("POST", "/v1/users", {"content": b"x" * 70_000,
                                        "headers": {"Content-Type": "application/json"}}),
}


@pytest.mark.parametrize(("method", "url", "kwargs"), ERROR_REQUESTS.values(),
                         ids=ERROR_REQUESTS.keys())
def test_every_error_has_the_shape_and_a_request_id(client: TestClient, method: str, url: str,
                                                    kwargs: dict) -> None:
    kwargs = {**kwargs, "headers": dict(kwargs.get("headers", {}))}
    before = head(client)
    generated = client.request(method, url, **kwargs)
    assert_error(generated, tuple(range(400, 500)))
    kwargs["headers"]["X-Request-ID"] = "client-req.42:abc"
    echoed = client.request(method, url, **kwargs)
    assert_error(echoed, generated.status_code)
    assert echoed.headers["X-Request-ID"] == "client-req.42:abc"
    assert generated.headers["X-Request-ID"] != echoed.headers["X-Request-ID"]
    assert head(client) == before


@pytest.mark.parametrize("supplied", ["has spaces", "x" * 129, "semi;colon", "new\\nline",
                                      "<script>"])
def test_a_malformed_request_id_is_replaced(client: TestClient, supplied: str) -> None:
    response = client.post("/v1/users", json={}, headers={"X-Request-ID": supplied})
    assert_error(response, 422)
    assert response.headers["X-Request-ID"] not in ("", supplied)


# --- numbers in cursors and headers: a clear 400, never an overflow -----------------------

PAGED_READS = ["/v1/timeline", "/v1/notifications", "/v1/users/{alice}/photos",
               "/v1/users/{alice}/followers", "/v1/users/{alice}/following",
               "/v1/photos/{photo_id}/comments", "/v1/search/users?q=a",
               "/v1/search/photos?q=sunset"]


def cursor_of(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


@pytest.mark.parametrize("template", PAGED_READS)
@pytest.mark.parametrize("state", [{"p": 2**63}, {"p": 10**30}, {"p": -1}, {"o": 2**63},
                                   {"o": -5}, {"p": 1.5}, {"p": "7"}],
                         ids=["p_2_63", "p_huge", "p_negative", "o_2_63", "o_negative",
                              "p_float", "p_string"])
def test_a_cursor_with_an_out_of_range_number_is_400(client: TestClient, world: World,
                                                     template: str, state: dict) -> None:
    path = template.format(alice=world.alice.user_id, photo_id=world.photo_id)
    separator = "&" if "?" in path else "?"
    response = client.get(f"{path}{separator}cursor={cursor_of(state)}",
                          headers=world.alice.auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("value", ["²", "12³", "¹0", "1e3", "-1", "5 5", "0x10", "9" * 19])
def test_x_min_position_must_be_ascii_digits(client: TestClient, world: World,
                                             value: str) -> None:
    # Latin-1 on the wire, as HTTP header bytes are read: "²" passes str.isdigit().
    response = client.get("/v1/timeline", headers={**world.alice.auth,
                                                   "X-Min-Position": value.encode("latin-1")})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_min_position"


@pytest.mark.parametrize(("size", "text"), [(20 * 1024 * 1024, "20 MB"), (65536, "64 KB"),
                                            (50_000, "48.8 KB"), (1536, "1.5 KB"),
                                            (900, "900 bytes")])
def test_sizes_in_messages_read_as_the_docs_say_them(size: int, text: str) -> None:
    from photoshare.infra.http.web import size_text

    assert size_text(size) == text
