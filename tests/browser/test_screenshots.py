"""A screenshot of every page at 1280x800 and at 390x844 (a phone), kept in
`test-artifacts/screenshots/` as `<size>-page-<page>.png` for people to look at; each page
is also checked to fit the screen's width."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.browser import (
    DESKTOP, PAGE_ERRORS, PHONE_CONTEXT, WAIT, follow, image_bytes, log_in_as, loaded,
    post_photo, register, shot,
)
from support.serve import Server

pytestmark = pytest.mark.e2e

SIZES: dict[str, dict[str, Any]] = {"desktop": {"viewport": DESKTOP}, "phone": PHONE_CONTEXT}


@pytest.fixture(scope="module")
def story(server: Server) -> dict[str, Any]:
    """Hal posts a landscape and a portrait, Ivy a square; they follow each other; Ivy
    likes and comments on Hal's photo."""
    tag = uuid4().hex[:6]
    hal = register(server.base, f"hal_{tag}", "Hal Harbour")
    ivy = register(server.base, f"ivy_{tag}", "Ivy Ivers")
    follow(server.base, ivy, hal)
    follow(server.base, hal, ivy)
    wide = post_photo(server.base, hal, image_bytes("darkorange", (1600, 1000)),
                      f"Evening light on the quay #harbour{tag}", location="Whitby")
    tall = post_photo(server.base, hal, image_bytes("teal", (1080, 1920)),
                      f"The lighthouse #harbour{tag}", location="Whitby")
    post_photo(server.base, ivy, image_bytes("mediumpurple", (1200, 1200)),
               "Market day in town", location="York")
    with httpx.Client(base_url=server.base, timeout=30, headers=ivy.auth) as client:
        client.put(f"/v1/photos/{wide['photo_id']}/likes/me").raise_for_status()
        client.post(f"/v1/photos/{wide['photo_id']}/comments",
                    json={"text": "Lovely colours!"}).raise_for_status()
    return {"hal": hal, "wide": wide, "tall": tall, "tag": tag}


def fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize("size", list(SIZES))
def test_screenshots_of_every_page(new_page: Callable[..., Page], story: dict[str, Any],
                                   size: str) -> None:
    page = new_page(**SIZES[size])
    page.goto("/#/login")
    expect(page.get_by_role("heading", name="Log in to photoshare")).to_be_visible(timeout=WAIT)
    shot(page, f"{size}-page-login")
    page.goto("/#/signup")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible(timeout=WAIT)
    fits(page)
    shot(page, f"{size}-page-signup")

    hal, tag = story["hal"], story["tag"]
    log_in_as(page, hal)
    expect(page.locator("article.photo-card").first).to_be_visible(timeout=WAIT)
    loaded(page, "article.photo-card:first-of-type")
    fits(page)
    shot(page, f"{size}-page-home")

    page.get_by_role("button", name=re.compile("^Notifications")).click()
    expect(page.get_by_role("dialog", name="Notifications")).to_contain_text(
        "Ivy Ivers commented on your photo", timeout=WAIT)
    loaded(page, "#notif-list")
    shot(page, f"{size}-page-notifications")
    page.keyboard.press("Escape")

    page.goto(f"/#/p/{story['wide']['photo_id']}")
    expect(page.locator("ul.comments")).to_contain_text("Lovely colours!", timeout=WAIT)
    loaded(page, ".photo-main")
    fits(page)
    shot(page, f"{size}-page-photo")

    page.goto(f"/#/u/{hal.username}")
    expect(page.locator(".grid-item")).to_have_count(2, timeout=WAIT)
    loaded(page, ".grid")
    fits(page)
    shot(page, f"{size}-page-profile")

    page.goto(f"/#/search?q=%23harbour{tag}")
    expect(page.locator(".grid-item")).to_have_count(2, timeout=WAIT)
    loaded(page, ".grid")
    fits(page)
    shot(page, f"{size}-page-search")

    page.goto("/#/upload")
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_visible(timeout=WAIT)
    fits(page)
    shot(page, f"{size}-page-upload")
    assert PAGE_ERRORS == []
