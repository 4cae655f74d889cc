"""`/docs` (Swagger UI) and `/redoc` work without internet: every script, style and icon
they load is served by the app itself, in every API process (the embedded app, the
cluster's write and read APIs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from photoshare.infra.roots.embedded import create_embedded_app
from support.embedded import cheap_settings

# What each page loads, and the content type each asset must come with.
EXPECTED_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
# Where the bundles say they are from (a first line of each file's own header).
SIGNATURES = {"swagger-ui-bundle.js": b"SwaggerUIBundle", "redoc.standalone.js": b"Redoc",
              "swagger-ui.css": b".swagger-ui"}


def asset_urls(html: str) -> list[str]:
    """Every URL the page loads by itself: script src, link href, and the spec URL."""
    found = re.findall(r'<(?:script|link)[^>]*?(?:src|href)=["\']([^"\']+)["\']', html)
    found += re.findall(r"""(?:url|spec-url)\s*[:=]\s*['"]([^'"]+)['"]""", html)
    return found


def check_docs(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        answer = client.get(page)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(
            "text/html")
        html = answer.text
        assert "//" not in "".join(re.findall(r'(?:src|href)=["\']([^"\']+)', html)), html
        assert not re.search(r"https?://", html), f"{page} names another origin:\n{html}"
        urls = asset_urls(html)
        assert any(u.endswith(".js") for u in urls) and "/openapi.json" in urls, urls
        for url in urls:
            assert url.startswith("/"), url
            loaded = client.get(url)
            assert loaded.status_code == 200, (page, url)
            suffix = Path(url).suffix
            if suffix in EXPECTED_TYPES:
                assert loaded.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), url
            name = url.rsplit("/", 1)[-1]
            if name in SIGNATURES:
                assert SIGNATURES[name] in loaded.content[:2_000_000], name
    assert client.get("/docs/oauth2-redirect").status_code == 200
    missing = client.get("/docs/assets/nothing.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/docs/assets/..%2Fapidocs.py").status_code == 404
    # The docs pages are not part of the API's own description.
    assert not [p for p in client.get("/openapi.json").json()["paths"] if "docs" in p]


def test_the_embedded_apps_docs_load_only_their_own_assets(tmp_path: Path) -> None:
    with TestClient(create_embedded_app(cheap_settings(tmp_path / "data"))) as client:
        check_docs(client)


@pytest.fixture
def cluster_apps(tmp_path: Path, postgres_dsn: str) -> Iterator[list[FastAPI]]:
    from photoshare.infra.roots.cluster import create_read_app, create_write_app

    settings = cheap_settings(tmp_path / "data", profile="cluster", postgres_dsn=postgres_dsn,
                              view_stores="sqlite")
    yield [create_write_app(settings), create_read_app(settings)]


@pytest.mark.cluster
def test_the_cluster_apis_docs_load_only_their_own_assets(cluster_apps: list[FastAPI]) -> None:
    for app in cluster_apps:
        with TestClient(app) as client:
            check_docs(client)
