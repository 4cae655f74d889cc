"""Deleting a photo deletes its blobs: the original (kept, never served, with its GPS
position) and the variants, whose immutable /media URLs answer 404 from then on. Keys are
salted per upload, so a photo with the same bytes has blobs of its own and is untouched."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from photoshare.commands.messages import CommandContext, PostPhoto, StoredImage
from photoshare.infra.media.blobs import BlobStore, FilesystemBlobStore
from photoshare.infra.media.photo_ingest import ImageIngest
from photoshare.infra.s3.blobs import S3BlobStore
from support.embedded import Account, event_store, head, image_bytes, post_photo, register
from support.s3_server import empty_and_delete_bucket, make_s3_client, unique_bucket_name

# Real GPS metadata would be kept in the original; any JPEG does for the blobs.
DATA = image_bytes(size=(900, 700), color="darkolivegreen")


def posted_image(client: TestClient, photo_id: str) -> dict[str, Any]:
    """The PhotoPosted event's data: the original's key and the variants' keys."""
    return next(envelope.data for envelope in event_store(client).read_log()
                if envelope.event_type == "PhotoPosted" and envelope.data["photo_id"] == photo_id)


def media_key(url: str) -> str:
    return url.rsplit("/", 1)[1]


def stores(client: TestClient) -> tuple[BlobStore, BlobStore]:
    images = client.app.state.write.images
    return images._media, images._originals


def delete(client: TestClient, account: Account, photo_id: str) -> int:
    return client.delete(f"/v1/photos/{photo_id}", headers=account.auth).status_code


def test_two_uploads_of_the_same_bytes_get_keys_of_their_own(client: TestClient) -> None:
    account = register(client)
    first, second = post_photo(client, account, DATA), post_photo(client, account, DATA)
    assert set(first["urls"].values()).isdisjoint(second["urls"].values())
    assert (posted_image(client, first["photo_id"])["original_key"]
            != posted_image(client, second["photo_id"])["original_key"])


def test_deleting_a_photo_deletes_its_original_and_variants(client: TestClient) -> None:
    account = register(client)
    doomed = post_photo(client, account, DATA)
    kept = post_photo(client, account, DATA)  # the same bytes, another photo
    image = posted_image(client, doomed["photo_id"])
    media, originals = stores(client)
    assert isinstance(media, FilesystemBlobStore) and isinstance(originals, FilesystemBlobStore)
    files = [media.root / key[:2] / key[2:4] / key for key in image["variants"].values()]
    files.append(originals.root / image["original_key"][:2] / image["original_key"][2:4]
                 / image["original_key"])
    assert all(path.is_file() for path in files)
    etags = {url: client.get(url).headers["etag"] for url in doomed["urls"].values()}

    assert delete(client, account, doomed["photo_id"]) == 204

    assert [path for path in files if path.exists()] == []
    for url, etag in etags.items():
        assert client.get(url).status_code == 404
        # A revalidating cache gets no 304 for it either.
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 404
    for url in kept["urls"].values():
        response = client.get(url)
        assert response.status_code == 200 and response.content[:2] == b"\xff\xd8"
    assert originals.get(posted_image(client, kept["photo_id"])["original_key"]) == DATA


def test_deleting_a_deleted_photo_is_404_and_deletes_nothing_more(client: TestClient) -> None:
    account = register(client)
    doomed, kept = post_photo(client, account, DATA), post_photo(client, account, DATA)
    assert delete(client, account, doomed["photo_id"]) == 204
    before = head(client)

    response = client.delete(f"/v1/photos/{doomed['photo_id']}", headers=account.auth)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "photo_not_found"
    assert head(client) == before
    assert all(client.get(url).status_code == 200 for url in kept["urls"].values())


def test_someone_elses_photo_keeps_its_blobs(client: TestClient) -> None:
    owner, other = register(client), register(client)
    photo = post_photo(client, owner, DATA)
    assert delete(client, other, photo["photo_id"]) == 403
    assert all(client.get(url).status_code == 200 for url in photo["urls"].values())


def put_unsalted(store: FilesystemBlobStore, data: bytes) -> str:
    """Store ``data`` the way uploads were stored before per-upload salts: by content."""
    key = f"{hashlib.sha256(data).hexdigest()}.jpg"
    path = store.root / key[:2] / key[2:4] / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key


