"""Alt text in a real browser: written on the upload form (with its counter to 1,500),
used as the image's alt in the feed and on the photo page, and edited there by the
owner only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from playwright.sync_api import Page, expect

from support.browser import (
    PAGE_ERRORS, WAIT, image_bytes, jpeg, log_in_as, post_photo, register, shot, upload,
)
from support.serve import Server

pytestmark = pytest.mark.e2e

DESCRIPTION = "A red kite flies over a green hill under a pale sky"


def test_alt_text_on_upload_in_the_img_alt_and_edited_by_the_owner(
        new_page: Callable[..., Page], server: Server, tmp_path: Path) -> None:
    tag = uuid4().hex[:6]
    owner = register(server.base, f"kite_{tag}", "Kit Flyer")
    page = new_page()
    log_in_as(page, owner)

    # The upload form: the alt text field counts up to 1,500 as one types.
    page.get_by_role("link", name="Upload", exact=True).click()
    alt = page.get_by_label("Alt text", exact=True)
    expect(alt).to_have_attribute("maxlength", "1500", timeout=WAIT)
    expect(page.locator("#upload-alt-text-count")).to_have_text("0 / 1,500")
    alt.fill(DESCRIPTION)
    expect(page.locator("#upload-alt-text-count")).to_have_text(f"{len(DESCRIPTION)} / 1,500")
    shot(page, "upload-alt-text")
    upload(page, jpeg(tmp_path / "kite.jpg", "forestgreen"), f"Kite day #kite{tag}",
           alt_text=DESCRIPTION)

    # The feed shows the post with the description as its alt.
    card = page.locator("article.photo-card").first
    expect(card).to_contain_text("Kite day", timeout=WAIT)
    expect(card.locator("img.photo-img")).to_have_attribute("alt", DESCRIPTION, timeout=WAIT)

    # Its page too; the owner edits the alt text there.
    card.locator("a.photo-link").click()
    image = page.locator(".photo-main img.photo-img")
    expect(image).to_have_attribute("alt", DESCRIPTION, timeout=WAIT)
    page.get_by_role("button", name="Edit alt text", exact=True).click()
    editor = page.get_by_label("Alt text", exact=True)
    expect(editor).to_have_value(DESCRIPTION)
    expect(page.locator("#photo-alt-text-count")).to_have_text(f"{len(DESCRIPTION)} / 1,500")
    editor.fill("A red kite over a hill")
    shot(page, "edit-alt-text")
    page.get_by_role("button", name="Save alt text", exact=True).click()
    expect(page.get_by_text("Alt text saved.")).to_be_visible(timeout=WAIT)
    expect(image).to_have_attribute("alt", "A red kite over a hill")
    expect(page.get_by_role("button", name="Edit alt text", exact=True)).to_be_visible()
    page.reload()
    expect(page.locator(".photo-main img.photo-img")).to_have_attribute(
        "alt", "A red kite over a hill", timeout=WAIT)

    # Someone else sees the description but gets no control to change it.
    other = register(server.base, f"see_{tag}", "Sam Seer")
    plain = post_photo(server.base, other, image_bytes("navy"), "no description")
    viewer = new_page()
    log_in_as(viewer, other, "#/p/" + page.url.rsplit("#/p/", 1)[1])
    expect(viewer.locator(".photo-main img.photo-img")).to_have_attribute(
        "alt", "A red kite over a hill", timeout=WAIT)
    expect(viewer.get_by_role("button", name="Edit alt text")).to_have_count(0)
    # A photo without alt text keeps the fallback naming its owner and caption.
    viewer.goto(f"/#/p/{plain['photo_id']}")
    expect(viewer.locator(".photo-main img.photo-img")).to_have_attribute(
        "alt", "Photo by Sam Seer: no description", timeout=WAIT)
    assert PAGE_ERRORS == []
