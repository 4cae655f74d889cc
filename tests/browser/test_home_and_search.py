"""Home and search as a new user meets them: your own post is still on Home after a reload
(shown once), the feed ends with "You're all caught up", the type-ahead suggests hashtags,
and an old query does not linger in the box on other pages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from playwright.sync_api import Page, Route, expect

from support.browser import (
    DESKTOP, PAGE_ERRORS, WAIT, image_bytes, jpeg, log_in_as, loaded, post_photo, register,
    shot, sign_up, upload,
)
from support.serve import Server

pytestmark = pytest.mark.e2e


def test_own_post_stays_on_home_after_reload(new_page: Callable[..., Page],
                                             tmp_path: Path) -> None:
    """NEEDS `GET /v1/timeline` to include the viewer's own posts (issue 13's contract);
    before that the post vanishes from Home on reload."""
    name = f"eve_{uuid4().hex[:6]}"
    page = new_page(viewport=DESKTOP)
    sign_up(page, name, "Eve Own")
    upload(page, jpeg(tmp_path / "mine.jpg", "olivedrab"), "My very own post")
    cards = page.locator("article.photo-card")
    # At once after the upload, and only once (pinned and in the timeline: one card).
    expect(cards.first).to_contain_text("My very own post", timeout=WAIT)
    expect(page.get_by_text("You're all caught up")).to_be_visible(timeout=WAIT)
    expect(cards).to_have_count(1)
    photo_id = cards.first.get_attribute("data-photo-id")

    page.reload()
    expect(page.locator(f"article[data-photo-id='{photo_id}']")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("You're all caught up")).to_be_visible(timeout=WAIT)
    expect(cards).to_have_count(1)
    loaded(page, "#feed")
    shot(page, "desktop-feed-own-post-after-reload")
    assert PAGE_ERRORS == []


def test_type_ahead_suggests_hashtags(new_page: Callable[..., Page], server: Server) -> None:
    """NEEDS `GET /v1/search/hashtags` (issue 13's contract)."""
    tag = uuid4().hex[:6]
    fay = register(server.base, f"fay_{tag}", "Fay Tags")
    post_photo(server.base, fay, image_bytes("sandybrown"), f"Low tide #beach{tag}")
    page = new_page(viewport=DESKTOP)
    log_in_as(page, fay)
    search = page.get_by_role("combobox", name="Search")
    search.fill(f"#beach{tag[:3]}")
    option = page.get_by_role("option", name=re.compile(f"#beach{tag}"))
    expect(option).to_be_visible(timeout=WAIT)
    expect(option).to_contain_text("1 post")
    shot(page, "desktop-type-ahead-hashtags")
    option.click()
    expect(page.get_by_role("heading", name=f"Results for “#beach{tag}”")).to_be_visible(
        timeout=WAIT)
    expect(page.locator(".grid-item")).to_have_count(1, timeout=WAIT)
    # Plain words suggest matching hashtags too, beside people.
    search.fill(f"beach{tag[:3]}")
    expect(page.get_by_role("option", name=re.compile(f"#beach{tag}"))).to_be_visible(
        timeout=WAIT)
    assert PAGE_ERRORS == []


def test_type_ahead_without_hashtag_search_and_the_box_after_search(
        new_page: Callable[..., Page], server: Server) -> None:
    """A server without `GET /v1/search/hashtags` (404, as before issue 13): people are
    still suggested, nothing breaks. After a search, other pages show an empty box."""
    tag = uuid4().hex[:6]
    gil = register(server.base, f"gil_{tag}", "Gil Older")
    page = new_page(viewport=DESKTOP)

    def not_found(route: Route) -> None:
        route.fulfill(status=404, content_type="application/json",
                      body=json.dumps({"error": {"code": "not_found", "message": "Not Found"}}))

    page.route(re.compile(r"/v1/search/hashtags"), not_found)
    log_in_as(page, gil)
    search = page.get_by_role("combobox", name="Search")
    search.fill(gil.username[:7])
    expect(page.get_by_role("option", name=re.compile(gil.username))).to_be_visible(timeout=WAIT)
    search.fill("#nothing")
    expect(page.get_by_role("option", name="Search for “#nothing”")).to_be_visible(timeout=WAIT)
    search.press("Enter")
    expect(page.get_by_role("heading", name="Results for “#nothing”")).to_be_visible(
        timeout=WAIT)
    expect(search).to_have_value("#nothing")
    page.get_by_role("link", name="Profile", exact=True).click()
    expect(page.get_by_role("heading", name=gil.username, exact=True)).to_be_visible(timeout=WAIT)
    expect(search).to_have_value("")
    page.go_back()
    expect(search).to_have_value("#nothing", timeout=WAIT)
    assert PAGE_ERRORS == []
