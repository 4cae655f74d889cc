"""One contract for every BlobStore: the filesystem store and the S3 store on real S3 servers.

The S3 store runs on two servers, the session's moto and S3Proxy (what `make cluster`
runs); each S3 test gets a bucket of its own.
The S3-only tests at the end cover what only that adapter promises: immutable caching headers,
presigned URLs, bucket creation, and no request for a key that is not valid.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from photoshare.infra.media.blobs import (
    ALLOWED_EXTENSIONS,
    SALT_BYTES,
    BlobStore,
    FilesystemBlobStore,
    InvalidBlobKeyError,
    new_salt,
)
from photoshare.infra.media.blobs import IMMUTABLE_CACHE_CONTROL as IMMUTABLE
from photoshare.infra.s3.blobs import MAX_URL_SECONDS, S3BlobStore
from support.s3_server import (
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    empty_and_delete_bucket,
    make_s3_client,
    unique_bucket_name,
)

pytestmark = pytest.mark.cluster

DATA = b"\xff\xd8\xff not really a jpeg, but blobs do not care"
SALT = bytes(range(SALT_BYTES))  # one upload's salt
DIGEST = hashlib.sha256(SALT + DATA).hexdigest()
MISSING_KEY = f"{'0' * 64}.jpg"

INVALID_KEYS = [
    "../x",
    "..",
    "",
    f"../{DIGEST}.jpg",
    f"{DIGEST[:2]}/{DIGEST[2:]}.jpg",
    f"{DIGEST.upper()}.jpg",
    f"{DIGEST[:63]}.jpg",
    f"{DIGEST}.gif",
    f"{DIGEST}.JPG",
    f"{DIGEST}",
    f"{DIGEST}.jpg\n",
    f" {DIGEST}.jpg",
    f"{DIGEST}.jpg.png",
    f"{DIGEST}.jpg\x00",
]
INVALID_EXTENSIONS = ["gif", "JPG", ".jpg", "jpeg", "", "jpg/..", "../jpg"]
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                 "avif": "image/avif", "heic": "image/heic"}


# --- fixtures ---------------------------------------------------------------------------


# The S3 servers the S3 store runs on, by the name of the session fixture that starts each.
S3_SERVERS = {"moto": "s3_endpoint", "s3proxy": "s3proxy_endpoint"}
_clients: dict[str, Any] = {}
_client_of_bucket: dict[str, Any] = {}


def client_for(endpoint: str) -> Any:
    """One client per server, shared by the tests (the contract is about the store)."""
    if endpoint not in _clients:
        _clients[endpoint] = make_s3_client(endpoint)
    return _clients[endpoint]


@pytest.fixture(scope="module", params=list(S3_SERVERS))
def s3_server(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(S3_SERVERS[request.param])


@pytest.fixture(scope="module")
def s3_client(s3_server: str) -> Any:
    return client_for(s3_server)


@contextmanager
def bucket_store(client: Any) -> Iterator[S3BlobStore]:
    store = S3BlobStore(client, unique_bucket_name("blobs"))
    store.ensure_bucket()
    _client_of_bucket[store.bucket] = client
    yield store
    empty_and_delete_bucket(client, store.bucket)


@pytest.fixture
def s3_store(s3_client: Any) -> Iterator[S3BlobStore]:
    with bucket_store(s3_client) as store:
        yield store


@pytest.fixture(params=["filesystem", *(f"s3-{server}" for server in S3_SERVERS)])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[BlobStore]:
    if request.param == "filesystem":
        yield FilesystemBlobStore(tmp_path / "blobs")
        return
    # Looked up lazily so the filesystem runs never start an S3 server.
    endpoint = request.getfixturevalue(S3_SERVERS[request.param.removeprefix("s3-")])
    with bucket_store(client_for(endpoint)) as s3:
        yield s3


@pytest.fixture
def stored_keys(store: BlobStore) -> Callable[[], list[str]]:
    """Every key the backend holds, read around the store, to see what was really written."""
    if isinstance(store, S3BlobStore):
        client = _client_of_bucket[store.bucket]
        return lambda: sorted(item["Key"] for item in client.list_objects_v2(
            Bucket=store.bucket).get("Contents", []))
    assert isinstance(store, FilesystemBlobStore)
    return lambda: sorted(path.name for path in store.root.rglob("*") if path.is_file())


@pytest.fixture
def s3_requests(s3_client: Any) -> Iterator[list[str]]:
    """``"METHOD path"`` of each HTTP request the shared S3 client sends during the test."""
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(f"{request.method} {httpx.URL(request.url).path}")

    s3_client.meta.events.register("before-send.s3", record, unique_id="contract-recorder")
    yield sent
    s3_client.meta.events.unregister("before-send.s3", unique_id="contract-recorder")


# --- the contract: every BlobStore ------------------------------------------------------


def test_put_returns_the_key_of_salt_and_bytes_and_get_returns_the_bytes(store):
    key = store.put(DATA, extension="jpg", salt=SALT)
    assert key == f"{DIGEST}.jpg"
    assert store.get(key) == DATA


def test_same_salt_and_bytes_give_the_same_key_and_are_stored_once(store, stored_keys):
    # A retry of one upload: harmless.
    first = store.put(DATA, extension="png", salt=SALT)
    second = store.put(DATA, extension="png", salt=SALT)
    assert first == second
    assert stored_keys() == [first]


def test_same_bytes_under_another_salt_are_another_blob(store, stored_keys):
    # Two uploads of the same bytes never share a blob, so deleting one's is always safe.
    first = store.put(DATA, extension="jpg", salt=new_salt())
    second = store.put(DATA, extension="jpg", salt=new_salt())
    assert first != second
    assert stored_keys() == sorted([first, second])
    assert store.get(first) == store.get(second) == DATA


def test_delete_removes_the_blob_and_only_it(store, stored_keys):
    key = store.put(DATA, extension="jpg", salt=SALT)
    other = store.put(DATA, extension="jpg", salt=new_salt())
    store.delete(key)
    assert not store.exists(key)
    assert store.get(key) is None
    assert stored_keys() == [other]
    assert store.get(other) == DATA


def test_delete_of_a_missing_blob_is_no_error(store, stored_keys):
    store.delete(MISSING_KEY)
    key = store.put(DATA, extension="png", salt=SALT)
    store.delete(key)
    store.delete(key)  # twice: a retried deletion
    assert stored_keys() == []


def test_same_bytes_with_another_extension_are_another_blob(store, stored_keys):
    keys = {store.put(DATA, extension="jpg", salt=SALT), store.put(DATA, extension="webp", salt=SALT)}
    assert stored_keys() == sorted(keys) == [f"{DIGEST}.jpg", f"{DIGEST}.webp"]


def test_exists_before_and_after_put(store):
    key = f"{DIGEST}.jpg"
    assert not store.exists(key)
    store.put(DATA, extension="jpg", salt=SALT)
    assert store.exists(key)


def test_get_of_a_missing_valid_key_is_none(store):
    store.put(DATA, extension="jpg", salt=SALT)  # the store is not empty, just lacks this key
    assert store.get(MISSING_KEY) is None
    assert not store.exists(MISSING_KEY)


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_refused(store, key):
    with pytest.raises(InvalidBlobKeyError):
        store.get(key)
    with pytest.raises(InvalidBlobKeyError):
        store.exists(key)
    with pytest.raises(InvalidBlobKeyError):
        store.delete(key)


@pytest.mark.parametrize("extension", INVALID_EXTENSIONS)
def test_an_unsupported_extension_is_refused_and_stores_nothing(store, stored_keys, extension):
    with pytest.raises(InvalidBlobKeyError):
        store.put(DATA, extension=extension, salt=SALT)
    assert stored_keys() == []


@pytest.mark.parametrize("extension", sorted(ALLOWED_EXTENSIONS))
def test_every_allowed_extension_round_trips(store, extension):
    key = store.put(DATA, extension=extension, salt=SALT)
    assert key == f"{DIGEST}.{extension}"
    assert store.get(key) == DATA


def test_an_empty_blob_round_trips(store):
    assert store.get(store.put(b"", extension="jpg", salt=SALT)) == b""


def test_a_two_megabyte_blob_round_trips(store):
    data = random.Random(7).randbytes(2 * 1024 * 1024)
    key = store.put(data, extension="jpg", salt=SALT)
    assert key == f"{hashlib.sha256(SALT + data).hexdigest()}.jpg"
    assert store.get(key) == data


def test_chunks_stream_the_blob_in_pieces_of_at_most_the_size_asked(store):
    """What the data export copies originals with: every piece at most `chunk_size`
    bytes, together the blob's bytes; an empty blob is no piece."""
    data = random.Random(7).randbytes(300_001)
    key = store.put(data, extension="jpg", salt=SALT)
    pieces = list(store.chunks(key, 65_536))
    assert b"".join(pieces) == data
    assert max(len(piece) for piece in pieces) <= 65_536 and len(pieces) >= 5
    empty = store.put(b"", extension="png", salt=SALT)
    assert b"".join(store.chunks(empty, 1024)) == b""


