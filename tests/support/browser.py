"""Helpers of the browser tests (tests/browser): test images, the people of a test made
through the real HTTP API (fast set-up), and the steps a person takes in the web app.

Screenshots go to `test-artifacts/screenshots/` at the repo root."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WAIT = 10000  # ms: the bound on every wait
PASSWORD = "browser password"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PHONE_CONTEXT: dict[str, Any] = {"viewport": PHONE, "device_scale_factor": 2,
                                 "is_mobile": True, "has_touch": True}

# Uncaught script errors of every page of the current test (each test asserts none).
PAGE_ERRORS: list[str] = []


def image_bytes(color: str, size: tuple[int, int] = (1200, 900), fmt: str = "JPEG") -> bytes:
    """A photo with a white ellipse in the middle and a black band at the bottom (so a
    crop or a squeeze shows in screenshots)."""
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill="white")
    draw.rectangle((0, h - h // 6, w, h), fill="black")
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=85)
    return buffer.getvalue()


def jpeg(path: Path, color: str, size: tuple[int, int] = (1200, 900)) -> Path:
    path.write_bytes(image_bytes(color, size))
    return path


@dataclass
class Person:
    """Someone registered through the API, with a token for more API calls."""

    username: str
    user_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(base: str, username: str, display_name: str) -> Person:
    with httpx.Client(base_url=base, timeout=30) as client:
        client.post("/v1/users", json={"username": username, "password": PASSWORD,
                                       "email": f"{username}@browser.example",
                                       "display_name": display_name}).raise_for_status()
        session = client.post("/v1/sessions", json={"login": username, "password": PASSWORD})
        session.raise_for_status()
        body = session.json()
    return Person(username, body["user_id"], body["access_token"])


def post_photo(base: str, person: Person, data: bytes, caption: str,
               location: str = "") -> dict[str, Any]:
    """Uploads through the API and returns the photo as the read API serves it."""
    with httpx.Client(base_url=base, timeout=60, headers=person.auth) as client:
        answer = client.post("/v1/photos", files={"file": ("photo.jpg", data, "image/jpeg")},
                             data={"caption": caption, "location": location})
        answer.raise_for_status()
        position = answer.headers["X-Event-Position"]
        photo = client.get(f"/v1/photos/{answer.json()['photo_id']}",
                           headers={"X-Min-Position": position})
        photo.raise_for_status()
        return photo.json()


def follow(base: str, person: Person, other: Person) -> None:
    with httpx.Client(base_url=base, timeout=30, headers=person.auth) as client:
        client.put(f"/v1/users/me/following/{other.user_id}").raise_for_status()


def log_in_as(page: Page, person: Person, hash_: str = "#/") -> None:
    """Opens the app as `person` (the token where the app keeps it), at `hash_`."""
    page.goto("/index.html#/login")
    page.evaluate("""([token, userId]) => {
        localStorage.setItem('photoshare.token', token);
        localStorage.setItem('photoshare.user_id', userId); }""", [person.token, person.user_id])
    page.goto(f"/{hash_}")  # another path than the one above: the app starts afresh
    expect(page.locator("body.logged-in")).to_have_count(1, timeout=WAIT)


def sign_up(page: Page, username: str, display_name: str, screenshot: str = "") -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Log in to photoshare")).to_be_visible(timeout=WAIT)
    page.get_by_role("link", name="Sign up", exact=True).first.click()
    expect(page.get_by_role("button", name="Sign up", exact=True)).to_be_visible(timeout=WAIT)
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Email", exact=True).fill(f"{username}@browser.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Display name", exact=True).fill(display_name)
    if screenshot:
        shot(page, screenshot)
    page.get_by_role("button", name="Sign up", exact=True).click()
    expect(page.get_by_role("link", name="Profile", exact=True)).to_be_visible(timeout=WAIT)
    # The live stream is open (so nothing that happens from now on is missed).
    expect(page.locator("body[data-live=open]")).to_have_count(1, timeout=WAIT)


def upload(page: Page, image: Path, caption: str, location: str = "", tagged: str = "",
           screenshot: str = "", alt_text: str = "") -> None:
    page.get_by_role("link", name="Upload", exact=True).click()
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_visible(timeout=WAIT)
    page.get_by_label("Photo", exact=True).set_input_files(str(image))
    expect(page.get_by_alt_text("Preview of the chosen photo")).to_be_visible(timeout=WAIT)
    page.get_by_label("Caption", exact=True).fill(caption)
    if location:
        page.get_by_label("Location", exact=True).fill(location)
    if tagged:
        page.get_by_label("Tag people", exact=True).fill(tagged)
    if alt_text:
        page.get_by_label("Alt text", exact=True).fill(alt_text)
    if screenshot:
        shot(page, screenshot)
    page.get_by_role("button", name="Upload", exact=True).click()


def loaded(page: Page, selector: str) -> None:
    """Every image under `selector` has finished loading and has pixels."""
    page.wait_for_function(
        """(sel) => { const imgs = [...document.querySelectorAll(sel + ' img')];
                      return imgs.length > 0
                             && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        arg=selector, timeout=WAIT)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def rect(page: Page, selector: str) -> dict[str, float]:
    """The first match's bounding box in CSS pixels (fails when nothing matches)."""
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box
