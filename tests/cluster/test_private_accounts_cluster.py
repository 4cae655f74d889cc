"""Private accounts on the cluster profile: `photoshare up` (write API, read API, relay,
two Faust workers) on real PostgreSQL, Kafka, Redis, S3, with every view on Cassandra,
Redis and OpenSearch. A private account's photos stay hidden from a stranger (grid,
photo, search); a request is listed, approved, and the approved follower then gets the
posts in their home timeline and search; going public approves the rest."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support.cluster import cluster_servers, photoshare_up
from support.engines import Engines
from support.story import Person

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def test_request_approve_timeline_and_search_on_the_cluster(tmp_path: Path,
                                                            engines: Engines) -> None:
    with cluster_servers(engines, tmp_path, view_engines=True,
                         PHOTOSHARE_MIN_POSITION_WAIT_SECONDS="30") as servers, \
            photoshare_up(servers, workers=2) as base, \
            httpx.Client(base_url=base, timeout=40) as api:
        owner, fan, stranger, late = (Person(api, name, name.title())
                                      for name in ("quinn", "fay", "ned", "lou"))
        owner.write("PATCH", "/v1/users/me", 200, json={"private": True})
        photo = owner.post("quiet harbour #quietharbour")

        asked = fan.write("PUT", f"/v1/users/me/following/{owner.user_id}", 202)
        assert asked.json() == {"status": "requested"}
        late.write("PUT", f"/v1/users/me/following/{owner.user_id}", 202)
        fan.position = late.position = stranger.position = owner.position = max(
            p.position for p in (owner, fan, late, stranger))
        assert fan.read(f"/v1/users/{owner.user_id}")["relationship"] == {
            "following": False, "requested": True,
            "followed_by": False, "blocking": False, "muting": False}
        requests = owner.read("/v1/users/me/follow-requests")["items"]
        assert [r["user_id"] for r in requests] == [late.user_id, fan.user_id]

        # Before approval: no photos, no search hit, no timeline entry.
        for person in (fan, stranger):
            hidden = api.get(f"/v1/photos/{photo}",
                             headers={**person.auth, "X-Min-Position": str(person.position)})
            assert hidden.status_code == 403 and \
                hidden.json()["error"]["code"] == "private_account"
            assert person.read("/v1/search/photos?q=harbour")["items"] == []
            assert person.read("/v1/timeline")["items"] == []
        assert [p["photo_id"] for p in owner.read("/v1/search/photos?q=harbour")["items"]] \
            == [photo]

        owner.write("PUT", f"/v1/users/me/follow-requests/{fan.user_id}", 204)
        fan.position = stranger.position = owner.position
        assert [p["photo_id"] for p in fan.read("/v1/timeline")["items"]] == [photo]
        assert [p["photo_id"] for p in fan.read("/v1/search/photos?q=harbour")["items"]] \
            == [photo]
        assert fan.read("/v1/search/hashtags?q=quiet")["items"] == [
            {"tag": "quietharbour", "photos": 1}]
        assert stranger.read("/v1/search/hashtags?q=quiet")["items"] == []
        assert fan.read(f"/v1/users/{owner.user_id}/photos")["items"][0]["photo_id"] == photo
        assert [r["user_id"] for r in owner.read("/v1/users/me/follow-requests")["items"]] \
            == [late.user_id]

        # Going public approves the rest; everyone sees the photos then.
        owner.write("PATCH", "/v1/users/me", 200, json={"private": False})
        late.position = stranger.position = owner.position
        assert [p["photo_id"] for p in late.read("/v1/timeline")["items"]] == [photo]
        assert [p["photo_id"] for p in stranger.read("/v1/search/photos?q=harbour")["items"]] \
            == [photo]
        followers = {f["user_id"] for f in stranger.read(
            f"/v1/users/{owner.user_id}/followers")["items"]}
        assert followers == {fan.user_id, late.user_id}
