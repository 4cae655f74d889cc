"""Private accounts in a real browser: the owner turns on "Private account" in the
profile's settings; a stranger sees "This account is private" instead of the grid and a
Follow button that turns into "Requested"; the owner approves on the Follow requests page
(reached from the settings and from the notification; a request made while it is open
appears on it live); the follower then sees the photos.
A declined request leaves the stranger where they were."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.browser import (
    PAGE_ERRORS,
    WAIT,
    Person,
    image_bytes,
    log_in_as,
    post_photo,
    register,
    shot,
)
from support.serve import Server

pytestmark = pytest.mark.e2e


def wait_for_requests(base: str, owner: Person, count: int) -> None:
    """Until the read API lists `count` pending follow requests for `owner`."""
    deadline = time.monotonic() + WAIT / 1000
    with httpx.Client(base_url=base, timeout=30, headers=owner.auth) as client:
        while True:
            listed = client.get("/v1/users/me/follow-requests").raise_for_status().json()
            if len(listed["items"]) >= count or time.monotonic() > deadline:
                return
            time.sleep(0.05)


def test_private_switch_requests_and_the_private_panel(
        new_page: Callable[..., Page], server: Server) -> None:
    tag = uuid4().hex[:6]
    owner = register(server.base, f"quiet_{tag}", "Quinn Quiet")
    fan = register(server.base, f"fan_{tag}", "Fay Fan")
    other = register(server.base, f"nosy_{tag}", "Ned Nosy")
    post_photo(server.base, owner, image_bytes("darkorange"), "just for friends")

    # The owner makes the account private from the profile's settings.
    page = new_page()
    log_in_as(page, owner, f"#/u/{owner.username}")
    page.get_by_role("button", name="Settings").click()
    switch = page.get_by_role("switch", name="Private account")
    expect(switch).not_to_be_checked(timeout=WAIT)
    page.locator(".switch-row label").click()
    expect(page.get_by_text("Your account is private now")).to_be_visible(timeout=WAIT)
    expect(switch).to_be_checked()
    shot(page, "private-settings")

    # A stranger sees the header and the private panel, not the grid.
    stranger = new_page()
    log_in_as(stranger, fan, f"#/u/{owner.username}")
    expect(stranger.locator("#private-panel")).to_contain_text("This account is private",
                                                               timeout=WAIT)
    expect(stranger.locator("#profile-grid")).to_have_count(0)
    expect(stranger.locator(".counts")).to_contain_text("1 post")
    expect(stranger.locator(".private-badge")).to_be_visible()
    follow = stranger.get_by_role("button", name="Follow", exact=True)
    follow.click()
    expect(stranger.get_by_role("button", name="Requested", exact=True)).to_be_visible(
        timeout=WAIT)
    shot(stranger, "private-profile-requested")
    # After a reload the request is still shown as pending.
    stranger.reload()
    expect(stranger.get_by_role("button", name="Requested", exact=True)).to_be_visible(
        timeout=WAIT)
    # The owner answers on the Follow requests page, reached from the settings: it lists
    # the request made so far, and adds the next one as it arrives (live, no reload).
    wait_for_requests(server.base, owner, 1)
    page.get_by_role("link", name="Follow requests").click()
    expect(page.get_by_role("heading", name="Follow requests")).to_be_visible(timeout=WAIT)
    rows = page.locator("#request-list li.request")
    expect(rows).to_have_count(1, timeout=WAIT)
    expect(page.locator("body[data-live=open]")).to_have_count(1, timeout=WAIT)
    anyone = new_page()
    log_in_as(anyone, other, f"#/u/{owner.username}")
    anyone.get_by_role("button", name="Follow", exact=True).click()
    expect(anyone.get_by_role("button", name="Requested", exact=True)).to_be_visible(
        timeout=WAIT)
    expect(rows).to_have_count(2, timeout=WAIT)
    expect(rows.first).to_contain_text(other.username)  # the newest on top
    shot(page, "follow-requests")
    fan_row = rows.filter(has_text=fan.username)
    fan_row.get_by_role("button", name="Approve").click()
    expect(fan_row).to_contain_text("Approved", timeout=WAIT)
    nosy_row = rows.filter(has_text=other.username)
    nosy_row.get_by_role("button", name="Decline").click()
    expect(nosy_row).to_contain_text("Declined", timeout=WAIT)
    page.reload()
    expect(page.get_by_text("No one is waiting for your approval.")).to_be_visible(timeout=WAIT)

    # On a phone: the requests page and the private panel.
    late = register(server.base, f"late_{tag}", "Lee Late")
    phone = new_page(viewport={"width": 390, "height": 844})
    log_in_as(phone, late, f"#/u/{owner.username}")
    expect(phone.locator("#private-panel")).to_be_visible(timeout=WAIT)
    phone.get_by_role("button", name="Follow", exact=True).click()
    expect(phone.get_by_role("button", name="Requested", exact=True)).to_be_visible(
        timeout=WAIT)
    shot(phone, "private-profile-phone")
    owner_phone = new_page(viewport={"width": 390, "height": 844})
    log_in_as(owner_phone, owner, "#/requests")
    expect(owner_phone.locator("#request-list li.request")).to_have_count(1, timeout=WAIT)
    shot(owner_phone, "follow-requests-phone")

    # The approved follower sees the photos; the declined one still sees the panel.
    stranger.reload()
    expect(stranger.get_by_role("button", name="Unfollow", exact=True)).to_be_visible(
        timeout=WAIT)
    expect(stranger.locator("#profile-grid .grid-item")).to_have_count(1, timeout=WAIT)
    anyone.reload()
    expect(anyone.locator("#private-panel")).to_be_visible(timeout=WAIT)
    expect(anyone.get_by_role("button", name="Follow", exact=True)).to_be_visible()

    # Signed out, the panel asks to log in; a photo link answers "This photo is private".
    photo_id = post_photo(server.base, owner, image_bytes("teal"), "another")["photo_id"]
    visitor = new_page()
    visitor.goto(f"/#/u/{owner.username}")
    expect(visitor.locator("#private-panel")).to_contain_text("Log in and follow", timeout=WAIT)
    visitor.goto(f"/#/p/{photo_id}")
    expect(visitor.get_by_role("heading", name="This photo is private")).to_be_visible(
        timeout=WAIT)
    assert PAGE_ERRORS == []
