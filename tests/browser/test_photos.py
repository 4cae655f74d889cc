"""Photos of every shape in the web app: a portrait (1080x1920) and a panorama (3000x800).

In feeds a photo's box keeps its own shape clamped to 4:5..1.91:1 (Instagram's rule), on
its page the whole photo shows at its own shape; the box is reserved before the image
arrives, the srcset's `w` labels are the true widths of the served images, the image the
browser picks is never stretched, and the blurhash placeholder fills the box meanwhile."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, Route, expect

from support.browser import (
    DESKTOP, PAGE_ERRORS, PHONE_CONTEXT, WAIT, follow, image_bytes, log_in_as, loaded,
    post_photo, register, shot,
)
from support.serve import Server

pytestmark = pytest.mark.e2e

PORTRAIT = (1080, 1920)
PANORAMA = (3000, 800)


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, Any]:
    """Bob posts a portrait and a panorama; Ann follows him (so both are in her feed)."""
    tag = uuid4().hex[:6]
    bob = register(server.base, f"bob_{tag}", "Bob Shapes")
    ann = register(server.base, f"ann_{tag}", "Ann Viewer")
    follow(server.base, ann, bob)
    portrait = post_photo(server.base, bob, image_bytes("teal", PORTRAIT), "Tall tower")
    panorama = post_photo(server.base, bob, image_bytes("purple", PANORAMA), "Wide bay")
    return {"bob": bob, "ann": ann, "portrait": portrait, "panorama": panorama}


def feed_box(page: Page, photo_id: str) -> dict[str, float]:
    """The box of a photo's card in the feed, in CSS pixels."""
    box = page.locator(f"article[data-photo-id='{photo_id}'] .photo-box").bounding_box()
    assert box is not None
    return box


def page_box(page: Page) -> dict[str, float]:
    """The box of the photo on its own page, in CSS pixels."""
    box = page.locator(".photo-main .photo-box").bounding_box()
    assert box is not None
    return box


def image_facts(page: Page, selector: str) -> dict[str, Any]:
    """What the browser chose and how it is drawn: the URL, its real pixel width (loaded
    afresh: an <img> with a srcset reports a naturalWidth scaled by the chosen density),
    the width it is drawn at, and the screen's pixel density."""
    return page.locator(selector).evaluate("""async (img) => {
        const alone = new Image();
        alone.src = img.currentSrc;
        await alone.decode();
        return { src: img.currentSrc, natural: alone.naturalWidth,
                 rendered: img.getBoundingClientRect().width, dpr: window.devicePixelRatio,
                 srcset: img.getAttribute('srcset') || '' }; }""")


def srcset_widths(base: str, srcset: str) -> list[tuple[int, int]]:
    """(label, real width) of each srcset candidate, the image fetched and measured."""
    pairs = []
    with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as client:
        for candidate in filter(None, (c.strip() for c in srcset.split(","))):
            url, label = candidate.rsplit(" ", 1)
            image = Image.open(io.BytesIO(client.get(url).content))
            pairs.append((int(label.rstrip("w")), image.width))
    return pairs


class HeldMedia:
    """Holds every image request of a page until released (so the page is seen before
    its images arrive)."""

    def __init__(self, page: Page) -> None:
        self.held: list[Route] = []
        self.released = False
        page.route(re.compile(r"/media/"), self._handle)

    def _handle(self, route: Route) -> None:
        if self.released:
            route.continue_()
        else:
            self.held.append(route)

    def release(self) -> None:
        self.released = True
        for route in self.held:
            route.continue_()


