"""The API docs render in a real browser with no network but the server's own: Swagger UI
lists the operations at `/docs`, ReDoc at `/redoc`, and no request leaves the origin."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route

from support.browser import SCREENSHOTS, WAIT
from support.serve import Server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("path", "operation"), [
    ("/docs", ".opblock-summary-path[data-path='/v1/timeline']"),
    ("/redoc", "[data-section-id^='operation/'] h2"),
], ids=["swagger-ui", "redoc"])
def test_the_docs_render_the_operations_offline(browser: Browser, server: Server, path: str,
                                                operation: str) -> None:
    context = browser.new_context(base_url=server.base, viewport={"width": 1280,
                                                                  "height": 800})
    context.set_default_timeout(WAIT)
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_the_server(route: Route) -> None:
        # As without internet: anything not on the server's own origin fails.
        if route.request.url.startswith(server.base + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(path)
        page.locator(operation).first.wait_for(state="visible")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"api-docs{path.replace('/', '-')}.png"))
    finally:
        context.close()
    # Blob and data URLs (ReDoc's web worker) never leave the page.
    assert [url for url in elsewhere if not url.startswith(("blob:", "data:"))] == []
    assert errors == []
