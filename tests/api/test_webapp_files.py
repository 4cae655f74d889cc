"""The web app's files as a browser downloads them (infra/http/webapp.py): gzipped when
the browser accepts it, each representation with its own validator, plain otherwise."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photoshare.infra.http.webapp import accepts_gzip

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"


def raw(client: TestClient, path: str, **headers: str):  # type: ignore[no-untyped-def]
    """The response with its body as sent (httpx would undo the gzip)."""
    with client.stream("GET", path, headers=headers) as response:
        body = b"".join(response.iter_raw())
    return response, body


@pytest.mark.parametrize("path", ["/app.js", "/style.css", "/"])
def test_text_files_go_gzipped_to_a_browser_that_accepts_it(client: TestClient,
                                                           path: str) -> None:
    on_disk = (WEBAPP / ("index.html" if path == "/" else path.lstrip("/"))).read_bytes()
    zipped, body = raw(client, path, **{"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(body) == on_disk
    if path == "/app.js":
        assert len(body) < len(on_disk) / 3
    plain, body = raw(client, path, **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and body == on_disk
    assert plain.headers["vary"] == "Accept-Encoding"
    assert plain.headers["etag"] != zipped.headers["etag"]  # two representations
    # Each validator answers 304 for its own representation only.
    for response, encoding in ((zipped, "gzip"), (plain, "identity")):
        again, body = raw(client, path, **{"Accept-Encoding": encoding,
                                           "If-None-Match": response.headers["etag"]})
        assert (again.status_code, body) == (304, b"")
        assert again.headers["etag"] == response.headers["etag"]
    crossed, _ = raw(client, path, **{"Accept-Encoding": "identity",
                                      "If-None-Match": zipped.headers["etag"]})
    assert crossed.status_code == 200


def test_head_gives_the_length_of_what_get_sends(client: TestClient) -> None:
    zipped = client.head("/app.js", headers={"Accept-Encoding": "gzip"})
    _, body = raw(client, "/app.js", **{"Accept-Encoding": "gzip"})
    assert int(zipped.headers["content-length"]) == len(body)
    plain = client.head("/app.js", headers={"Accept-Encoding": "identity"})
    assert int(plain.headers["content-length"]) == (WEBAPP / "app.js").stat().st_size


@pytest.mark.parametrize("header,accepted", [
    ("gzip", True), ("deflate, gzip;q=1.0", True), ("GZIP", True), ("*", True),
    ("gzip;q=0.5, br", True), ("gzip;q=0", False), ("gzip; q=0.0", False), ("br", False),
    ("", False), ("identity", False), ("gzip;q=nonsense", False), ("x-gzip", False),
])
def test_accept_encoding_is_read_as_http_says(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted
