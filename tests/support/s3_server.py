"""A real S3 API server for tests: moto's server on a free local port, in a subprocess.

Use ``running_s3_server()`` from a fixture of the scope you need, e.g. once per module::

    @pytest.fixture(scope="module")
    def s3_endpoint() -> Iterator[str]:
        with running_s3_server() as endpoint:
            yield endpoint

and ``make_s3_client(endpoint)`` / ``unique_bucket_name()`` for clients and buckets. The
server keeps everything in memory, so stopping it throws every bucket away.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import boto3
from botocore.config import Config

from infra.supervisor import free_port

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
# Dummy credentials handed to each client explicitly, so no test touches the process-wide
# AWS environment or reads the developer's real ~/.aws credentials.
TEST_ACCESS_KEY = "test"
TEST_SECRET_KEY = "test"
TEST_REGION = "us-east-1"
START_TIMEOUT_SECONDS = 20.0
# The probe goes straight to 127.0.0.1, whatever HTTP_PROXY says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class S3ServerError(RuntimeError):
    """The S3 server did not start; the message carries its output."""


@contextmanager
def running_s3_server() -> Iterator[str]:
    """Run moto_server on 127.0.0.1 until the block ends; yield its endpoint URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # Output goes to a file, not a pipe: the server logs every request, and a pipe nobody
    # reads would fill up and block it.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(MOTO_SERVER), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_answering(endpoint, process, log)
            yield endpoint
        finally:
            _stop(process)


def make_s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for ``endpoint`` with the dummy test credentials."""
    session = boto3.session.Session(
        aws_access_key_id=TEST_ACCESS_KEY, aws_secret_access_key=TEST_SECRET_KEY,
        region_name=TEST_REGION,
    )
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return session.client("s3", endpoint_url=endpoint, config=config)


def unique_bucket_name(prefix: str = "test") -> str:
    """A fresh, valid bucket name (lowercase, at most 63 characters)."""
    return f"{prefix}-{uuid4().hex}"


def empty_and_delete_bucket(client: Any, bucket: str) -> None:
    """Remove ``bucket`` and every object in it."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def _wait_until_answering(endpoint: str, process: subprocess.Popen, log: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise S3ServerError(f"moto_server exited with {process.returncode}: {_read(log)}")
        try:
            # Any HTTP answer (even an error status) means the server is serving.
            with _DIRECT.open(endpoint, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise S3ServerError(f"moto_server did not answer within {START_TIMEOUT_SECONDS}s: "
                        f"{_read(log)}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _read(log: Any) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]
