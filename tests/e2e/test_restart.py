"""Stop the server mid-stream, even with SIGKILL, and start it again on the same data
dir: every view is intact and agrees with the log; no notification is duplicated."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from support.serve import serve

pytestmark = pytest.mark.e2e


def register(api: httpx.Client, name: str) -> tuple[str, dict[str, str]]:
    user_id = api.post("/v1/users", json={"username": name, "email": f"{name}@r.example",
                                          "password": "restart pw", "display_name": name}
                       ).json()["user_id"]
    token = api.post("/v1/sessions", json={"login": name, "password": "restart pw"}
                     ).json()["access_token"]
    return user_id, {"Authorization": f"Bearer {token}"}


def test_views_survive_a_kill_mid_stream(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    with serve(data_dir, log) as server, httpx.Client(base_url=server.base, timeout=10) as api:
        star, star_auth = register(api, "star")
        fans = [register(api, f"fan{n}") for n in range(12)]
        errors: list[str] = []

        def follow_and_unfollow(auth: dict[str, str]) -> None:
            # Keep writing while the server is killed: some of these fail, which is fine.
            try:
                for _ in range(20):
                    api.put(f"/v1/users/me/following/{star}", headers=auth)
                    api.delete(f"/v1/users/me/following/{star}", headers=auth)
                api.put(f"/v1/users/me/following/{star}", headers=auth)
            except httpx.HTTPError as error:
                errors.append(str(error))

        writers = [threading.Thread(target=follow_and_unfollow, args=(auth,))
                   for _, auth in fans]
        for writer in writers:
            writer.start()
        threading.Event().wait(0.5)
        server.kill()
        for writer in writers:
            writer.join(timeout=30)

    with serve(data_dir, log) as server, httpx.Client(base_url=server.base, timeout=10) as api:
        # Finish the story on the restarted server: every fan follows, exactly once.
        for _, auth in fans:
            response = api.put(f"/v1/users/me/following/{star}", headers=auth)
            assert response.status_code == 204
        position = response.headers["X-Event-Position"]
        read = {**star_auth, "X-Min-Position": position}
        profile = api.get(f"/v1/users/{star}", headers=read).json()
        assert profile["followers"] == len(fans)
        followers = api.get(f"/v1/users/{star}/followers?limit=100", headers=read).json()
        assert sorted(f["user_id"] for f in followers["items"]) == sorted(f for f, _ in fans)
        notes = api.get("/v1/notifications?limit=100", headers=read).json()["items"]
        assert len(notes) == len({n["notification_id"] for n in notes}) == len(fans)
        assert {n["actor"]["user_id"] for n in notes} == {f for f, _ in fans}

    # And once more, a clean restart: nothing changes.
    with serve(data_dir, log) as server, httpx.Client(base_url=server.base, timeout=10) as api:
        assert api.get(f"/v1/users/{star}", headers=read).json() == profile
        again = api.get("/v1/notifications?limit=100", headers=read).json()["items"]
        assert again == notes
