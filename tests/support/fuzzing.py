"""The one check of the Schemathesis runs (tests/api/test_schemathesis.py for the embedded
app, tests/cluster/test_schemathesis_cluster.py for the cluster's two APIs)."""

from __future__ import annotations

import schemathesis


def assert_no_server_error(case: schemathesis.Case, base_url: str, token: str) -> None:
    """Send `case`, signed in with `token` unless it brings an Authorization header of its
    own: whatever the document allows, the answer is never a 5xx."""
    headers = dict(case.headers or {})
    headers.setdefault("Authorization", f"Bearer {token}")
    response = case.call(base_url=base_url, headers=headers, timeout=30)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: "
        f"{response.text[:300]}")
