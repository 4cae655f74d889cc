"""Prometheus `/metrics` for the embedded app, on a registry of its own (never the global
default one: a test process builds many apps).

- `photoshare_http_request_duration_seconds{method,route,status}`: a latency histogram
  per route *template* (`/v1/photos/{photo_id}`, not the raw path), so the number of
  series stays bounded; requests no route matched are `route="<unmatched>"`.
- `photoshare_events_appended_total{event_type}`: published events appended to the log
  since this process started (by any writer), counted from the log at scrape time.
- `photoshare_event_log_head`: the log head position.
- `photoshare_projection_position{projection}`, `photoshare_projection_lag_events{projection}`
  (head minus position) and `photoshare_projection_events_total{projection}` (log
  positions applied since this process started), read from the runner at scrape time.
- `photoshare_image_ingest_seconds{outcome}`: the photo pipeline (decode, variants,
  storage), `outcome` being `stored` or `rejected`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"
# The `method` label comes from this closed set, so invented methods cannot grow /metrics.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
IMAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# At most this many log batches are read per scrape to count appended events (the rest
# is counted at the next scrape), so a scrape stays cheap after a burst of writes.
MAX_BATCHES_PER_SCRAPE = 20


def request_timer(histogram: Histogram) -> Callable[[Scope, int, float], None]:
    """Observes a finished request in `histogram`, labelled with the route template that
    matched (for `web.RequestPassMiddleware`'s observers)."""

    # Each label set's child, kept: `labels()` takes a lock and builds a key each time.
    # Bounded as the labels are: closed methods, route templates, statuses.
    children: dict[tuple[str, str, int], Any] = {}

    def observe(scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")  # set by the router on the scope passed down
        template = getattr(route, "path", None) or UNMATCHED
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        key = (method, template, status)
        child = children.get(key)
        if child is None:
            child = children[key] = histogram.labels(method, template, str(status))
        child.observe(seconds)

    return observe


class MetricsMiddleware:
    """Times every HTTP request and labels it with the route template that matched (for
    an app without `web.RequestPassMiddleware`, which times them itself)."""

    def __init__(self, app: ASGIApp, *, histogram: Histogram) -> None:
        self.app, self.histogram = app, histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")  # set by the router on the scope we passed down
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
            self.histogram.labels(method, template, str(status)).observe(
                time.perf_counter() - started)


class LogCollector(Collector):
    """Scrape-time figures of the event log and of the views' positions."""

    def __init__(self, commands: Callable[[], Any],
                 positions: Callable[[], dict[str, int]]) -> None:
        self._commands, self._positions = commands, positions
        self._lock = threading.Lock()
        self._appended: Counter[str] = Counter()
        self._counted_to: int | None = None
        self._started_at: dict[str, int] | None = None

    def start(self) -> None:
        """Take the baselines: what is in the log and the views before this process."""
        self._counted_to = self._commands().head_position()
        self._started_at = self._positions()

    def _count_appended(self, head: int) -> None:
        commands = self._commands()
        after = self._counted_to if self._counted_to is not None else head
        for _ in range(MAX_BATCHES_PER_SCRAPE):
            if after >= head:
                break
            envelopes, last = commands.read_batch(after, 1000)
            self._appended.update(envelope.event_type for envelope in envelopes)
            if last == after:
                break
            after = last
        self._counted_to = after

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            try:
                head = self._commands().head_position()
                self._count_appended(head)
            except Exception:  # noqa: BLE001 - a store that does not answer: no log figures
                return
            positions = self._positions()
            started = self._started_at or {}
            appended = CounterMetricFamily(
                "photoshare_events_appended", "Published events appended to the log since "
                "this process started, by event type", labels=["event_type"])
            for event_type, count in sorted(self._appended.items()):
                appended.add_metric([event_type], count)
            yield appended
            yield GaugeMetricFamily("photoshare_event_log_head",
                                    "Position of the newest event in the log", value=head)
            position = GaugeMetricFamily("photoshare_projection_position",
                                         "Last log position each projection applied",
                                         labels=["projection"])
            lag = GaugeMetricFamily("photoshare_projection_lag_events",
                                    "Log head minus the projection's position",
                                    labels=["projection"])
            projected = CounterMetricFamily(
                "photoshare_projection_events", "Log positions each projection applied "
                "since this process started", labels=["projection"])
            for name, at in sorted(positions.items()):
                position.add_metric([name], at)
                lag.add_metric([name], max(head - at, 0))
                projected.add_metric([name], max(at - started.get(name, at), 0))
            yield position
            yield lag
            yield projected


def _time_image_ingest(images: Any, histogram: Histogram) -> None:
    """Wrap the image pipeline's `ingest` (on the instance) in the histogram."""
    ingest = images.ingest

    @wraps(ingest)
    async def timed_ingest(*args: Any, **kwargs: Any) -> Any:
        started, outcome = time.perf_counter(), "rejected"
        try:
            stored = await ingest(*args, **kwargs)
            outcome = "stored"
            return stored
        finally:
            histogram.labels(outcome).observe(time.perf_counter() - started)

    images.ingest = timed_ingest


def install_metrics(app: FastAPI, *, commands: Callable[[], Any] | None = None,
                    positions: Callable[[], dict[str, int]] | None = None,
                    images: Any | None = None) -> CollectorRegistry:
    """Add `/metrics` and the request-timing middleware to `app`; with `commands` (the
    event store) and `positions` (the views' positions) the log and lag figures too, and
    with `images` (an ImageIngest) the image timings. The app's registry."""
    registry = CollectorRegistry()
    requests = Histogram("photoshare_http_request_duration_seconds",
                         "HTTP request latency by route template and status",
                         ["method", "route", "status"], buckets=REQUEST_BUCKETS,
                         registry=registry)
    if commands is not None and positions is not None:
        log = LogCollector(commands, positions)
        log.start()
        registry.register(log)
    if images is not None:
        _time_image_ingest(images, Histogram(
            "photoshare_image_ingest_seconds", "Time to decode, resize and store one "
            "uploaded image", ["outcome"], buckets=IMAGE_BUCKETS, registry=registry))
    app.state.metrics = registry
    observers = getattr(app.state, "request_observers", None)
    if observers is not None:  # the request pass times requests: no layer of its own
        observers.append(request_timer(requests))
    else:
        app.add_middleware(MetricsMiddleware, histogram=requests)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return registry
