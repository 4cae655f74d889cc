"""Download your data (GET /v1/users/me/export) on the real embedded app: the zip holds
the caller's profile, photos with their originals byte for byte, comments, likes,
follows and followers, and nothing of anyone else's; anonymous callers get 401; one
export per person at a time."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from fastapi.testclient import TestClient

from support.embedded import Account, distinct_jpeg, head, image_bytes, post_photo, register

FILES = {"README.txt", "profile.json", "photos.json", "comments.json", "likes.json",
         "following.json", "followers.json", "blocks.json", "mutes.json"}


def export(client: TestClient, account: Account) -> zipfile.ZipFile:
    response = client.get("/v1/users/me/export",
                          headers={**account.auth, "X-Min-Position": str(head(client))})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="photoshare-{account.username}-')
    assert response.headers["content-disposition"].endswith('.zip"')
    assert response.headers["cache-control"] == "private, no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None  # every entry's CRC checks out
    return archive


def read_json(archive: zipfile.ZipFile, name: str) -> Any:
    return json.loads(archive.read(name))


def test_the_zip_holds_the_account_and_nothing_of_anyone_else(client: TestClient) -> None:
    ann, bob, cy = register(client), register(client), register(client)
    client.patch("/v1/users/me", headers=ann.auth, json={"bio": "photos of the sea",
                                                         "location": "Brest"})
    avatar = image_bytes("PNG", (120, 120), "orange")
    assert client.put("/v1/users/me/avatar", headers=ann.auth,
                      files={"file": ("me.png", avatar, "image/png")}).status_code == 200
    originals = {seed: distinct_jpeg(seed) for seed in (1, 2, 3)}
    mine = {seed: post_photo(client, ann, data, caption=f"sea n°{seed} #brest",
                             location="Brest", tagged=bob.username if seed == 2 else "",
                             alt_text=f"waves, take {seed}")["photo_id"]
            for seed, data in originals.items()}
    gone = post_photo(client, ann, distinct_jpeg(4), caption="gone before the export")["photo_id"]
    assert client.delete(f"/v1/photos/{gone}", headers=ann.auth).status_code == 204
    bobs = post_photo(client, bob, distinct_jpeg(5), caption="bob's secret sunset")["photo_id"]

    def comment(account: Account, photo_id: str, text: str) -> str:
        response = client.post(f"/v1/photos/{photo_id}/comments", headers=account.auth,
                               json={"text": text})
        assert response.status_code == 201, response.text
        return response.json()["comment_id"]

    on_bobs = comment(ann, bobs, "ann says: lovely light")
    on_mine = comment(ann, mine[1], "ann says: my favourite")
    undone = comment(ann, mine[2], "ann says: typo")
    client.delete(f"/v1/photos/{mine[2]}/comments/{undone}", headers=ann.auth)
    comment(bob, mine[1], "bob says: wow")  # on ann's photo, but bob's words
    comment(cy, bobs, "cy says: hello")
    for account, photo_id in ((ann, bobs), (ann, mine[3]), (bob, mine[1]), (cy, bobs)):
        assert client.put(f"/v1/photos/{photo_id}/likes/me",
                          headers=account.auth).status_code == 204
    for follower, followee in ((ann, bob), (bob, ann), (cy, ann), (bob, cy)):
        client.put(f"/v1/users/me/following/{followee.user_id}", headers=follower.auth)
    dee = register(client)
    for path in (f"blocks/{dee.user_id}", f"mutes/{cy.user_id}"):
        assert client.put(f"/v1/users/me/{path}", headers=ann.auth).status_code == 204

    archive = export(client, ann)

    photo_files = {f"photos/{mine[seed]}.jpg": data for seed, data in originals.items()}
    assert set(archive.namelist()) == FILES | set(photo_files) | {"avatar.jpg"}
    for name, data in photo_files.items():  # the uploads, untouched (EXIF and all)
        assert archive.read(name) == data
    assert client.get(f"/media/{read_json(archive, 'profile.json')['avatar']['key']}"
                      ).content == archive.read("avatar.jpg")

    profile = read_json(archive, "profile.json")
    assert {key: profile[key] for key in ("user_id", "username", "display_name", "bio",
                                          "location", "counts")} == {
        "user_id": ann.user_id, "username": ann.username, "display_name": ann.username.title(),
        "bio": "photos of the sea", "location": "Brest",
        "counts": {"followers": 2, "following": 1, "photos": 3}}
    assert profile["avatar"]["file"] == "avatar.jpg"
    assert profile["avatar"]["url"].startswith("/media/")

    photos = read_json(archive, "photos.json")
    assert [photo["photo_id"] for photo in photos] == [mine[3], mine[2], mine[1]]
    by_seed = {seed: next(p for p in photos if p["photo_id"] == mine[seed]) for seed in mine}
    for seed, photo in by_seed.items():
        assert photo["caption"] == f"sea n°{seed} #brest"
        assert (photo["location"], photo["hashtags"]) == ("Brest", ["brest"])
        assert photo["alt_text"] == f"waves, take {seed}"
        assert photo["original"] == f"photos/{mine[seed]}.jpg"
        assert photo["posted_at"]
        assert set(photo["variants"]) >= {"large", "medium", "square"}
    assert by_seed[2]["tagged_users"] == [{"user_id": bob.user_id, "username": bob.username}]
    assert by_seed[1]["tagged_users"] == []
    assert (by_seed[1]["likes"], by_seed[1]["comments"]) == (1, 2)
    assert (by_seed[3]["likes"], by_seed[3]["comments"]) == (1, 0)

    comments = read_json(archive, "comments.json")
    assert [(c["comment_id"], c["photo_id"], c["text"]) for c in comments] == [
        (on_mine, mine[1], "ann says: my favourite"),
        (on_bobs, bobs, "ann says: lovely light")]
    assert all(c["created_at"] for c in comments)
    assert read_json(archive, "likes.json") == [
        {"photo_id": mine[3], "owner_id": ann.user_id, "owner_username": ann.username},
        {"photo_id": bobs, "owner_id": bob.user_id, "owner_username": bob.username}]

    def people(*accounts: Account) -> list[dict[str, str]]:
        return [{"user_id": a.user_id, "username": a.username,
                 "display_name": a.username.title()} for a in accounts]

    assert read_json(archive, "following.json") == people(bob)
    assert read_json(archive, "followers.json") == people(cy, bob)  # newest first
    assert read_json(archive, "blocks.json") == people(dee)
    assert read_json(archive, "mutes.json") == people(cy)
    readme = archive.read("README.txt").decode()
    assert all(name.split("/")[0] in readme for name in FILES - {"README.txt"} | {"photos/"})

    # Nothing of anyone else's: not their words, not their photos, not the deleted one.
    everything = b"".join(archive.read(name) for name in archive.namelist())
    for foreign in (b"bob says", b"cy says", "bob's secret sunset".encode(),
                    b"gone before the export", gone.encode(), distinct_jpeg(5), distinct_jpeg(4), b"typo"):
        assert foreign not in everything


def test_an_account_with_nothing_gets_every_file_empty(client: TestClient) -> None:
    dee = register(client)
    archive = export(client, dee)
    assert set(archive.namelist()) == FILES
    for name in FILES - {"README.txt", "profile.json"}:
        assert read_json(archive, name) == []
    assert read_json(archive, "profile.json")["avatar"] is None


def test_another_persons_export_is_theirs(client: TestClient) -> None:
    ann, bob = register(client), register(client)
    post_photo(client, ann, distinct_jpeg(11), caption="ann's only")
    bobs = post_photo(client, bob, distinct_jpeg(12), caption="bob's only")["photo_id"]
    archive = export(client, bob)
    assert [p["photo_id"] for p in read_json(archive, "photos.json")] == [bobs]
    assert read_json(archive, "profile.json")["user_id"] == bob.user_id
    assert archive.read(f"photos/{bobs}.jpg") == distinct_jpeg(12)


def test_no_export_without_a_valid_token(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"},
                    {"Authorization": "Basic YW5uOnB3"}):
        response = client.get("/v1/users/me/export", headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/json"
        assert "code" in response.json()["error"]


def test_a_bad_min_position_is_a_400(client: TestClient) -> None:
    ann = register(client)
    response = client.get("/v1/users/me/export",
                          headers={**ann.auth, "X-Min-Position": "soon"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_min_position"


def test_one_export_per_person_at_a_time(client: TestClient) -> None:
    """While a person's export runs (its place held here, as a running export holds it),
    another of theirs is a 429 with Retry-After; other people's go ahead; once it ends,
    the person may export again."""
    ann, bob = register(client), register(client)
    gate = client.app.state.export.gate
    release = gate.enter(ann.user_id)
    assert release is not None
    refused = client.get("/v1/users/me/export", headers=ann.auth)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "export_in_progress"
    assert int(refused.headers["retry-after"]) > 0
    assert client.get("/v1/users/me/export", headers=bob.auth).status_code == 200
    release()
    assert client.get("/v1/users/me/export", headers=ann.auth).status_code == 200
    assert not gate.running(ann.user_id)  # a finished export gives its place back


def test_too_many_exports_at_once_are_refused(client: TestClient) -> None:
    gate = client.app.state.export.gate
    held = [gate.enter(f"someone-{n}") for n in range(gate.max_running)]
    assert all(held)
    ann = register(client)
    refused = client.get("/v1/users/me/export", headers=ann.auth)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_exports"
    for release in held:
        release()
    assert client.get("/v1/users/me/export", headers=ann.auth).status_code == 200


def test_a_photo_whose_original_the_view_does_not_know_is_listed_without_one(
        client: TestClient, settings) -> None:
    """A view row made before the view kept originals' keys (until `projections rebuild
    photos`): the photo is listed, its `original` null, and the zip has no file for it."""
    from photoshare.infra.sqlite.viewdb import connect

    ann = register(client)
    old = post_photo(client, ann, distinct_jpeg(31), caption="from before")["photo_id"]
    new = post_photo(client, ann, distinct_jpeg(32), caption="from after")["photo_id"]
    head_now = head(client)
    client.get("/v1/users/me", headers={**ann.auth, "X-Min-Position": str(head_now)})
    views = connect(settings.views_path)
    views.execute("UPDATE photos SET original_key = NULL WHERE photo_id = ?", (old,))
    views.close()

    archive = export(client, ann)
    photos = {p["photo_id"]: p for p in read_json(archive, "photos.json")}
    assert photos[old]["original"] is None and photos[old]["caption"] == "from before"
    assert photos[new]["original"] == f"photos/{new}.jpg"
    assert [n for n in archive.namelist() if n.startswith("photos/")] == [f"photos/{new}.jpg"]
