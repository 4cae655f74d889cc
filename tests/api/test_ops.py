"""Operations over HTTP: Prometheus `/metrics` and `/readyz` on the real embedded app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from photoshare.infra.roots.embedded import create_embedded_app
from photoshare.infra.sqlite.catalog import bindings
from support.embedded import cheap_settings, head, post_photo, register

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_request_latency_is_counted_per_route_template(client: TestClient) -> None:
    before = scrape(client)
    for username in ("nobody1", "nobody2", "nobody3"):
        assert client.get(f"/v1/users/by-username/{username}").status_code == 404
    assert client.get("/healthz").status_code == 200
    after = scrape(client)

    route = {"method": "GET", "route": "/v1/users/by-username/{username}", "status": "404"}
    count = "photoshare_http_request_duration_seconds_count"
    assert value(after, count, **route) - value(before, count, **route) == 3
    assert value(after, "photoshare_http_request_duration_seconds_bucket", le="+Inf",
                 **route) == value(after, count, **route)
    assert value(after, "photoshare_http_request_duration_seconds_sum", **route) > 0
    assert value(after, count, method="GET", route="/healthz", status="200") >= 1
    # Raw paths never become labels: the series stay bounded.
    assert not any("nobody" in dict(labels).get("route", "") for _, labels in after)


def test_unmatched_paths_share_one_series(client: TestClient) -> None:
    client.get("/no/such/path/1")
    client.get("/no/such/path/2")
    samples = scrape(client)
    assert value(samples, "photoshare_http_request_duration_seconds_count", method="GET",
                 route="<unmatched>", status="404") == 2


def test_log_and_projection_figures(client: TestClient) -> None:
    alice = register(client, "alice")
    post_photo(client, alice, caption="hello #world")
    samples = scrape(client)
    assert value(samples, "photoshare_events_appended_total", event_type="UserRegistered") == 1
    assert value(samples, "photoshare_events_appended_total", event_type="PhotoPosted") == 1
    assert value(samples, "photoshare_event_log_head") == head(client)
    assert value(samples, "photoshare_image_ingest_seconds_count", outcome="stored") == 1
    for binding in bindings(client.app.state.settings):
        name = binding.projection.name
        assert ("photoshare_projection_lag_events", (("projection", name),)) in samples
        assert ("photoshare_projection_events_total", (("projection", name),)) in samples
        position = value(samples, "photoshare_projection_position", projection=name)
        lag = value(samples, "photoshare_projection_lag_events", projection=name)
        assert position + lag == head(client)


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    apps = [create_embedded_app(cheap_settings(tmp_path / str(i))) for i in range(2)]
    assert apps[0].state.metrics is not apps[1].state.metrics


def test_readyz_is_ready_when_caught_up(client: TestClient) -> None:
    register(client)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.fixture
def strict_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = cheap_settings(tmp_path / "data", ready_max_lag_events=0)
    with TestClient(create_embedded_app(settings)) as test_client:
        yield test_client


def test_readyz_is_not_ready_while_the_projections_lag(strict_client: TestClient) -> None:
    assert strict_client.get("/readyz").status_code == 200
    runner = strict_client.app.state.runner.runner
    with runner._lock:  # the projection runner cannot apply a batch meanwhile
        register(strict_client)
        response = strict_client.get("/readyz")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "not_ready" and "behind" in error["message"]
        lag = value(scrape(strict_client), "photoshare_projection_lag_events",
                    projection="profiles")
        assert lag == head(strict_client) - runner.positions()["profiles"] > 0
    assert strict_client.app.state.runner.runner.catch_up() >= 0
    assert strict_client.get("/readyz").status_code == 200


def test_invented_methods_share_one_metrics_label(client: TestClient) -> None:
    for method in ("FOO", "BREW", "X" * 40):
        client.request(method, "/healthz")
    samples = scrape(client)
    methods = {dict(labels).get("method") for (name, labels) in samples
               if name == "photoshare_http_request_duration_seconds_count"}
    assert "OTHER" in methods
    assert not methods - {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
