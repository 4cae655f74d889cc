"""Block and mute in a real browser: the "⋯" menu on someone's profile (Mute / Unmute, and
Block with a confirm, then the blocked profile as its blocker sees it), what the blocked
person then finds (no such person), and the settings lists of blocked and muted accounts
with their Unblock / Unmute buttons."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest
from playwright.sync_api import Dialog, Page, expect

from support.browser import (
    PAGE_ERRORS, WAIT, follow, image_bytes, log_in_as, post_photo, register, shot,
)
from support.serve import Server

pytestmark = pytest.mark.e2e


def test_block_and_mute_from_the_profile_menu_and_undo_in_settings(
        new_page: Callable[..., Page], server: Server) -> None:
    tag = uuid4().hex[:6]
    ann = register(server.base, f"ann_{tag}", "Ann Blocker")
    bob = register(server.base, f"bob_{tag}", "Bob Blocked")
    cy = register(server.base, f"cy_{tag}", "Cy Muted")
    follow(server.base, ann, cy)
    follow(server.base, bob, ann)
    post_photo(server.base, cy, image_bytes("darkorange"), f"cy's sunset #m{tag}")
    post_photo(server.base, bob, image_bytes("navy"), f"bob's night #b{tag}")
    page = new_page()
    confirms: list[str] = []

    def answer(dialog: Dialog) -> None:
        confirms.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)

    # Mute Cy from his profile's menu: his post leaves Ann's feed.
    log_in_as(page, ann, f"#/u/{cy.username}")
    menu = page.get_by_role("button", name=f"More options for @{cy.username}")
    expect(page.get_by_role("button", name="Unfollow", exact=True)).to_be_visible(timeout=WAIT)
    menu.click()
    expect(page.get_by_role("menuitem", name=f"Block @{cy.username}")).to_be_visible()
    shot(page, "profile-menu")
    page.get_by_role("menuitem", name=f"Mute @{cy.username}").click()
    expect(page.get_by_text(f"You muted @{cy.username}.")).to_be_visible(timeout=WAIT)
    menu.click()
    expect(page.get_by_role("menuitem", name=f"Unmute @{cy.username}")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("menu")).to_be_hidden()
    page.goto("/#/")
    expect(page.get_by_role("heading", name="Your feed is empty")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("cy's sunset")).to_have_count(0)

    # Block Bob, with a confirm: his profile then says so and shows none of his posts.
    page.goto(f"/#/u/{bob.username}")
    page.get_by_role("button", name=f"More options for @{bob.username}").click()
    page.get_by_role("menuitem", name=f"Block @{bob.username}").click()
    assert confirms and f"Block @{bob.username}?" in confirms[0]
    note = page.locator(".blocked-note")
    expect(note).to_contain_text(f"You blocked @{bob.username}", timeout=WAIT)
    expect(page.locator("#profile-grid .grid-item")).to_have_count(0)
    expect(page.get_by_role("button", name="Follow", exact=True)).to_be_hidden()
    shot(page, "profile-blocked")

    # Bob finds no Ann.
    bobs = new_page()
    log_in_as(bobs, bob, f"#/u/{ann.username}")
    expect(bobs.get_by_role("heading", name="No such person")).to_be_visible(timeout=WAIT)

    # Ann's settings list both, and undo them there.
    page.goto(f"/#/u/{ann.username}")
    page.get_by_role("button", name="Settings").click()
    blocked = page.locator("#settings-blocks")
    muted = page.locator("#settings-mutes")
    expect(blocked).to_contain_text(bob.username, timeout=WAIT)
    expect(muted).to_contain_text(cy.username, timeout=WAIT)
    shot(page, "settings-blocks-mutes")
    page.get_by_role("button", name=f"Unblock @{bob.username}").click()
    expect(blocked).to_contain_text("You have not blocked anyone.", timeout=WAIT)
    page.get_by_role("button", name=f"Unmute @{cy.username}").click()
    expect(muted).to_contain_text("You have not muted anyone.", timeout=WAIT)
    page.goto("/#/")
    expect(page.get_by_text("cy's sunset")).to_be_visible(timeout=WAIT)
    bobs.reload()
    expect(bobs.get_by_role("heading", name=ann.username)).to_be_visible(timeout=WAIT)
    assert PAGE_ERRORS == []
