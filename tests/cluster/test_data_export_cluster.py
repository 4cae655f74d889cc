"""Download your data on the cluster profile: `photoshare up` (the read API in its own
process, behind the gateway), originals in S3 (moto), views in Cassandra. The zip is
streamed through the gateway and holds the person's data, read after their writes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest
from support.cluster import cluster_servers, photoshare_up
from support.embedded import distinct_jpeg
from support.engines import Engines
from support.story import Person

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def test_the_export_on_the_cluster_profile(tmp_path: Path, engines: Engines) -> None:
    with cluster_servers(engines, tmp_path, view_engines=True,
                         PHOTOSHARE_MIN_POSITION_WAIT_SECONDS="30") as servers, \
            photoshare_up(servers, workers=2) as base, \
            httpx.Client(base_url=base, timeout=60) as api:
        ann, bob = Person(api, "ann", "Ann"), Person(api, "bob", "Bob")
        originals = {seed: distinct_jpeg(seed, (320, 240)) for seed in (21, 22)}
        mine = {seed: ann.write("POST", "/v1/photos", 201, data={"caption": f"n°{seed}"},
                                files={"file": ("p.jpg", data, "image/jpeg")}
                                ).json()["photo_id"] for seed, data in originals.items()}
        bobs = bob.post("bob's own #sunset")
        said = ann.write("POST", f"/v1/photos/{bobs}/comments", 201,
                         json={"text": "ann on bob's"}).json()["comment_id"]
        bob.write("POST", f"/v1/photos/{mine[21]}/comments", 201, json={"text": "bob here"})
        ann.write("PUT", f"/v1/photos/{bobs}/likes/me", 204)
        ann.write("PUT", f"/v1/users/me/following/{bob.user_id}", 204)
        bob.write("PUT", f"/v1/users/me/following/{ann.user_id}", 204)

        # Read after every write of both (bob's follow makes ann's followers).
        with api.stream("GET", "/v1/users/me/export", headers={
                **ann.auth, "X-Min-Position": str(max(ann.position, bob.position))}) as answer:
            assert answer.status_code == 200, answer.read()
            assert answer.headers["content-type"] == "application/zip"
            assert "X-Read-Stale" not in answer.headers
            assert answer.headers["content-disposition"].startswith(
                'attachment; filename="photoshare-ann-')
            body = b"".join(answer.iter_bytes())
        archive = zipfile.ZipFile(io.BytesIO(body))
        assert archive.testzip() is None

        for seed, photo_id in mine.items():  # from S3, byte for byte
            assert archive.read(f"photos/{photo_id}.jpg") == originals[seed]
        photos = json.loads(archive.read("photos.json"))
        assert [p["photo_id"] for p in photos] == [mine[22], mine[21]]
        assert [p["comments"] for p in photos] == [0, 1]
        assert [(c["comment_id"], c["photo_id"], c["text"])
                for c in json.loads(archive.read("comments.json"))] == [
            (said, bobs, "ann on bob's")]
        assert [like["photo_id"] for like in json.loads(archive.read("likes.json"))] == [bobs]
        assert [p["username"] for p in json.loads(archive.read("following.json"))] == ["bob"]
        assert [p["username"] for p in json.loads(archive.read("followers.json"))] == ["bob"]
        assert json.loads(archive.read("profile.json"))["counts"] == {
            "followers": 1, "following": 1, "photos": 2}
        everything = b"".join(archive.read(name) for name in archive.namelist())
        assert b"bob here" not in everything and b"bob's own" not in everything

        assert api.get("/v1/users/me/export").status_code == 401
