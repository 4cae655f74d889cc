"""moto's S3 API server for tests, as a `ServerSpec` the session's engines start
(tests/support/engines.py, fixture `s3_endpoint`), and ``make_s3_client(endpoint)`` /
``unique_bucket_name()`` for clients and buckets. The server keeps everything in memory,
so stopping it throws every bucket away."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

import boto3
from photoshare.infra.localcluster.process import ServerSpec, http_answers
from photoshare.infra.s3.blobs import client_config

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
# Dummy credentials handed to each client explicitly, so no test touches the process-wide
# AWS environment or reads the developer's real ~/.aws credentials.
TEST_ACCESS_KEY = "test"
TEST_SECRET_KEY = "test"
TEST_REGION = "us-east-1"
# moto_server imports boto and Flask first: seconds on a quiet machine, far more on a
# loaded one (the JVM engines starting beside it).
START_TIMEOUT_SECONDS = 60.0


def s3_server_spec(port: int) -> ServerSpec:
    """moto_server on 127.0.0.1:`port`; it keeps every bucket in memory."""
    endpoint = f"http://127.0.0.1:{port}"
    return ServerSpec(name="s3", argv=[str(MOTO_SERVER), "--host", "127.0.0.1",
                                       "--port", str(port)],
                      address=endpoint, ready=lambda: http_answers(endpoint),
                      start_timeout=START_TIMEOUT_SECONDS, stop_timeout=5)


def make_s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for ``endpoint`` with the dummy test credentials."""
    session = boto3.session.Session(
        aws_access_key_id=TEST_ACCESS_KEY, aws_secret_access_key=TEST_SECRET_KEY,
        region_name=TEST_REGION,
    )
    return session.client("s3", endpoint_url=endpoint, config=client_config(endpoint))


def unique_bucket_name(prefix: str = "test") -> str:
    """A fresh, valid bucket name (lowercase, at most 63 characters)."""
    return f"{prefix}-{uuid4().hex}"


def empty_and_delete_bucket(client: Any, bucket: str) -> None:
    """Remove ``bucket`` and every object in it."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
