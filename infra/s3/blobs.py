"""The cluster profile's blob store: immutable blobs in an S3-compatible bucket.

Objects are named by their blob key alone (``<sha256 hex of salt + bytes>.<extension>``), so
the bucket holds exactly what ``BlobStore`` promises: immutable blobs, one upload's own, that
may be cached for a year and are deleted with their photo. Keys are validated before any
request is made, the same way as the filesystem store.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from photoshare.infra.media.blobs import (
    CONTENT_TYPES,
    IMMUTABLE_CACHE_CONTROL,
    READ_CHUNK_BYTES,
    BlobStore,
    blob_key,
    check_key,
)

# SigV4 presigned URLs cannot live longer than seven days.
MAX_URL_SECONDS = 7 * 24 * 3600

# HEAD responses have no body, so a missing object shows up as the bare status "404".
_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey"})
_MISSING_BUCKET_CODES = frozenset({"404", "NoSuchBucket"})
# us-east-1 is S3's default location and refuses to be named as a LocationConstraint.
_DEFAULT_REGION = "us-east-1"


class S3BlobStore(BlobStore):
    """Blobs as objects in one S3 bucket, written once with year-long immutable caching.

    The boto3 client is shared by every thread that uses the store (boto3 clients are
    thread-safe; sessions are not, which is why ``from_settings`` builds its own session).
    """

    def __init__(self, client: Any, bucket: str) -> None:
        """Store blobs in ``bucket`` through the boto3 S3 ``client``."""
        self._client = client
        self._bucket = bucket

    @classmethod
    def from_settings(
        cls,
        endpoint_url: str | None,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = _DEFAULT_REGION,
    ) -> S3BlobStore:
        """Build a store with its own client; ``endpoint_url=None`` means AWS itself."""
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        return cls(session.client("s3", endpoint_url=endpoint_url,
                                  config=client_config(endpoint_url)), bucket)

    @property
    def bucket(self) -> str:
        """The name of the bucket this store keeps its objects in."""
        return self._bucket

    def put(self, data: bytes, *, extension: str, salt: bytes) -> str:
        """Upload ``data`` and return its key.

        put_object returns only once S3 has stored the object durably, and the request
        carries the body's MD5 (Content-MD5), which S3 verifies, so a corrupted upload is
        refused, not kept. One request: keys are salted per upload, so a key is found stored
        only on a retry of the same upload, and re-sending its bytes is harmless.
        """
        key = blob_key(data, extension=extension, salt=salt)
        self._put_object(key, data, CONTENT_TYPES[extension])
        return key

    def get(self, key: str) -> bytes | None:
        """Return the blob's bytes, or None if it is not stored."""
        check_key(key)
        return self._get_object(key)

    def chunks(self, key: str, chunk_size: int = READ_CHUNK_BYTES) -> Iterator[bytes] | None:
        """The object's body, read ``chunk_size`` bytes at a time as it arrives; None if it
        is not stored. The connection goes back to the pool once the iterator ends or is
        closed."""
        check_key(key)
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING_OBJECT_CODES:
                return None
            raise
        return _body_in_chunks(response["Body"], chunk_size)

    def exists(self, key: str) -> bool:
        """Tell whether the blob is stored.

        A missing bucket also answers False: S3 answers a HEAD on it with the same bodyless
        404 as a missing object. ``ensure_bucket`` at start-up rules that case out.
        """
        check_key(key)
        return self._head(key)

    def delete(self, key: str) -> None:
        """Delete the object; a missing one is no error (S3 answers 204 for it anyway).

        A missing bucket is an error (NoSuchBucket): a misconfiguration, not a done deletion.
        """
        check_key(key)
        try:
            self._client.delete_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _error_code(error) != "NoSuchKey":
                raise

    def url_for(self, key: str, expires_seconds: int = 3600) -> str:
        """Return a presigned URL that GETs the blob for ``expires_seconds`` seconds.

        Signing is local: no request is made, and the URL works only once the blob exists.
        """
        check_key(key)
        if not 1 <= expires_seconds <= MAX_URL_SECONDS:
            raise ValueError(f"expires_seconds must be between 1 and {MAX_URL_SECONDS}")
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_seconds
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet; safe to call from every start-up."""
        if not self._bucket_exists():
            self._create_bucket()

    def _head(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING_OBJECT_CODES:
                return False
            raise  # 403, throttling, ...: not an answer about the blob
        return True

    def _get_object(self, key: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            # Only NoSuchKey: NoSuchBucket means a misconfiguration, not a missing photo.
            if _error_code(error) in _MISSING_OBJECT_CODES:
                return None
            raise
        body = response["Body"]
        try:
            return body.read()
        finally:
            body.close()  # hand the connection back to the pool even if the read fails

    def _put_object(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(
            Bucket=self._bucket, Key=key, Body=data,
            ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),
            ContentType=content_type, CacheControl=IMMUTABLE_CACHE_CONTROL,
        )

    def _bucket_exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except ClientError as error:
            if _error_code(error) in _MISSING_BUCKET_CODES:
                return False
            raise  # 403: the bucket exists but is someone else's, or we lack rights
        return True

    def _create_bucket(self) -> None:
        region = self._client.meta.region_name
        options: dict[str, Any] = {}
        if region and region != _DEFAULT_REGION:
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(Bucket=self._bucket, **options)
        except ClientError as error:
            # Another process starting up at the same moment created it first.
            if _error_code(error) != "BucketAlreadyOwnedByYou":
                raise


def client_config(endpoint_url: str | None) -> Config:
    """The botocore settings of every S3 client here (the tests' too)."""
    # SigV4 explicitly: botocore still presigns S3 URLs with the legacy SigV2 otherwise.
    # Path-style addressing for S3-compatible servers (MinIO, moto, Ceph) at a plain host or
    # IP, which have no per-bucket DNS names; AWS itself keeps virtual-hosted style.
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        retries={"mode": "standard"},
        # botocore's default CRC32 trailer (aws-chunked bodies) is refused by S3-compatible
        # servers such as S3Proxy ("NotImplemented"); Content-MD5, which every S3 API
        # verifies, protects the uploads instead (see `put`).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def _body_in_chunks(body: Any, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
