"""The real `photoshare serve` process believes X-Forwarded-For only from the proxies the
`forwarded_allow_ips` setting lists: by default from nobody, not even 127.0.0.1 (uvicorn's
own default), so a client cannot pick a fresh address per request to escape the
per-address limits. Observed through the registrations-per-address limit."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from support.serve import serve

pytestmark = pytest.mark.e2e

LIMIT = {"PHOTOSHARE_REGISTRATIONS_PER_HOUR_PER_ADDRESS": "2"}


def register(api: httpx.Client, forwarded_for: str | None = None) -> httpx.Response:
    name = f"u_{uuid4().hex[:12]}"
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return api.post("/v1/users", headers=headers,
                    json={"username": name, "email": f"{name}@example.com",
                          "password": "long enough", "display_name": name})


def test_by_default_a_forwarded_address_is_ignored(tmp_path: Path) -> None:
    with serve(tmp_path / "data", tmp_path / "server.log", **LIMIT) as server, \
            httpx.Client(base_url=server.base, timeout=10) as api:
        assert register(api, "203.0.113.9").status_code == 201
        assert register(api, "203.0.113.10").status_code == 201
        # Both counted for 127.0.0.1, the connecting address, whatever they claimed.
        refused = register(api, "198.51.100.7")
        assert refused.status_code == 429, refused.text
        assert register(api).status_code == 429


def test_a_listed_proxy_is_believed(tmp_path: Path) -> None:
    with serve(tmp_path / "data", tmp_path / "server.log", **LIMIT,
               PHOTOSHARE_FORWARDED_ALLOW_IPS="127.0.0.1, ::1") as server, \
            httpx.Client(base_url=server.base, timeout=10) as api:
        assert register(api, "203.0.113.9").status_code == 201
        assert register(api, "203.0.113.9").status_code == 201
        assert register(api, "203.0.113.9").status_code == 429  # that client's limit
        # Others are counted apart: another forwarded client, and the proxy itself.
        assert register(api, "198.51.100.7").status_code == 201
        assert register(api).status_code == 201
        # Proxies append: the client is the last address the trusted proxy did not add.
        assert register(api, "203.0.113.9, 192.0.2.1").status_code == 201
