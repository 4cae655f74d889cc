"""The read side's block and mute rules (readapi/blocking.py): which live notices reach a
viewer, and filtered pages that stay full and never skip or repeat a row."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from photoshare.projections.controls import Controls
from photoshare.readapi import blocking
from photoshare.readapi.routes import notifications

ME = Controls(blocking=frozenset({"blocked"}), blocked_by=frozenset({"blocker"}),
              muting=frozenset({"muted"}))


@pytest.mark.parametrize("who,heard", [("friend", True), ("blocked", False),
                                       ("blocker", False), ("muted", False)])
def test_live_notices_from_the_silenced_do_not_reach_the_viewer(who: str, heard: bool) -> None:
    assert blocking.shows_notice(ME, "notification", {"actor_id": who}) is heard
    assert blocking.shows_notice(ME, "timeline", {"owner_id": who, "photo_id": "p"}) is heard
    services = SimpleNamespace(queries=lambda: SimpleNamespace(
        controls=SimpleNamespace(of=lambda user: ME)))
    notice = SimpleNamespace(kind="notification", data={"actor_id": who})
    assert notifications._heard(services, "me", notice) is heard  # type: ignore[arg-type]


def test_a_notice_without_a_person_is_let_through() -> None:
    assert blocking.shows_notice(ME, "something-new", {"x": 1})


def test_the_hidden_are_blocked_either_way_and_muting_hides_only_from_feeds() -> None:
    assert ME.hidden == {"blocked", "blocker"}
    assert blocking.shows_person(ME, "muted") and not blocking.shows_person(ME, "blocker")
    assert not blocking.is_heard(ME, "muted") and blocking.is_heard(ME, "friend")


def _keyset_walk(rows: list[int], keep: Any, limit: int) -> list[int]:
    """Every page of a newest-first list of positions, filtered, following the cursors."""
    def fetch(before: int | None, n: int) -> list[int]:
        return [r for r in rows if before is None or r < before][:n]

    seen: list[int] = []
    cursor: int | None = None
    for _ in range(1000):
        page, cursor = blocking.fill_keyset(fetch, keep, lambda r: r, cursor, limit)
        assert len(page) <= limit
        seen += page
        if cursor is None:
            return seen
    raise AssertionError("no end")


@given(rows=st.lists(st.integers(1, 10_000), unique=True).map(lambda r: sorted(r, reverse=True)),
       hidden=st.sets(st.integers(0, 6)), limit=st.integers(1, 5))
def test_filtered_keyset_pages_give_every_kept_row_once(rows: list[int], hidden: set[int],
                                                        limit: int) -> None:
    keep = lambda r: r % 7 not in hidden  # noqa: E731
    assert _keyset_walk(rows, keep, limit) == [r for r in rows if keep(r)]


@given(rows=st.lists(st.integers(0, 50)), hidden=st.sets(st.integers(0, 50)),
       limit=st.integers(1, 5))
def test_filtered_offset_pages_give_every_kept_row_once(rows: list[int], hidden: set[int],
                                                        limit: int) -> None:
    seen: list[int] = []
    at: int | None = 0
    while at is not None:
        page, at = blocking.fill_offset(lambda start, n: rows[start:start + n],
                                        lambda r: r not in hidden, at, limit)
        assert len(page) <= limit
        seen += page
    assert seen == [r for r in rows if r not in hidden]


def test_a_page_fills_itself_past_hidden_rows() -> None:
    rows = list(range(100, 0, -1))
    page, cursor = blocking.fill_keyset(lambda before, n: [r for r in rows if before is None
                                                           or r < before][:n],
                                        lambda r: r <= 95, lambda r: r, None, 3)
    assert page == [95, 94, 93] and cursor == 93
