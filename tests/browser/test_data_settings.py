"""The settings of one's own profile in a real browser: "Download my data" saves the zip
of GET /v1/users/me/export (the real endpoint), and "Delete account" asks for the password
in a dialog and sends DELETE /v1/users/me with it: the dialog's answers to every status
are checked with answers given by the test (`page.route`), and
`test_deleting_the_account_for_real` runs it against the real endpoint."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from support.browser import (
    PAGE_ERRORS, PASSWORD, PHONE_CONTEXT, WAIT, Person, image_bytes, log_in_as, post_photo,
    register, shot,
)
from support.serve import Server

pytestmark = pytest.mark.e2e


def open_settings(page: Page, person: Person) -> None:
    log_in_as(page, person, f"#/u/{person.username}")
    page.get_by_role("button", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible(timeout=WAIT)


def test_download_my_data_saves_the_zip(new_page: Callable[..., Page], server: Server,
                                        tmp_path: Path) -> None:
    tag = uuid4().hex[:6]
    ann = register(server.base, f"ann_{tag}", "Ann Archive")
    uploaded = image_bytes("teal", (900, 600))
    photo = post_photo(server.base, ann, uploaded, f"harbour at dawn #export{tag}")
    page = new_page()
    open_settings(page, ann)
    button = page.get_by_role("button", name="Download my data")
    expect(button).to_be_visible()
    expect(page.get_by_role("button", name="Delete account")).to_be_visible()
    shot(page, "settings-data")

    with page.expect_download(timeout=WAIT) as started:
        button.click()
    download = started.value
    assert download.suggested_filename.startswith(f"photoshare-ann_{tag}-")
    assert download.suggested_filename.endswith(".zip")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    archive = zipfile.ZipFile(saved)
    assert archive.read(f"photos/{photo['photo_id']}.jpg") == uploaded
    photos = json.loads(archive.read("photos.json"))
    assert [p["caption"] for p in photos] == [f"harbour at dawn #export{tag}"]
    assert json.loads(archive.read("profile.json"))["username"] == f"ann_{tag}"
    expect(page.locator("#export-status")).to_have_text(
        f"Downloaded {download.suggested_filename}.", timeout=WAIT)
    expect(button).to_be_enabled()
    assert PAGE_ERRORS == []


def test_download_my_data_shows_a_refusal_plainly(new_page: Callable[..., Page],
                                                  server: Server) -> None:
    """An answer other than the zip (here the 429 of an export already running, given by
    the test) is shown in words beside the button, and nothing is saved."""
    bea = register(server.base, f"bea_{uuid4().hex[:6]}", "Bea Busy")
    page = new_page()
    open_settings(page, bea)
    page.route("**/v1/users/me/export", lambda route: route.fulfill(
        status=429, content_type="application/json", headers={"Retry-After": "30"},
        body=json.dumps({"error": {"code": "export_in_progress", "message":
                                   "an export of your data is already being made; "
                                   "wait for it to finish"}})))
    downloads: list[object] = []
    page.on("download", lambda download: downloads.append(download))
    page.get_by_role("button", name="Download my data").click()
    expect(page.locator("#export-status")).to_have_text(
        "An export of your data is already being made; wait for it to finish.", timeout=WAIT)
    assert downloads == []
    assert PAGE_ERRORS == []


def answer(status: int, body: dict | None = None) -> Callable[[Route], None]:
    def reply(route: Route) -> None:
        if route.request.method != "DELETE":
            route.fallback()
            return
        route.fulfill(status=status, content_type="application/json",
                      body=json.dumps(body) if body is not None else "")
    return reply


def test_delete_account_asks_for_the_password_and_sends_it(
        new_page: Callable[..., Page], server: Server) -> None:
    """The dialog and the request it sends, with the contract's answers given by the test:
    401 is "Wrong password." in the dialog, another error in its own words, 204 logs out
    and says goodbye."""
    cy = register(server.base, f"cy_{uuid4().hex[:6]}", "Cy Leaving")
    page = new_page()
    open_settings(page, cy)
    opener = page.get_by_role("button", name="Delete account")
    opener.click()
    dialog = page.get_by_role("dialog", name="Delete your account?")
    expect(dialog).to_be_visible(timeout=WAIT)
    password = dialog.get_by_label("Your password")
    expect(password).to_be_focused()
    shot(page, "settings-delete-dialog")

    # Nothing typed: said, and nothing sent.
    dialog.get_by_role("button", name="Delete my account").click()
    expect(dialog.get_by_role("alert")).to_have_text("Enter your password.")

    # A wrong password: the request carries it; the 401 is said in the dialog, and the
    # person stays logged in (a 401 here is no ended session).
    page.route("**/v1/users/me", answer(401, {"error": {
        "code": "wrong_password", "message": "the password is not right"}}))
    password.fill("not my password")
    with page.expect_request(lambda r: r.method == "DELETE"
                             and r.url.endswith("/v1/users/me")) as sent:
        dialog.get_by_role("button", name="Delete my account").click()
    assert sent.value.post_data_json == {"password": "not my password"}
    assert sent.value.headers["authorization"] == f"Bearer {cy.token}"
    expect(dialog.get_by_role("alert")).to_have_text("Wrong password.", timeout=WAIT)
    shot(page, "settings-delete-wrong-password")
    expect(page.locator("body.logged-in")).to_have_count(1)

    # Any other error is shown as the server words it.
    page.unroute("**/v1/users/me")
    page.route("**/v1/users/me", answer(503, {"error": {
        "code": "unavailable", "message": "try again in a minute"}}))
    dialog.get_by_role("button", name="Delete my account").click()
    expect(dialog.get_by_role("alert")).to_have_text("Try again in a minute.", timeout=WAIT)

    # Cancel closes it; focus goes back to the button that opened it.
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(opener).to_be_focused()

    # 204: logged out, a goodbye screen.
    page.unroute("**/v1/users/me")
    page.route("**/v1/users/me", answer(204))
    opener.click()
    dialog = page.get_by_role("dialog", name="Delete your account?")
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Your account is deleted")).to_be_visible(timeout=WAIT)
    expect(page.locator("body.logged-in")).to_have_count(0)
    assert page.evaluate("localStorage.getItem('photoshare.token')") is None
    shot(page, "goodbye")
    assert PAGE_ERRORS == []


def test_the_settings_fit_a_phone(new_page: Callable[..., Page], server: Server) -> None:
    dee = register(server.base, f"dee_{uuid4().hex[:6]}", "Dee Phone")
    page = new_page(**PHONE_CONTEXT)
    open_settings(page, dee)
    for name in ("Log out", "Download my data", "Delete account"):
        button = page.get_by_role("button", name=name)
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["height"] >= 40  # a finger's target
    page.get_by_role("button", name="Download my data").scroll_into_view_if_needed()
    shot(page, "settings-data-phone")
    page.get_by_role("button", name="Delete account").click()
    dialog = page.get_by_role("dialog", name="Delete your account?")
    expect(dialog).to_be_visible(timeout=WAIT)
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    shot(page, "settings-delete-dialog-phone")
    assert PAGE_ERRORS == []


def test_deleting_the_account_for_real(new_page: Callable[..., Page], server: Server) -> None:
    eve = register(server.base, f"eve_{uuid4().hex[:6]}", "Eve Gone")
    page = new_page()
    open_settings(page, eve)
    page.get_by_role("button", name="Delete account").click()
    dialog = page.get_by_role("dialog", name="Delete your account?")
    dialog.get_by_label("Your password").fill("not my password")
    dialog.get_by_role("button", name="Delete my account").click()
    expect(dialog.get_by_role("alert")).to_have_text("Wrong password.", timeout=WAIT)
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Your account is deleted")).to_be_visible(timeout=WAIT)
    with httpx.Client(base_url=server.base, timeout=30) as client:
        login = client.post("/v1/sessions", json={"login": eve.username, "password": PASSWORD})
        assert login.status_code == 401
    assert PAGE_ERRORS == []
