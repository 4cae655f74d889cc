"""The web app on a phone (390x844): a bottom tab bar (Home, Search, Upload, Notifications,
Profile) with labels, Log out in the profile's settings, the author above the photo."""

from __future__ import annotations

import re
from collections.abc import Callable
from uuid import uuid4

import pytest
from playwright.sync_api import Page, expect

from support.browser import (
    PAGE_ERRORS, PHONE, PHONE_CONTEXT, WAIT, image_bytes, log_in_as, loaded, post_photo,
    register, shot,
)
from support.serve import Server

pytestmark = pytest.mark.e2e

TABS = ["Home", "Search", "Upload", "Notifications", "Profile"]


def test_phone_tab_bar_settings_and_photo_page(new_page: Callable[..., Page],
                                               server: Server) -> None:
    tag = uuid4().hex[:6]
    dee = register(server.base, f"dee_{tag}", "Dee Phone")
    photo = post_photo(server.base, dee, image_bytes("steelblue", (1200, 900)),
                       f"Harbour #dock{tag}")
    page = new_page(**PHONE_CONTEXT)
    log_in_as(page, dee)

    # Five tabs along the bottom of the screen, each with a visible label.
    nav = page.get_by_role("navigation", name="Main")
    bar = nav.bounding_box()
    assert bar is not None
    assert bar["y"] + bar["height"] == pytest.approx(PHONE["height"], abs=1)
    assert bar["width"] == pytest.approx(PHONE["width"], abs=1)
    for name in TABS:
        tab = nav.get_by_role("button" if name == "Notifications" else "link",
                              name=re.compile(f"^{name}"))
        expect(tab).to_be_visible()
        expect(tab).to_contain_text(name)
        tab_box = tab.bounding_box()
        assert tab_box is not None and tab_box["y"] >= bar["y"] - 1
    # No Log out in the bar (it lives in the profile's settings), no sideways scrolling.
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(nav.get_by_role("link", name="Home", exact=True)).to_have_attribute(
        "aria-current", "page")
    shot(page, "phone-tab-bar")

    # Search: the tab opens the search box, ready to type.
    nav.get_by_role("link", name="Search", exact=True).click()
    search = page.get_by_role("combobox", name="Search")
    expect(search).to_be_visible(timeout=WAIT)
    expect(search).to_be_focused()
    search.fill(dee.username[:6])
    expect(page.get_by_role("option", name=re.compile(dee.username))).to_be_visible(timeout=WAIT)
    shot(page, "phone-search")
    search.press("Escape")

    # Notifications: a sheet above the tab bar.
    nav.get_by_role("button", name=re.compile("^Notifications")).click()
    sheet = page.get_by_role("dialog", name="Notifications")
    expect(sheet).to_be_visible(timeout=WAIT)
    sheet_box = sheet.bounding_box()
    assert sheet_box is not None and sheet_box["y"] + sheet_box["height"] <= bar["y"] + 1
    shot(page, "phone-notifications")
    page.keyboard.press("Escape")

    # The photo page puts the author above the photo.
    page.goto(f"/#/p/{photo['photo_id']}")
    loaded(page, ".photo-main")
    author = page.locator(".photo-head").get_by_role("link", name=dee.username)
    expect(author).to_be_visible(timeout=WAIT)
    head, image = author.bounding_box(), page.locator(".photo-main .photo-box").bounding_box()
    assert head is not None and image is not None
    assert head["y"] + head["height"] <= image["y"]
    shot(page, "phone-photo-page")

    # Profile -> Settings -> Log out.
    nav.get_by_role("link", name="Profile", exact=True).click()
    expect(page.get_by_role("heading", name=dee.username, exact=True)).to_be_visible(timeout=WAIT)
    expect(nav.get_by_role("link", name="Profile", exact=True)).to_have_attribute(
        "aria-current", "page")
    page.get_by_role("button", name="Settings").click()
    log_out = page.get_by_role("button", name="Log out", exact=True)
    expect(log_out).to_be_visible(timeout=WAIT)
    shot(page, "phone-settings")
    log_out.click()
    expect(page.get_by_role("heading", name="Log in to photoshare")).to_be_visible(timeout=WAIT)
    assert PAGE_ERRORS == []
