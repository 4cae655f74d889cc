"""The API docs render in a real browser with no network but the server's own: Swagger UI
lists the operations at `/docs`, ReDoc at `/redoc`, and no request leaves the origin."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.serve import Server, serve

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WAIT = 15000  # ms


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("apidocs")
    with serve(root / "data", root / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[object]:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make install-test installs it)")
    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM) if CHROMIUM.exists()
                                     else shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.parametrize(("path", "operation"), [
    ("/docs", ".opblock-summary-path[data-path='/v1/timeline']"),
    ("/redoc", "[data-section-id^='operation/'] h2"),
], ids=["swagger-ui", "redoc"])
def test_the_docs_render_the_operations_offline(browser: object, server: Server, path: str,
                                                operation: str) -> None:
    context = browser.new_context(base_url=server.base, viewport={"width": 1280,
                                                                  "height": 800})
    context.set_default_timeout(WAIT)
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_the_server(route: object) -> None:
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
