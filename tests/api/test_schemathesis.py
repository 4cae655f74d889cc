"""Schemathesis against the OpenAPI documents: whatever the documents allow a client to
send, signed in or not, the answer is never a server error (5xx).

The embedded app serves every operation of both APIs from the same routers the cluster's
write and read APIs are built from, so its document is the union of theirs. Examples per operation are bounded (`MAX_EXAMPLES`) to keep CI quick; set
`PHOTOSHARE_SCHEMATHESIS_EXAMPLES` to search harder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from photoshare.infra.roots.embedded import create_embedded_app
from support.embedded import Account, cheap_settings, post_photo, register
from support.fuzzing import assert_no_server_error
from support.threaded import served

MAX_EXAMPLES = int(os.environ.get("PHOTOSHARE_SCHEMATHESIS_EXAMPLES", "20"))


def _document() -> dict:
    """The embedded app's OpenAPI document (building the app touches only a temp dir)."""
    with tempfile.TemporaryDirectory() as directory:
        return create_embedded_app(cheap_settings(Path(directory))).openapi()


# The live stream never ends, so a client that reads whole answers cannot call it; its
# errors before the stream starts are tested in test_notifications_read.py.
schema = schemathesis.openapi.from_dict(_document()).exclude(path="/v1/notifications/stream")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Account]]:
    """A real server (its own event loop, as in production) and a signed-in person
    with a photo, shared by every example."""
    app = create_embedded_app(cheap_settings(tmp_path_factory.mktemp("schemathesis")))
    with served(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        account = register(client)  # type: ignore[arg-type] - the same calls as TestClient
        post_photo(client, account)  # type: ignore[arg-type]
        yield base_url, account


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case: schemathesis.Case,
                                       server: tuple[str, Account]) -> None:
    base_url, account = server
    assert_no_server_error(case, base_url, account.token)
