"""Block and mute on the cluster profile over HTTP: `photoshare up` (write API, read API,
relay, two Faust workers) on real PostgreSQL, Kafka, Redis and the moto S3 server, with
the views in Cassandra, Redis and OpenSearch. A block ends the follows both ways and the
blocked person gets 404 for the blocker; a mute takes the muted person's posts (the
already materialized ones too) off the timeline and their activity off the
notifications."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from support.cluster import cluster_servers, photoshare_up
from support.engines import Engines
from support.story import Person

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def test_block_and_mute_on_the_cluster_views(tmp_path: Path, engines: Engines) -> None:
    with cluster_servers(engines, tmp_path, view_engines=True,
                         PHOTOSHARE_MIN_POSITION_WAIT_SECONDS="30") as servers, \
            photoshare_up(servers, workers=2) as base, \
            httpx.Client(base_url=base, timeout=40) as api:
        tag = uuid4().hex[:6]
        ann, bob, cy = (Person(api, f"{name}_{tag}", name.title()) for name in ("ann", "bob", "cy"))
        ann.write("PUT", f"/v1/users/me/following/{bob.user_id}", 204)
        bob.write("PUT", f"/v1/users/me/following/{ann.user_id}", 204)
        ann.write("PUT", f"/v1/users/me/following/{cy.user_id}", 204)
        photo = ann.post(f"ann's #c{tag}")
        cys = cy.post("cy before the mute")
        ann.position = max(ann.position, cy.position, bob.position)
        assert cys in [p["photo_id"] for p in ann.read("/v1/timeline")["items"]]

        # Block: the follows end both ways; Bob gets 404 and cannot follow back.
        ann.write("PUT", f"/v1/users/me/blocks/{bob.user_id}", 204)
        assert ann.read(f"/v1/users/{ann.user_id}")["followers"] == 0
        assert ann.read(f"/v1/users/{bob.user_id}")["followers"] == 0
        assert [u["user_id"] for u in ann.read(f"/v1/users/{ann.user_id}/following")["items"]] \
            == [cy.user_id]
        bob.position = ann.position
        for path in (f"/v1/users/{ann.user_id}", f"/v1/users/{ann.user_id}/photos",
                     f"/v1/photos/{photo}"):
            response = api.get(path, headers={**bob.auth, "X-Min-Position": str(bob.position)})
            assert response.status_code == 404, (path, response.text)
        refused = api.put(f"/v1/users/me/following/{ann.user_id}", headers=bob.auth)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "user_not_found"
        assert ann.user_id not in [u["user_id"] for u in bob.read(f"/v1/search/users?q=ann_{tag}")
                                   ["items"]]
        assert bob.read("/v1/users/me/blocks")["items"] == []
        assert [u["user_id"] for u in ann.read("/v1/users/me/blocks")["items"]] == [bob.user_id]

        # Mute: Cy's post already on Ann's timeline leaves it; his like raises nothing.
        ann.write("PUT", f"/v1/users/me/mutes/{cy.user_id}", 204)
        cy.write("PUT", f"/v1/photos/{photo}/likes/me", 204)
        ann.position = max(ann.position, cy.position)
        assert [p["photo_id"] for p in ann.read("/v1/timeline")["items"]] == [photo]
        assert ann.read("/v1/notifications")["items"] == []
        assert ann.read(f"/v1/users/{cy.user_id}")["relationship"] == {
            "following": True, "requested": False,
            "followed_by": False, "blocking": False, "muting": True}
        ann.write("DELETE", f"/v1/users/me/mutes/{cy.user_id}", 204)
        assert cys in [p["photo_id"] for p in ann.read("/v1/timeline")["items"]]
        assert [n["actor"]["user_id"] for n in ann.read("/v1/notifications")["items"]] == [
            cy.user_id]