def test_feed_boxes_keep_the_photos_shape_within_4_5_and_1_91(
        new_page: Callable[..., Page], server: Server, people: dict[str, Any]) -> None:
    """Needs nothing new from the server (the shape comes from the photo's size)."""
    for name, context in (("desktop", {"viewport": DESKTOP}), ("phone", PHONE_CONTEXT)):
        page = new_page(**context)
        held = HeldMedia(page)
        log_in_as(page, people["ann"])
        portrait_id, panorama_id = people["portrait"]["photo_id"], people["panorama"]["photo_id"]
        expect(page.locator(f"article[data-photo-id='{panorama_id}']")).to_be_visible(timeout=WAIT)
        # Before any image has arrived, the boxes already have their final shape.
        for photo_id, ratio in ((portrait_id, 0.8), (panorama_id, 1.91)):
            box = feed_box(page, photo_id)
            assert box["width"] / box["height"] == pytest.approx(ratio, abs=0.01), (name, box)
        held.release()
        loaded(page, "#feed")
        for photo_id, ratio in ((portrait_id, 0.8), (panorama_id, 1.91)):
            box = feed_box(page, photo_id)
            assert box["width"] / box["height"] == pytest.approx(ratio, abs=0.01), (name, box)
            if name == "phone":
                assert box["width"] == pytest.approx(390, abs=1)
            else:
                assert 600 <= box["width"] <= 614
            # Each srcset label is the true width of the image behind it.
            facts = image_facts(page, f"article[data-photo-id='{photo_id}'] img.photo-img")
            assert facts["srcset"], facts
            for label, real in srcset_widths(server.base, facts["srcset"]):
                assert label == real, (photo_id, facts["srcset"])
        assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
        page.locator(f"article[data-photo-id='{portrait_id}']").scroll_into_view_if_needed()
        shot(page, f"{name}-feed-portrait")
        page.locator(f"article[data-photo-id='{panorama_id}']").scroll_into_view_if_needed()
        shot(page, f"{name}-feed-panorama")
    assert PAGE_ERRORS == []


def test_photo_page_shows_the_whole_photo_at_its_own_shape(
        new_page: Callable[..., Page], server: Server, people: dict[str, Any]) -> None:
    """Needs nothing new from the server."""
    for name, context in (("desktop", {"viewport": DESKTOP}), ("phone", PHONE_CONTEXT)):
        page = new_page(**context)
        log_in_as(page, people["ann"])
        viewport = page.viewport_size
        for key, ratio in (("portrait", 1080 / 1920), ("panorama", 3000 / 800)):
            photo_id = people[key]["photo_id"]
            page.goto(f"/#/p/{photo_id}")
            expect(page.locator(".photo-main .photo-box")).to_be_visible(timeout=WAIT)
            loaded(page, ".photo-main")
            box = page_box(page)
            assert box["width"] / box["height"] == pytest.approx(ratio, rel=0.01), (name, key, box)
            assert box["height"] <= 0.85 * viewport["height"] + 1
            facts = image_facts(page, ".photo-main img.photo-img")
            for label, real in srcset_widths(server.base, facts["srcset"]):
                assert label == real, (key, facts["srcset"])
            # The author comes before the photo (above it on phones).
            head = page.locator(".photo-head").bounding_box()
            assert head is not None
            if name == "phone":
                assert head["y"] + head["height"] <= box["y"] + 1
            shot(page, f"{name}-photo-{key}")
    assert PAGE_ERRORS == []