def test_chunks_of_a_missing_blob_are_none_and_an_invalid_key_is_refused(store):
    assert store.chunks(MISSING_KEY) is None
    with pytest.raises(InvalidBlobKeyError):
        store.chunks("../x")


def test_chunks_closed_early_give_the_blob_back(store):
    """An export cut short (the client went away) closes its iterator: the file or
    connection goes back, and the store still serves the blob."""
    data = random.Random(8).randbytes(200_000)
    key = store.put(data, extension="jpg", salt=SALT)
    for _ in range(20):  # more than a connection pool's size, if each leaked one
        pieces = store.chunks(key, 1024)
        assert next(pieces) == data[:1024]
        pieces.close()
    assert store.get(key) == data


def test_concurrent_puts_of_the_same_bytes(store, stored_keys):
    start = threading.Barrier(8)
    keys: list[str] = []
    errors: list[BaseException] = []

    def put() -> None:
        start.wait()
        try:
            keys.append(store.put(DATA, extension="jpg", salt=SALT))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert keys == [f"{DIGEST}.jpg"] * 8
    assert stored_keys() == [f"{DIGEST}.jpg"]
    assert store.get(f"{DIGEST}.jpg") == DATA


# --- S3 only ----------------------------------------------------------------------------


@pytest.mark.parametrize("extension", sorted(ALLOWED_EXTENSIONS))
def test_s3_objects_are_immutable_and_typed(s3_store, s3_client, extension):
    key = s3_store.put(DATA, extension=extension, salt=SALT)
    head = s3_client.head_object(Bucket=s3_store.bucket, Key=key)
    assert head["CacheControl"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert head["ContentType"] == CONTENT_TYPES[extension]
    assert head["ContentLength"] == len(DATA)


def test_s3_put_is_one_request(s3_store, s3_requests):
    # Keys are salted per upload: a HEAD first would nearly always answer "not there".
    key = s3_store.put(DATA, extension="jpg", salt=SALT)
    assert s3_requests == [f"PUT /{s3_store.bucket}/{key}"]


def test_s3_delete_is_one_request_and_the_object_is_gone(s3_store, s3_client, s3_requests):
    key = s3_store.put(DATA, extension="jpg", salt=SALT)
    s3_requests.clear()
    s3_store.delete(key)
    assert s3_requests == [f"DELETE /{s3_store.bucket}/{key}"]
    with pytest.raises(ClientError, match="NoSuchKey"):  # what the object store answers now
        s3_client.get_object(Bucket=s3_store.bucket, Key=key)


def test_s3_invalid_keys_and_extensions_send_no_request(s3_store, s3_requests):
    for key in INVALID_KEYS:
        for call in (s3_store.get, s3_store.exists, s3_store.url_for, s3_store.delete):
            with pytest.raises(InvalidBlobKeyError):
                call(key)
    for extension in INVALID_EXTENSIONS:
        with pytest.raises(InvalidBlobKeyError):
            s3_store.put(DATA, extension=extension, salt=SALT)
    assert s3_requests == []


def test_s3_presigned_url_serves_the_bytes(s3_store):
    key = s3_store.put(DATA, extension="png", salt=SALT)
    url = s3_store.url_for(key, expires_seconds=60)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url  # SigV4, not legacy SigV2
    response = httpx.get(url, trust_env=False)
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == IMMUTABLE


@pytest.mark.parametrize("seconds", [0, -1, MAX_URL_SECONDS + 1])
def test_s3_presigned_url_lifetime_is_bounded(s3_store, seconds):
    with pytest.raises(ValueError):
        s3_store.url_for(f"{DIGEST}.jpg", expires_seconds=seconds)


def test_s3_ensure_bucket_is_idempotent(s3_client):
    store = S3BlobStore(s3_client, unique_bucket_name("ensure"))
    with pytest.raises(ClientError):
        s3_client.head_bucket(Bucket=store.bucket)
    store.ensure_bucket()
    key = store.put(DATA, extension="jpg", salt=SALT)
    store.ensure_bucket()
    assert store.get(key) == DATA  # the second call neither failed nor emptied the bucket
    empty_and_delete_bucket(s3_client, store.bucket)


def test_s3_a_missing_bucket_is_an_error_not_a_missing_blob(s3_client):
    store = S3BlobStore(s3_client, unique_bucket_name("absent"))
    with pytest.raises(ClientError, match="NoSuchBucket"):
        store.get(f"{DIGEST}.jpg")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        store.put(DATA, extension="jpg", salt=SALT)
    with pytest.raises(ClientError, match="NoSuchBucket"):
        store.delete(f"{DIGEST}.jpg")


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_s3_store_from_settings(s3_server, s3_client, region, request):
    if region != "us-east-1" and request.node.callspec.params["s3_server"] == "s3proxy":
        # S3Proxy serves one region (its filesystem storage has no other location): a
        # bucket elsewhere is refused with InvalidLocationConstraint, as it should be.
        with pytest.raises(ClientError, match="InvalidLocationConstraint"):
            S3BlobStore.from_settings(s3_server, unique_bucket_name("settings"),
                                      TEST_ACCESS_KEY, TEST_SECRET_KEY, region).ensure_bucket()
        return
    store = S3BlobStore.from_settings(
        s3_server, unique_bucket_name("settings"), TEST_ACCESS_KEY, TEST_SECRET_KEY, region)
    store.ensure_bucket()
    store.ensure_bucket()
    location = s3_client.get_bucket_location(Bucket=store.bucket)["LocationConstraint"]
    assert (location or "us-east-1") == region
    key = store.put(DATA, extension="webp", salt=SALT)
    assert store.get(key) == DATA
    url = store.url_for(key)
    assert "X-Amz-Signature=" in url  # SigV4: the legacy SigV2 default is refused by many servers
    assert httpx.get(url, trust_env=False).content == DATA
    empty_and_delete_bucket(s3_client, store.bucket)
