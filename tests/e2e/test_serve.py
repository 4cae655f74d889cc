"""The real `photoshare serve` process: starts, answers /healthz, takes writes over HTTP,
logs JSON with correlation ids, and keeps everything across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from support.embedded import image_bytes
from support.serve import serve

pytestmark = pytest.mark.e2e
def test_serve_takes_writes_and_keeps_them_across_a_restart(tmp_path: Path) -> None:
    data_dir, log_path = tmp_path / "data", tmp_path / "server.log"
    with serve(data_dir, log_path) as server, httpx.Client(base_url=server.base,
                                                           timeout=10) as api:
        created = api.post("/v1/users", json={"username": "e2e_alice", "email": "e2e@x.io",
                                               "password": "long enough", "display_name": "A"},
                           headers={"X-Request-ID": "trace-me-123"})
        assert created.status_code == 201
        assert created.headers["X-Request-ID"] == "trace-me-123"
        token = api.post("/v1/sessions", json={"login": "e2e_alice",
                                               "password": "long enough"}).json()["access_token"]
        photo = api.post("/v1/photos", headers={"Authorization": f"Bearer {token}"},
                         files={"file": ("p.png", image_bytes("PNG"), "image/png")},
                         data={"caption": "first #post"})
        assert photo.status_code == 201
        position = int(photo.headers["X-Event-Position"])
        assert api.get("/openapi.json").json()["paths"]["/v1/photos"]
        assert api.get("/readyz").status_code == 200

    assert (data_dir / "events.sqlite3").exists() and (data_dir / "secret_key").exists()
    with serve(data_dir, log_path) as server, httpx.Client(base_url=server.base,
                                                           timeout=10) as api:
        # Same data dir: the same secret still verifies the old token; the photo is served.
        auth = {"Authorization": f"Bearer {token}"}
        assert api.put(f"/v1/users/me/following/{created.json()['user_id']}",
                       headers=auth).status_code == 400  # self-follow: the user still exists
        again = api.post("/v1/users", json={"username": "E2E_ALICE", "email": "x@x.io",
                                             "password": "long enough", "display_name": "B"})
        assert again.status_code == 409
        variant = api.get(photo.json()["urls"]["large"])
        assert variant.status_code == 200 and variant.headers["content-type"] == "image/jpeg"
        liked = api.put(f"/v1/photos/{photo.json()['photo_id']}/likes/me", headers=auth)
        assert liked.status_code == 204 and int(liked.headers["X-Event-Position"]) > position

    lines = [json.loads(line) for line in log_path.read_text().splitlines()
             if line.startswith("{")]
    traced = [line for line in lines if line.get("correlation_id") == "trace-me-123"]
    assert any(line.get("path") == "/v1/users" and line.get("status") == 201 for line in traced)
