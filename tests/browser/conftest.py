"""Fixtures of the browser tests: the real `photoshare serve` (one per test module) and
Debian's chromium driven by Playwright (never a browser build of Playwright's own)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("playwright") is None:  # the test extra is not installed
    collect_ignore_glob = ["test_*.py"]
else:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

    from support.browser import PAGE_ERRORS, SCREENSHOTS, WAIT
    from support.serve import Server, serve

    CHROMIUM = Path("/usr/bin/chromium")
    CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run",
                     "--disable-quic"]

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
        root = tmp_path_factory.mktemp("webapp")
        with serve(root / "data", root / "server.log",
                   PHOTOSHARE_SSE_KEEPALIVE_SECONDS="1") as running:
            yield running

    @pytest.fixture(scope="module")
    def browser(server: Server) -> Iterator[Browser]:
        """Started after (so closed before) the server: open live streams never hold it up."""
        if not CHROMIUM.exists() and shutil.which("chromium") is None:
            pytest.skip("Debian's chromium is not installed (make install-test installs it)")
        with sync_playwright() as p:
            launched = p.chromium.launch(executable_path=str(CHROMIUM) if CHROMIUM.exists()
                                         else shutil.which("chromium"), args=CHROMIUM_ARGS)
            try:
                yield launched
            finally:
                launched.close()

    @pytest.fixture(scope="module", autouse=True)
    def screenshots_dir() -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS

    @pytest.fixture
    def new_page(browser: Browser, server: Server) -> Iterator[Callable[..., Page]]:
        """Pages in fresh browser contexts (one person each), all closed after the test."""
        contexts: list[BrowserContext] = []
        PAGE_ERRORS.clear()

        def make(**context_args: object) -> Page:
            context = browser.new_context(base_url=server.base, **context_args)
            context.set_default_timeout(WAIT)
            contexts.append(context)
            page = context.new_page()
            page.on("pageerror", lambda error: PAGE_ERRORS.append(str(error)))
            return page

        yield make
        for context in contexts:
            context.close()
