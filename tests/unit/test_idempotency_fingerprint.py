"""What counts as "the same request" for Idempotency-Key: a client that encodes the same
request again (a new multipart boundary, other JSON spacing) is recognised; any request the
app could tell apart is not."""

from __future__ import annotations

import json

import httpx
from hypothesis import given
from hypothesis import strategies as st
from photoshare.infra.http.idempotency import Fingerprint

PATH = "/v1/photos"


def fingerprint(body: bytes, content_type: str, *, method: str = "POST", path: str = PATH,
                query: bytes = b"", chunks: list[int] | None = None) -> str:
    digest = Fingerprint(method, path, query, content_type)
    position = 0
    for size in chunks or []:
        digest.update(body[position:position + size])
        position += size
    digest.update(body[position:])
    return digest.hexdigest()


def multipart(files: dict[str, tuple[str, bytes, str]] | list[tuple[str, object]],
              data: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart body as httpx encodes it (with a new random boundary each time)."""
    request = httpx.Request("POST", "http://x" + PATH, files=files, data=data)
    return request.read(), request.headers["content-type"]


IMAGE = bytes(range(256)) * 40


def test_the_same_form_with_another_boundary_is_the_same_request() -> None:
    first = multipart({"file": ("p.jpg", IMAGE, "image/jpeg")}, {"caption": "hi"})
    again = multipart({"file": ("p.jpg", IMAGE, "image/jpeg")}, {"caption": "hi"})
    assert first[1] != again[1]  # the boundaries differ
    assert fingerprint(*first) == fingerprint(*again)


def test_another_file_caption_or_file_name_is_another_request() -> None:
    base = fingerprint(*multipart({"file": ("p.jpg", IMAGE, "image/jpeg")}, {"caption": "hi"}))
    for files, data in [({"file": ("p.jpg", IMAGE[:-1], "image/jpeg")}, {"caption": "hi"}),
                        ({"file": ("p.jpg", IMAGE, "image/jpeg")}, {"caption": "ho"}),
                        ({"file": ("q.jpg", IMAGE, "image/jpeg")}, {"caption": "hi"}),
                        ({"file": ("p.jpg", IMAGE, "image/png")}, {"caption": "hi"}),
                        ({"file": ("p.jpg", IMAGE, "image/jpeg")}, {})]:
        assert fingerprint(*multipart(files, data)) != base


def test_parts_in_another_order_are_another_request() -> None:
    one = [("file", ("a.jpg", b"a", "image/jpeg")), ("file", ("b.jpg", b"b", "image/jpeg"))]
    assert fingerprint(*multipart(one)) != fingerprint(*multipart(one[::-1]))


@given(st.lists(st.integers(min_value=1, max_value=700), max_size=20))
def test_how_the_body_arrives_in_chunks_does_not_matter(chunks: list[int]) -> None:
    body, content_type = multipart({"file": ("p.jpg", IMAGE, "image/jpeg")}, {"c": "x"})
    assert fingerprint(body, content_type, chunks=chunks) == fingerprint(body, content_type)
    json_body = b'{"text": "hello", "n": [1, 2, 3]}'
    assert (fingerprint(json_body, "application/json", chunks=chunks)
            == fingerprint(json_body, "application/json"))


def test_json_is_compared_by_value() -> None:
    value = {"text": "café", "tags": ["a", "b"], "n": 1}
    compact = json.dumps(value, separators=(",", ":")).encode()
    spaced = json.dumps(value, indent=2, ensure_ascii=False).encode()
    reordered = json.dumps(dict(reversed(value.items()))).encode()
    same = {fingerprint(body, "application/json; charset=utf-8")
            for body in (compact, spaced, reordered)}
    assert len(same) == 1
    for other in ({**value, "n": 1.0}, {**value, "n": 2}, {**value, "tags": ["b", "a"]},
                  {"text": "café", "tags": ["a", "b"]}):
        assert fingerprint(json.dumps(other).encode(), "application/json") not in same


def test_method_path_query_and_media_type_count() -> None:
    body = b'{"text": "hi"}'
    base = fingerprint(body, "application/json")
    assert fingerprint(body, "application/json", path="/v1/users") != base
    assert fingerprint(body, "application/json", method="PUT") != base
    assert fingerprint(body, "application/json", query=b"a=1") != base
    assert fingerprint(body, "text/plain") != base


def test_bodies_that_do_not_parse_are_compared_byte_for_byte() -> None:
    assert fingerprint(b"{not json", "application/json") == fingerprint(b"{not json",
                                                                        "application/json")
    assert fingerprint(b"{not json", "application/json") != fingerprint(b"{not json ",
                                                                        "application/json")
    broken = "multipart/form-data; boundary=zzz"
    assert fingerprint(b"garbage", broken) == fingerprint(b"garbage", broken)
    assert fingerprint(b"garbage", broken) != fingerprint(b"garbagf", broken)
    body, content_type = multipart({"file": ("p.jpg", IMAGE, "image/jpeg")})
    cut = body[:len(body) // 2]  # the last part never ends: its bytes must still count
    assert fingerprint(cut, content_type) != fingerprint(cut[:-1] + b"?", content_type)


def test_hostile_json_is_compared_byte_for_byte() -> None:
    deep = b"[" * 60_000 + b"]" * 60_000
    assert fingerprint(deep, "application/json") == fingerprint(deep, "application/json")
    assert fingerprint(deep, "application/json") != fingerprint(deep + b" ", "application/json")
