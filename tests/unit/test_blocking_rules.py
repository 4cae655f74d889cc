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
    assert [p for p in ("blocked", "blocker", "muted", "friend") if ME.hides(p)] == \
        ["blocked", "blocker"]
    assert blocking.shows_person(ME, "muted") and not blocking.shows_person(ME, "blocker")
    assert not blocking.is_heard(ME, "muted") and blocking.is_heard(ME, "friend")


def _some_blockers(asked: list[list[str]]) -> Controls:
    """Controls whose blocked_by holds one of the three who block "me" (as a store's read
    past BLOCKERS_LOADED gives them); `asked` records each question about the others."""
    def ask(ids: list[str]) -> set[str]:
        asked.append(ids)
        return {"b2", "b3"} & set(ids)
    return Controls(blocking=frozenset({"blocked"}), blocked_by=frozenset({"b1"}),
                    complete=False, ask=ask)


def test_past_the_loaded_blockers_each_person_is_asked_about_once() -> None:
    asked: list[list[str]] = []
    me = _some_blockers(asked)
    assert me.hides_anyone
    me.learn(["friend", "b2", "b1", "blocked", "friend"])
    assert asked == [["b2", "blocked", "friend"]]  # the loaded blocker is known already
    assert [p for p in ("b1", "b2", "friend", "blocked") if me.hides(p)] == \
        ["b1", "b2", "blocked"]
    assert asked == [["b2", "blocked", "friend"]]  # answered from what was learned
    assert me.is_blocked_by("b3") and not me.is_blocked_by("stranger")
    assert asked[1:] == [["b3"], ["stranger"]]  # not learned first: asked one by one
    assert not blocking.shows_person(me, "b3") and blocking.shows_person(me, "friend")


def test_whole_blockers_ask_nothing() -> None:
    me = Controls(blocked_by=frozenset({"b1"}))
    me.learn(["b1", "friend"])
    assert me.hides("b1") and not me.hides("friend")


def test_a_filtered_page_learns_each_batch_before_judging_it() -> None:
    asked: list[list[str]] = []
    me = _some_blockers(asked)
    rows = ["friend", "b2", "pal", "b3", "b1", "mate"]
    fetch = lambda start, n: rows[start:start + n]  # noqa: E731
    page, at = blocking.fill_offset(fetch, lambda who: blocking.shows_person(me, who), 0, 2,
                                    people=blocking.learn_people(lambda: me, lambda who: who))
    assert (page, at) == (["friend", "pal"], 5)  # the next page begins at "mate"
    assert asked == [["b2", "friend", "pal"], ["b3", "mate"]]  # one question a batch


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
