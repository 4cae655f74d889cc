"""The forms' error cases in a real browser: the upload form with a file that is not a photo
(no broken preview; the error goes when a good file is chosen; notices never cover the
error or the button), and sign-up errors beside each field (aria-invalid, aria-describedby);
the login field takes a username or an email."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from support.browser import (
    DESKTOP, PAGE_ERRORS, PASSWORD, PHONE_CONTEXT, WAIT, image_bytes, log_in_as, register,
    shot,
)
from support.serve import Server

pytestmark = pytest.mark.e2e


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def box(locator: Locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None
    return found


def file_error(page: Page) -> Locator:
    return page.locator("#upload-file-error")


def choose(page: Page, name: str, mime: str, data: bytes) -> None:
    page.get_by_label("Photo", exact=True).set_input_files(
        {"name": name, "mimeType": mime, "buffer": data})


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "gold").save(buffer, "GIF")
    return buffer.getvalue()


def assert_notice_covers_nothing(page: Page, message: str) -> None:
    """A notice shown now covers neither the form's errors nor its Upload button."""
    page.evaluate("async (m) => (await import('/dom.js')).toast(m)", message)
    notice = page.get_by_text(message)
    expect(notice).to_be_visible(timeout=WAIT)
    keep = [page.get_by_role("button", name="Upload", exact=True)]
    keep += page.locator(".field-error, .form-error").all()
    for element in keep:
        assert not overlap(box(notice), box(element)), element


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_upload_form_errors(new_page: Callable[..., Page], server: Server, size: str) -> None:
    context: dict[str, Any] = {"viewport": DESKTOP} if size == "desktop" else PHONE_CONTEXT
    page = new_page(**context)
    log_in_as(page, register(server.base, f"up_{uuid4().hex[:6]}", "Uma Upload"), "#/upload")
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_visible(timeout=WAIT)
    file_input = page.get_by_label("Photo", exact=True)

    # A text file: a clear message beside the field, no (broken) preview image.
    choose(page, "notes.txt", "text/plain", b"just some words\n")
    expect(file_error(page)).to_contain_text("not a photo", timeout=WAIT)
    expect(file_input).to_have_attribute("aria-invalid", "true")
    expect(file_input).to_have_attribute("aria-describedby", "upload-file-error upload-file-hint")
    expect(page.locator(".preview img")).to_have_count(0)
    # Posting it anyway is stopped before it leaves the browser, with the same message.
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(file_error(page)).to_contain_text("not a photo")
    shot(page, f"{size}-upload-error")

    # Text that calls itself a PNG: it does not decode, so the same message, no image.
    choose(page, "fake.png", "image/png", b"not really a png")
    expect(file_error(page)).to_contain_text("not a photo", timeout=WAIT)
    expect(page.locator(".preview img")).to_have_count(0)

    # A good photo: the error goes, the preview shows.
    choose(page, "good.jpg", "image/jpeg", image_bytes("tomato", (800, 600)))
    expect(page.get_by_alt_text("Preview of the chosen photo")).to_be_visible(timeout=WAIT)
    expect(file_error(page)).to_have_count(0)
    expect(file_input).not_to_have_attribute("aria-invalid", "true")

    # A GIF named .jpg: the browser shows it, the server refuses it (415) and the error is
    # told beside the field; choosing a good file clears it again.
    choose(page, "animated.jpg", "image/jpeg", gif_bytes())
    expect(page.get_by_alt_text("Preview of the chosen photo")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(file_error(page)).to_be_visible(timeout=WAIT)
    expect(file_input).to_have_attribute("aria-invalid", "true")
    # Notices never cover the error or the Upload button, wherever the page is scrolled.
    page.get_by_role("button", name="Upload", exact=True).scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert_notice_covers_nothing(page, "A notice about something else")
    shot(page, f"{size}-upload-server-error-and-notice")
    choose(page, "good.jpg", "image/jpeg", image_bytes("tomato", (800, 600)))
    expect(file_error(page)).to_have_count(0, timeout=WAIT)
    expect(page.locator(".form-error")).to_have_count(0)
    assert PAGE_ERRORS == []


def test_sign_up_errors_beside_each_field(new_page: Callable[..., Page], server: Server) -> None:
    taken = register(server.base, f"taken_{uuid4().hex[:6]}", "Already Here")
    page = new_page(viewport=DESKTOP)
    page.goto("/#/signup")
    submit = page.get_by_role("button", name="Sign up", exact=True)
    expect(submit).to_be_visible(timeout=WAIT)
    page.get_by_label("Email", exact=True).fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("short")
    submit.click()

    fields = {"Username": "signup-username", "Email": "signup-email",
              "Password": "signup-password", "Display name": "signup-display-name"}
    for label, field_id in fields.items():
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_attribute("aria-invalid", "true")
        error = page.locator(f"#{field_id}-error")
        expect(error).to_be_visible()
        # Named by the field, and right under it (not stacked at the end of the form).
        described = (field.get_attribute("aria-describedby") or "").split()
        assert f"{field_id}-error" in described
        under, message = box(field), box(error)
        assert 0 <= message["y"] - (under["y"] + under["height"]) <= 12, label
    expect(page.get_by_role("textbox", name="Username", exact=True)).to_be_focused()
    expect(page.locator("#signup-password-error")).to_contain_text("8 characters")
    shot(page, "desktop-signup-errors")

    # Fixing a field clears its error only.
    page.get_by_label("Username", exact=True).fill(taken.username)
    expect(page.locator("#signup-username-error")).to_have_count(0)
    expect(page.get_by_label("Username", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#signup-email-error")).to_be_visible()

    # The server's answer lands beside its field too: the username is taken.
    page.get_by_label("Email", exact=True).fill(f"new_{uuid4().hex[:6]}@browser.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Display name", exact=True).fill("Someone New")
    submit.click()
    expect(page.locator("#signup-username-error")).to_contain_text("taken", timeout=WAIT)
    expect(page.get_by_label("Username", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".form-error")).to_have_count(0)

    # The login field is "Username or email", and an email works.
    page.goto("/#/login")
    login = page.get_by_label("Username or email", exact=True)
    expect(login).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(login).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#login-username-error")).to_be_visible()
    login.fill(f"{taken.username}@browser.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("link", name="Profile", exact=True)).to_be_visible(timeout=WAIT)
    assert PAGE_ERRORS == []