def test_photos_stored_before_per_upload_keys_keep_their_shared_blobs(
        client: TestClient) -> None:
    # Back then the same bytes gave the same keys: two photos could share every blob, and
    # deleting one photo's must not lose the other's. Those blobs stay.
    account = register(client)
    media, originals = stores(client)
    image = StoredImage(original_key=put_unsalted(originals, DATA), format="jpeg",
                        width=900, height=700,
                        variants={name: put_unsalted(media, image_bytes(size=(side, side)))
                                  for name, side in (("large", 900), ("medium", 640),
                                                     ("square", 320))})
    commands = event_store(client)
    context = CommandContext(actor_id=account.user_id, correlation_id="before-salts")
    doomed, kept = (commands.execute(PostPhoto(owner_id=account.user_id, image=image),
                                     context).value for _ in range(2))

    assert delete(client, account, doomed) == 204

    assert originals.get(image.original_key) == DATA
    for key in image.variants.values():
        assert client.get(f"/media/{key}").status_code == 200
    assert delete(client, account, kept) == 204  # and the next deletion is no different


class FailingDeletes(FilesystemBlobStore):
    """A filesystem store whose deletions (or reads) of `failing` keys fail."""

    def __init__(self, store: FilesystemBlobStore, failing: set[str], *,
                 reads: bool = False) -> None:
        super().__init__(store.root)
        self.failing, self.reads = failing, reads

    def delete(self, key: str) -> None:
        if key in self.failing:
            raise OSError("disk on fire")
        super().delete(key)

    def get(self, key: str) -> bytes | None:
        if self.reads and key in self.failing:
            raise OSError("disk on fire")
        return super().get(key)


def test_when_the_blobs_cannot_be_read_they_are_all_kept(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    # Unsure whether they are shared (stored before per-upload keys), nothing is deleted.
    account = register(client)
    photo = post_photo(client, account, DATA)
    keys = [media_key(url) for url in photo["urls"].values()]
    write = client.app.state.write
    media, originals = stores(client)
    client.app.state.write = dataclasses.replace(write, images=ImageIngest(
        media=FailingDeletes(media, set(keys), reads=True), originals=originals,
        max_pixels=10_000_000, workers=1))

    with caplog.at_level(logging.ERROR):
        assert delete(client, account, photo["photo_id"]) == 204

    assert "could not read" in caplog.text
    assert all(media.exists(key) for key in keys)


def test_a_blob_that_cannot_be_deleted_is_logged_and_the_photo_still_deleted(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    account = register(client)
    photo = post_photo(client, account, DATA)
    keys = {name: media_key(url) for name, url in photo["urls"].items()}
    write = client.app.state.write
    media, originals = stores(client)
    failing_media = FailingDeletes(media, {keys["large"]})
    client.app.state.write = dataclasses.replace(write, images=ImageIngest(
        media=failing_media, originals=originals, max_pixels=10_000_000, workers=1))

    with caplog.at_level(logging.ERROR):
        assert delete(client, account, photo["photo_id"]) == 204

    assert keys["large"] in caplog.text and "disk on fire" in caplog.text
    assert media.exists(keys["large"])  # left behind, an orphan
    assert not any(media.exists(keys[name]) for name in ("medium", "square"))
    assert not originals.exists(posted_image(client, photo["photo_id"])["original_key"])


# --- the cluster profile's object store ---------------------------------------------------


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    return make_s3_client(s3_endpoint)


@pytest.fixture
def s3_stores(s3_client: Any) -> Iterator[tuple[S3BlobStore, S3BlobStore]]:
    media = S3BlobStore(s3_client, unique_bucket_name("media"))
    originals = S3BlobStore(s3_client, unique_bucket_name("originals"))
    for store in (media, originals):
        store.ensure_bucket()
    yield media, originals
    for store in (media, originals):
        empty_and_delete_bucket(s3_client, store.bucket)


@pytest.mark.cluster
def test_with_s3_the_deleted_photos_objects_are_gone(
        client: TestClient, s3_client: Any, s3_stores: tuple[S3BlobStore, S3BlobStore]) -> None:
    media, originals = s3_stores
    app = client.app
    app.state.write = dataclasses.replace(app.state.write, images=ImageIngest(
        media=media, originals=originals, max_pixels=10_000_000, workers=1))
    app.state.media = media  # /media reads the bucket, as the cluster's read API does
    account = register(client)
    doomed, kept = post_photo(client, account, DATA), post_photo(client, account, DATA)
    image = posted_image(client, doomed["photo_id"])
    objects = [(media.bucket, key) for key in image["variants"].values()]
    objects.append((originals.bucket, image["original_key"]))
    assert all(client.get(url).status_code == 200 for url in doomed["urls"].values())

    assert delete(client, account, doomed["photo_id"]) == 204

    for bucket, key in objects:  # what the object store itself answers now
        with pytest.raises(s3_client.exceptions.NoSuchKey):
            s3_client.get_object(Bucket=bucket, Key=key)
    assert all(client.get(url).status_code == 404 for url in doomed["urls"].values())
    assert all(client.get(url).status_code == 200 for url in kept["urls"].values())
    assert originals.get(posted_image(client, kept["photo_id"])["original_key"]) == DATA