def test_feed_images_are_sharp_and_wait_behind_their_placeholder(
        new_page: Callable[..., Page], server: Server, people: dict[str, Any]) -> None:
    """NEEDS the `feed`/`feed_small` variants, `variants` sizes and `placeholder` from the
    server (issue 13's contract): without them the 1080x1920 portrait has no image wider
    than 608 px for a 612 px box, and no placeholder."""
    portrait = people["portrait"]
    variants = portrait.get("variants") or {}
    assert {"feed", "feed_small", "large", "medium"} <= set(variants), variants
    assert variants["feed"]["width"] / variants["feed"]["height"] == pytest.approx(0.8, abs=0.01)
    assert isinstance(portrait.get("placeholder"), str)
    feed_urls = {variants["feed"]["url"], variants["feed_small"]["url"]}

    for name, context in (("desktop", {"viewport": DESKTOP}), ("phone", PHONE_CONTEXT)):
        page = new_page(**context)
        held = HeldMedia(page)
        log_in_as(page, people["ann"])
        card = f"article[data-photo-id='{portrait['photo_id']}']"
        expect(page.locator(card)).to_be_visible(timeout=WAIT)
        # While the image is on its way, the blurhash fills the whole box, in the photo's
        # colours (teal with a white ellipse: a cyan-ish average, little red).
        placeholder = page.locator(f"{card} canvas.photo-placeholder")
        expect(placeholder).to_be_visible(timeout=WAIT)
        canvas_box = placeholder.bounding_box()
        assert canvas_box == feed_box(page, portrait["photo_id"])
        red, green, blue = placeholder.evaluate("""(c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const sum = [0, 0, 0];
            for (let i = 0; i < d.length; i += 4) {
              sum[0] += d[i]; sum[1] += d[i + 1]; sum[2] += d[i + 2];
            }
            return sum.map((v) => v / (d.length / 4)); }""")
        assert green > red + 30 and blue > red + 30, (red, green, blue)
        if name == "desktop":
            shot(page, "desktop-feed-placeholder")
        held.release()
        loaded(page, card)
        expect(placeholder).to_have_count(0, timeout=WAIT)  # gone once the photo is there
        facts = image_facts(page, f"{card} img.photo-img")
        assert facts["src"].replace(server.base, "") in feed_urls, facts
        # Never stretched: the chosen image has a pixel for every screen pixel it covers.
        assert facts["natural"] >= facts["rendered"] * facts["dpr"] * 0.99, (name, facts)
        panorama = f"article[data-photo-id='{people['panorama']['photo_id']}'] img.photo-img"
        loaded(page, f"article[data-photo-id='{people['panorama']['photo_id']}']")
        facts = image_facts(page, panorama)
        assert facts["natural"] >= facts["rendered"] * facts["dpr"] * 0.99, (name, facts)

        # On its page: the whole photo (large or medium), again never stretched.
        page.goto(f"/#/p/{portrait['photo_id']}")
        loaded(page, ".photo-main")
        facts = image_facts(page, ".photo-main img.photo-img")
        assert facts["src"].replace(server.base, "") in {variants["large"]["url"],
                                                         variants["medium"]["url"]}
        # (A 1080x1920 photo's largest whole variant is 608 px wide: on a 390 px phone at
        # 2x that is 1.56 image pixels per CSS pixel, the most there is.)
        assert facts["natural"] >= facts["rendered"] * min(facts["dpr"], 1.5) * 0.99, (name, facts)
    assert PAGE_ERRORS == []


def test_blurhash_decoder(new_page: Callable[..., Page], server: Server) -> None:
    """The app's own decoder: a one-colour hash gives that colour everywhere; a 4x3 hash
    (blurha.sh's example) decodes; what is not a blurhash gives null (and so no canvas)."""
    page = new_page(viewport=DESKTOP)
    page.goto("/#/login")
    expect(page.get_by_role("heading", name="Log in to photoshare")).to_be_visible(timeout=WAIT)
    result = page.evaluate("""async () => {
        const { decodeBlurhash, placeholderCanvas } = await import('/dom.js');
        const solid = decodeBlurhash('00TNoS', 4, 3);
        const example = decodeBlurhash('LEHV6nWB2yk8pyo0adR*.7kCMdnj', 32, 32);
        return {
          solid: Array.from(solid),
          exampleLength: example && example.length,
          examplePixel: example && Array.from(example.slice(0, 4)),
          invalid: ['', 'zz', 'LEHV6nWB2yk8pyo0adR*.7kCMdn',  // too short by one
                    'LEHV6nWB2yk8pyo0adR*.7kCMdn\\u00e9', null]  // not base83
            .map((h) => decodeBlurhash(h, 8, 8)),
          noCanvas: placeholderCanvas(null) === null && placeholderCanvas('nope') === null,
        }; }""")
    for i in range(0, len(result["solid"]), 4):
        assert result["solid"][i:i + 4] == [255, 128, 0, 255]
    assert result["exampleLength"] == 32 * 32 * 4
    assert result["examplePixel"][3] == 255
    assert result["invalid"] == [None] * 5
    assert result["noCanvas"]
    assert PAGE_ERRORS == []
