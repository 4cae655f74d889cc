"""The web app in a real browser (Debian's chromium through Playwright) against the real
`photoshare serve`: two people in two browser contexts sign up, follow, post, see the post
announced live, like, comment and get notified live; and a phone-sized run.

Screenshots of the main pages go to `test-artifacts/screenshots/` at the repo root."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.browser import PAGE_ERRORS, PASSWORD, WAIT, jpeg, loaded, shot, sign_up, upload
from support.serve import Server

pytestmark = pytest.mark.e2e


def test_two_people_follow_post_live_like_comment_notify(new_page: Callable[..., Page],
                                                         tmp_path: Path) -> None:
    tag = uuid4().hex[:6]
    ann, bob = f"ann_{tag}", f"bob_{tag}"
    follower = new_page(viewport={"width": 1280, "height": 900})
    owner = new_page(viewport={"width": 1280, "height": 900})

    sign_up(owner, bob, "Bob Builder", screenshot="signup")
    sign_up(follower, ann, "Ann Archer")
    expect(follower.get_by_role("heading", name="Your feed is empty")).to_be_visible(timeout=WAIT)

    # Ann finds Bob with the type-ahead and follows him from his profile.
    search = follower.get_by_role("combobox", name="Search")
    search.fill(bob[:6])
    option = follower.get_by_role("option", name=re.compile(bob))
    expect(option).to_be_visible(timeout=WAIT)
    shot(follower, "type-ahead")
    search.press("ArrowDown")
    search.press("Enter")
    expect(follower.get_by_role("heading", name=bob, exact=True)).to_be_visible(timeout=WAIT)
    follower.get_by_role("button", name="Follow", exact=True).click()
    expect(follower.get_by_role("button", name="Unfollow", exact=True)).to_be_visible(timeout=WAIT)
    expect(follower.locator(".counts")).to_contain_text("1 follower")

    # Ann goes back to her (empty) feed and waits there.
    follower.get_by_role("link", name="Home", exact=True).click()
    expect(follower.get_by_role("heading", name="Your feed is empty")).to_be_visible(timeout=WAIT)

    # Bob posts; his own post shows at the top of his feed at once.
    upload(owner, jpeg(tmp_path / "sunset.jpg", "darkorange"),
           f"Sunset over the bay #sunset{tag} with @{ann}", location="Brighton", tagged=ann,
           screenshot="upload")
    card = owner.locator("article.photo-card").first
    expect(card).to_contain_text("Sunset over the bay", timeout=WAIT)
    expect(card).to_contain_text("Your new post")
    loaded(owner, "article.photo-card")
    shot(owner, "feed-own-post")

    # Ann's open feed announces it live, without a reload; a click shows it.
    announce = follower.get_by_role("button", name="1 new post", exact=True)
    expect(announce).to_be_visible(timeout=WAIT)
    announce.click()
    card = follower.locator("article.photo-card").first
    expect(card).to_contain_text("Sunset over the bay", timeout=WAIT)
    expect(card.get_by_role("link", name=f"#sunset{tag}", exact=True)).to_be_visible(timeout=WAIT)
    expect(card.get_by_role("link", name=f"@{ann}", exact=True).first).to_be_visible(timeout=WAIT)
    # One post from the one person followed: the feed says so at its end.
    expect(follower.get_by_text("You're all caught up")).to_be_visible(timeout=WAIT)
    image = card.locator("img.photo-img")
    expect(image).to_have_attribute("loading", "lazy")
    expect(image).to_have_attribute("srcset", re.compile(r"640w.*1080w"))
    loaded(follower, "article.photo-card")

    # Ann likes it.
    like = card.get_by_role("button", name="Like", exact=True)
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true", timeout=WAIT)
    expect(card).to_contain_text("1 like")
    shot(follower, "feed")

    # Bob sees his notification count go up live (the follow, then the like).
    count = owner.locator("#notif-count")
    expect(count).to_have_text("2", timeout=WAIT)

    # Ann opens the photo page and comments.
    card.locator("a.comments-link").click()
    expect(follower.get_by_label("Comment", exact=True)).to_be_visible(timeout=WAIT)
    follower.get_by_label("Comment", exact=True).fill("Gorgeous colours!")
    follower.get_by_role("button", name="Post", exact=True).click()
    expect(follower.locator("ul.comments")).to_contain_text("Gorgeous colours!", timeout=WAIT)
    expect(follower.get_by_role("button", name="Delete comment")).to_be_visible(timeout=WAIT)
    expect(follower.locator(".photo-side")).to_contain_text("1 comment")
    loaded(follower, ".photo-main")
    shot(follower, "photo-page")

    # Bob: followed, liked, commented: three unread, arrived live; he opens the panel,
    # which marks them read: the badge clears at once (and stays so after a reload).
    expect(count).to_have_text("3", timeout=WAIT)
    owner.get_by_role("button", name=re.compile("^Notifications")).click()
    panel = owner.get_by_role("dialog", name="Notifications")
    expect(panel).to_be_visible(timeout=WAIT)
    expect(panel).to_contain_text("Ann Archer liked your photo")
    expect(panel).to_contain_text("Ann Archer commented on your photo")
    expect(panel).to_contain_text("Ann Archer started following you")
    expect(count).to_be_hidden(timeout=WAIT)
    # The like and the comment show the photo's thumbnail; the follow has none.
    thumbs = panel.locator(".notif-thumb img")
    expect(thumbs).to_have_count(2, timeout=WAIT)
    loaded(owner, "#notif-list")
    shot(owner, "notifications")
    owner.keyboard.press("Escape")
    expect(panel).to_be_hidden(timeout=WAIT)
    owner.reload()
    expect(owner.locator("body[data-live=open]")).to_have_count(1, timeout=WAIT)
    expect(owner.get_by_role("button", name=re.compile("^Notifications"))).to_be_visible()
    expect(count).to_be_hidden()

    # A new notification after that counts again from zero, live; clicking it opens the
    # photo and leaves it read.
    follower.get_by_label("Comment", exact=True).fill("Where is this?")
    follower.get_by_role("button", name="Post", exact=True).click()
    expect(count).to_have_text("1", timeout=WAIT)
    owner.get_by_role("button", name=re.compile("^Notifications")).click()
    owner.get_by_role("link", name=re.compile("Ann Archer commented")).first.click()
    expect(owner.get_by_role("button", name="Delete photo")).to_be_visible(timeout=WAIT)
    expect(panel).to_be_hidden()
    expect(count).to_be_hidden()
    owner.reload()
    expect(owner.get_by_role("button", name="Delete photo")).to_be_visible(timeout=WAIT)
    expect(owner.locator("body[data-notifications=loaded]")).to_have_count(1, timeout=WAIT)
    expect(count).to_be_hidden()

    # Unfollow and follow again from the profile page.
    follower.get_by_role("link", name=bob, exact=True).first.click()
    expect(follower.get_by_role("button", name="Unfollow", exact=True)).to_be_visible(timeout=WAIT)
    follower.get_by_role("button", name="Unfollow", exact=True).click()
    expect(follower.get_by_role("button", name="Follow", exact=True)).to_be_visible(timeout=WAIT)
    expect(follower.locator(".counts")).to_contain_text("0 followers")
    follower.get_by_role("button", name="Follow", exact=True).click()
    expect(follower.get_by_role("button", name="Unfollow", exact=True)).to_be_visible(timeout=WAIT)

    # Bob's profile: the grid of square variants; the photo search by #hashtag.
    owner.get_by_role("link", name="Profile", exact=True).click()
    expect(owner.get_by_role("heading", name=bob, exact=True)).to_be_visible(timeout=WAIT)
    expect(owner.get_by_role("button", name="Edit profile")).to_be_visible(timeout=WAIT)
    expect(owner.locator(".grid-item")).to_have_count(1, timeout=WAIT)
    expect(owner.locator(".grid-item img")).to_have_attribute("srcset", re.compile("320w"))
    loaded(owner, ".grid")
    shot(owner, "profile")

    owner.get_by_role("button", name="Edit profile").click()
    owner.get_by_label("Bio", exact=True).fill("I build things and photograph sunsets.")
    owner.get_by_label("Avatar", exact=True).set_input_files(
        str(jpeg(tmp_path / "me.jpg", "royalblue", size=(400, 400))))
    owner.get_by_role("button", name="Save", exact=True).click()
    expect(owner.locator(".about")).to_contain_text("I build things", timeout=WAIT)
    expect(owner.locator(".profile-avatar img.avatar")).to_have_attribute(
        "src", re.compile(r"^/media/"), timeout=WAIT)

    owner.get_by_role("combobox", name="Search").fill(f"#sunset{tag}")
    owner.get_by_role("button", name="Search", exact=True).click()
    expect(owner.get_by_role("heading", name=re.compile("Results for"))).to_be_visible(
        timeout=WAIT)
    expect(owner.locator(".grid-item")).to_have_count(1, timeout=WAIT)
    loaded(owner, ".grid")
    shot(owner, "search")
    # The query stays in the box on its results only, not on the pages after.
    expect(owner.get_by_role("combobox", name="Search")).to_have_value(f"#sunset{tag}")
    owner.get_by_role("link", name="Home", exact=True).click()
    expect(owner.locator("section.feed-page")).to_have_count(1, timeout=WAIT)
    expect(owner.get_by_role("combobox", name="Search")).to_have_value("")

    # After a reload the token is still there; log out works.
    follower.reload()
    expect(follower.get_by_role("button", name="Log out", exact=True)).to_be_visible(timeout=WAIT)
    follower.get_by_role("button", name="Log out", exact=True).click()
    expect(follower.get_by_role("button", name="Log in", exact=True)).to_be_visible(timeout=WAIT)
    follower.get_by_label("Username or email", exact=True).fill(ann)
    follower.get_by_label("Password", exact=True).fill("not the password")
    follower.get_by_role("button", name="Log in", exact=True).click()
    expect(follower.get_by_role("alert").first).to_contain_text("not right", timeout=WAIT)
    follower.get_by_label("Password", exact=True).fill(PASSWORD)
    follower.get_by_role("button", name="Log in", exact=True).click()
    expect(follower.locator("article.photo-card").first).to_contain_text("Sunset over the bay",
                                                                         timeout=WAIT)

    assert PAGE_ERRORS == []


def test_phone_sign_up_upload_feed_and_profile(new_page: Callable[..., Page],
                                               tmp_path: Path) -> None:
    name = f"cat_{uuid4().hex[:6]}"
    page = new_page(viewport={"width": 390, "height": 844},
                    device_scale_factor=2, is_mobile=True, has_touch=True)
    sign_up(page, name, "Cat Phone")
    upload(page, jpeg(tmp_path / "tall.jpg", "seagreen", size=(900, 1200)),
           "Morning walk #phone", location="Leeds")
    card = page.locator("article.photo-card").first
    expect(card).to_contain_text("Morning walk", timeout=WAIT)
    loaded(page, "article.photo-card")
    # The photo fits the phone's width and keeps its aspect ratio (3:4).
    box = card.locator("img.photo-img").bounding_box()
    assert box is not None and box["width"] <= 390 and 1.2 < box["height"] / box["width"] < 1.45
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shot(page, "phone-feed")

    # Keyboard: the Like button works with the keyboard and shows where the focus is.
    like = card.get_by_role("button", name="Like", exact=True)
    like.focus()
    page.keyboard.press("Space")
    expect(like).to_have_attribute("aria-pressed", "true", timeout=WAIT)
    expect(card).to_contain_text("1 like", timeout=WAIT)
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("""() => { const el = document.activeElement;
        return el.matches(':focus-visible') && getComputedStyle(el).outlineStyle !== 'none'; }""")

    page.get_by_role("link", name="Profile", exact=True).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible(timeout=WAIT)
    expect(page.locator(".grid-item")).to_have_count(1, timeout=WAIT)
    loaded(page, ".grid")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-profile")

    page.locator(".grid-item").first.click()
    expect(page.get_by_role("button", name="Delete photo")).to_be_visible(timeout=WAIT)
    loaded(page, ".photo-main")
    shot(page, "phone-photo")

    # A failed request is told in plain words and can be retried; nothing else breaks.
    page.route("**/v1/users/*/photos*", lambda route: route.abort())
    page.get_by_role("link", name=name, exact=True).first.click()
    expect(page.get_by_text("Can't reach the server")).to_be_visible(timeout=WAIT)
    shot(page, "phone-failed-request")
    page.unroute("**/v1/users/*/photos*")
    page.get_by_role("button", name="Try again", exact=True).click()
    expect(page.locator(".grid-item")).to_have_count(1, timeout=WAIT)
    assert PAGE_ERRORS == []


def test_the_app_is_served_at_the_root_without_shadowing_the_api(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=10) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert index.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in index.headers["content-security-policy"]
        script = client.get("/app.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert client.get("/app.js", headers={"If-None-Match": script.headers["etag"]}
                          ).status_code == 304
        assert client.get("/style.css").headers["content-type"].startswith("text/css")
        # The API keeps its own paths and its JSON errors.
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/openapi.json").status_code == 200
        for path in ("/v1/nothing-here", "/no-such-file.js", "/media/x", "/../pyproject.toml"):
            missing = client.get(path)
            assert missing.status_code in (400, 404), path
            assert "error" in missing.json(), path
