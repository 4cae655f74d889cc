"""The home timeline equals its definition, whatever the history, cap, threshold or batching.

Definition (ARCHITECTURE §5): a user's home timeline is the live posts of the people they
currently follow and their own live posts, newest first (by log position), capped at
`cap`. How it is stored (fan-out rows, celebrity and own posts merged at read time,
back-fills, refills after removals) must not show. A real ProjectionRunner applies a
random valid history to a real SQLite view database in random batches; after every batch,
every user's timeline is read with page walks of several sizes and compared with the
definition computed from the history itself.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from photoshare.events import (
    Envelope,
    Event,
    PhotoDeleted,
    PhotoPosted,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
    event_from_data,
)
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite import timelines
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.projections.timelines import TimelineEntry
from photoshare.streams.runner import Notice, ProjectionRunner
from support.histories import ListLog, envelopes, histories

PAGE_SIZES = (1, 2, 3)
# What moves timelines, weighted so that removals from full timelines (and the refills
# they need) and celebrity crossings both ways are common; a few others for realism.
TIMELINE_KINDS = ("follow", "follow", "follow", "unfollow", "unfollow", "post", "post", "post",
                  "delete", "delete", "delete", "like", "comment")


@dataclass
class Model:
    """The history folded the obvious way, with the fan-out notices it must cause."""

    threshold: int
    users: list[str] = field(default_factory=list)
    follows: set[tuple[str, str]] = field(default_factory=set)
    posts: dict[str, TimelineEntry] = field(default_factory=dict)  # live photo -> entry
    notices: Counter[tuple[str, str]] = field(default_factory=Counter)  # (user, photo)
    crossings: int = 0

    def followers(self, user_id: str) -> list[str]:
        return [a for a, b in self.follows if b == user_id]

    def apply(self, envelope: Envelope) -> None:
        e = event_from_data(envelope.event_type, envelope.schema_version, envelope.data)
        if isinstance(e, UserRegistered):
            self.users.append(e.user_id)
        elif isinstance(e, UserFollowed):
            before = len(self.followers(e.followee_id))
            self.follows.add((e.follower_id, e.followee_id))
            self.crossings += before <= self.threshold < before + 1
        elif isinstance(e, UserUnfollowed):
            before = len(self.followers(e.followee_id))
            self.follows.discard((e.follower_id, e.followee_id))
            self.crossings += before - 1 <= self.threshold < before
        elif isinstance(e, PhotoPosted):
            self.posts[e.photo_id] = TimelineEntry(e.photo_id, e.owner_id, envelope.position)
            followers = self.followers(e.owner_id)
            if len(followers) <= self.threshold:  # not a celebrity: fanned out, announced
                self.notices.update((user, e.photo_id) for user in followers)
        elif isinstance(e, PhotoDeleted):
            del self.posts[e.photo_id]

    def home(self, user_id: str, cap: int) -> list[TimelineEntry]:
        mine = [p for p in self.posts.values()
                if p.owner_id == user_id or (user_id, p.owner_id) in self.follows]
        return sorted(mine, key=lambda p: p.position, reverse=True)[:cap]


def walk(queries: timelines.SqliteTimelineQueries, user_id: str, limit: int
         ) -> list[TimelineEntry]:
    """Every page, following `before` from the last entry, until a short page."""
    seen: list[TimelineEntry] = []
    before = None
    for _ in range(1000):
        got = queries.home(user_id, before, limit)
        assert len(got) <= limit
        seen += got
        if len(got) < limit:
            return seen
        before = got[-1].position
    raise AssertionError("the page walk does not end")


def check_views(db: ViewDatabase, queries: timelines.SqliteTimelineQueries, model: Model,
                cap: int) -> None:
    for user_id in model.users:
        expected = model.home(user_id, cap)
        assert queries.home(user_id, None, cap + 5) == expected, user_id
        for size in PAGE_SIZES:
            assert walk(queries, user_id, size) == expected, (user_id, size)
        # Any `before`, not only the ones pages hand out.
        for before in {0, 1, *(p.position for p in model.posts.values()),
                       *(p.position + 1 for p in expected)}:
            assert queries.home(user_id, before, 2) == [
                p for p in expected if p.position < before][:2], (user_id, before)
    # The materialized rows stay trimmed, and their bookkeeping is exact.
    reader = db.reader()
    sizes = dict(reader.execute("SELECT user_id, count(*) FROM timeline GROUP BY user_id"))
    assert all(count <= cap for count in sizes.values())
    recorded = dict(reader.execute("SELECT user_id, size FROM tl_users WHERE size != 0"))
    assert recorded == sizes


def run(history_envelopes: Sequence[Envelope], cap: int, threshold: int, batch_size: int,
        directory: Path, *, check: Model | None = None
        ) -> tuple[dict[str, list[tuple[object, ...]]], list[Notice]]:
    settings_ = Settings(data_dir=directory, timeline_cap=cap, celebrity_threshold=threshold)
    db = ViewDatabase(directory / "views.sqlite3", [timelines.SCHEMA])
    published: list[Notice] = []
    try:
        runner = ProjectionRunner(ListLog(list(history_envelopes)), db,
                                  [timelines.binding(settings_)], batch_size=batch_size,
                                  publish=published.extend)
        queries = timelines.queries(db.reader(), settings_)
        applied = 0
        while runner.run_batch():
            if check is not None:
                for envelope in history_envelopes[applied:runner.position]:
                    check.apply(envelope)
                applied = runner.position
                check_views(db, queries, check, cap)
        return db.dump(), published
    finally:
        db.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(max_users=5, max_steps=100, kinds=TIMELINE_KINDS),
       cap=st.integers(1, 4), threshold=st.sampled_from([0, 1, 2, 100]), data=st.data())
def test_home_timeline_is_the_newest_posts_of_current_followees(
        history: list[tuple[Event, str]], cap: int, threshold: int, data: st.DataObject) -> None:
    items = envelopes(history)
    batch_size = data.draw(st.integers(1, len(items)), label="batch_size")
    model = Model(threshold)
    with tempfile.TemporaryDirectory(prefix="photoshare-tl-") as tmp:
        dump, published = run(items, cap, threshold, batch_size, Path(tmp) / "a", check=model)
        # The view is a function of the history alone, not of how it was batched.
        rebuilt, republished = run(items, cap, threshold, len(items), Path(tmp) / "b")
    assert dump == rebuilt
    # Live notices: one per fan-out row of a post, to each follower of a non-celebrity.
    for notices in (published, republished):
        assert all(n.kind == "timeline" for n in notices)
        assert Counter((n.user_id, n.data["photo_id"]) for n in notices) == model.notices
        for n in notices:
            entry = TimelineEntry(**n.data)
            assert entry.position > 0 and entry.owner_id != n.user_id
    event(f"celebrity crossings: {min(model.crossings, 3)}")
    event(f"deleted posts: {min(sum(e.event_type == 'PhotoDeleted' for e in items), 2)}")


# Hand-written histories for the paths a random history reaches least often; each is
# checked against the definition after every event. Steps: (kind, actor, other).
SCENARIOS = {
    "a delete from a full timeline refills it": (1, 100, [
        ("follow", "a", "b"), ("post", "b", "b1"), ("post", "b", "b2"), ("delete", "b", "b2")]),
    "an unfollow from a full timeline refills it": (2, 100, [
        ("follow", "a", "b"), ("follow", "a", "c"), ("post", "b", "b1"), ("post", "b", "b2"),
        ("post", "c", "c1"), ("post", "c", "c2"), ("unfollow", "a", "c")]),
    "a new celebrity's posts leave timelines, which are refilled": (1, 1, [
        ("follow", "v", "w"), ("post", "w", "w1"), ("follow", "v", "o"), ("post", "o", "o1"),
        ("follow", "u", "o"), ("delete", "o", "o1"), ("post", "o", "o2"),
        ("unfollow", "u", "o"), ("post", "o", "o3"), ("delete", "o", "o3")]),
    "a new celebrity's materialized posts are not counted twice": (3, 1, [
        ("follow", "v", "w"), ("post", "w", "w1"), ("follow", "v", "o"), ("post", "o", "o1"),
        ("post", "o", "o2"), ("follow", "u", "o")]),
    "a celebrity who drops below the threshold is back-filled": (2, 1, [
        ("follow", "a", "o"), ("follow", "b", "o"), ("post", "o", "o1"), ("post", "o", "o2"),
        ("post", "o", "o3"), ("follow", "a", "c"), ("post", "c", "c1"),
        ("unfollow", "b", "o"), ("delete", "o", "o3"), ("post", "o", "o4")]),
    "a celebrity unfollowed by one of many stays merged": (2, 1, [
        ("follow", "v", "w"), ("post", "w", "w1"), ("post", "w", "w2"), ("follow", "v", "o"),
        ("follow", "u", "o"), ("follow", "x", "o"), ("post", "o", "o1"),
        ("unfollow", "x", "o"), ("unfollow", "v", "o"), ("follow", "v", "o")]),
    "own posts stay through unfollows and leave when deleted": (2, 100, [
        ("post", "a", "a1"), ("follow", "a", "b"), ("post", "b", "b1"), ("post", "a", "a2"),
        ("post", "b", "b2"), ("unfollow", "a", "b"), ("follow", "b", "a"),
        ("unfollow", "b", "a"), ("delete", "a", "a2"), ("post", "b", "b3"),
        ("delete", "a", "a1")]),
    "a celebrity sees their own posts, merged or not": (2, 1, [
        ("post", "o", "o1"), ("follow", "a", "o"), ("post", "o", "o2"), ("follow", "b", "o"),
        ("post", "o", "o3"), ("follow", "o", "a"), ("post", "a", "a1"),
        ("unfollow", "b", "o"), ("delete", "o", "o3"), ("post", "o", "o4")]),
    "threshold zero: every followed account is merged at read time": (3, 0, [
        ("post", "b", "b1"), ("follow", "a", "b"), ("post", "b", "b2"), ("follow", "c", "b"),
        ("post", "b", "b3"), ("post", "b", "b4"), ("delete", "b", "b4"),
        ("unfollow", "a", "b")]),
}


def scenario_history(steps: list[tuple[str, str, str]]) -> list[tuple[Event, str]]:
    names = sorted({name for kind, actor, other in steps for name in (actor, other)
                    if not (kind in ("post", "delete") and name == other)})
    history: list[tuple[Event, str]] = [
        (UserRegistered(user_id=name, username=name, display_name=name), name)
        for name in names]
    for kind, actor, other in steps:
        made: Event = {
            "follow": lambda: UserFollowed(follower_id=actor, followee_id=other),
            "unfollow": lambda: UserUnfollowed(follower_id=actor, followee_id=other),
            "post": lambda: PhotoPosted(photo_id=other, owner_id=actor, original_key="k",
                                        format="jpeg", width=1, height=1, variants={}),
            "delete": lambda: PhotoDeleted(photo_id=other, owner_id=actor),
        }[kind]()
        history.append((made, actor))
    return history


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str, tmp_path: Path) -> None:
    cap, threshold, steps = SCENARIOS[name]
    items = envelopes(scenario_history(steps))
    model = Model(threshold)
    _, published = run(items, cap, threshold, 1, tmp_path, check=model)
    assert Counter((n.user_id, n.data["photo_id"]) for n in published) == model.notices


def test_a_deep_or_forged_cursor_gets_what_is_left_of_the_cap(tmp_path: Path) -> None:
    """Pages never go past the newest `cap` posts, merged or materialized, whatever the
    cursor (a forged one far down the log gets an empty page)."""
    history = [(UserRegistered(user_id=f"u{i}", username=f"n{i}", display_name="x"), f"u{i}")
               for i in range(3)]
    history += [(UserFollowed(follower_id="u0", followee_id=f"u{i}"), "u0") for i in (1, 2)]
    history += [(UserFollowed(follower_id="u2", followee_id="u1"), "u2")]  # u1: celebrity
    history += [(PhotoPosted(photo_id=f"p{i}", owner_id=f"u{1 + i % 2}", original_key="k",
                             format="jpeg", width=1, height=1, variants={}), "u1")
                for i in range(40)]
    items = envelopes(history)
    settings_ = Settings(data_dir=tmp_path, timeline_cap=10, celebrity_threshold=1)
    db = ViewDatabase(tmp_path / "views.sqlite3", [timelines.SCHEMA])
    ProjectionRunner(ListLog(items), db, [timelines.binding(settings_)]).catch_up()
    queries = timelines.queries(db.reader(), settings_)
    newest = [TimelineEntry(f"p{i}", f"u{1 + i % 2}", items[6 + i].position)
              for i in reversed(range(30, 40))]
    assert queries.home("u0", None, 100) == newest
    assert queries.home("u0", newest[4].position, 100) == newest[5:]
    assert queries.home("u0", 1, 100) == []
    assert queries.home("u0", 10, 100) == []
    # u2 follows u1 and sees their own posts too: all 40 posts, the newest 10 of them.
    assert queries.home("u2", None, 3) == newest[:3]
    assert queries.home("u2", newest[8].position, 100) == newest[9:]
    db.close()


def test_a_page_uses_the_indexes(tmp_path: Path) -> None:
    """The hot read and the refill never scan a whole view table, and a page finds the
    user's celebrity followees through the partial index of celebrity edges, never by
    reading all of the user's follows (both the merged posts and the cap's count)."""
    db = ViewDatabase(tmp_path / "views.sqlite3", [timelines.SCHEMA])
    reader: sqlite3.Connection = db.reader()
    params = {"user": "u", "before": 10, "n": 3, "cap": 5}
    for sql in (timelines._MERGED_PAGE, timelines._REFILL):
        plan = [row[-1] for row in reader.execute("EXPLAIN QUERY PLAN " + sql, params)]
        assert not [line for line in plan
                    if re.match(r"SCAN (timeline|tl_\w+|f|p|q)\b", line)], plan
    page = [row[-1] for row in reader.execute("EXPLAIN QUERY PLAN " + timelines._MERGED_PAGE,
                                              params)]
    edges = [line for line in page if line.startswith("SEARCH f ")]
    assert len(edges) == 2 and all("USING INDEX tl_follows_celebrities" in line
                                   for line in edges), page
    db.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(max_users=5, max_steps=80, kinds=TIMELINE_KINDS),
       cap=st.integers(1, 4), threshold=st.sampled_from([0, 1, 2, 100]))
def test_settling_a_view_applied_in_order_changes_nothing(
        history: list[tuple[Event, str]], cap: int, threshold: int) -> None:
    """`TimelinesProjection.settle` (run by the cluster applier after each batch) decides
    the crossings again from the counts: on a view whose events were applied one at a
    time, every decision was right already, so it finds nothing to fix. (Where it does
    fix something, two workers at once, see the cluster views contract.)"""
    items = envelopes(history)
    with tempfile.TemporaryDirectory(prefix="photoshare-tl-") as tmp:
        before, _ = run(items, cap, threshold, len(items), Path(tmp) / "a")
        settings_ = Settings(data_dir=Path(tmp), timeline_cap=cap,
                             celebrity_threshold=threshold)
        db = ViewDatabase(Path(tmp) / "a" / "views.sqlite3", [timelines.SCHEMA])
        try:
            binding = timelines.binding(settings_)
            with db.transaction() as connection:
                store = binding.store(connection, [])
                assert binding.projection.settle(items, store) == 0  # type: ignore[attr-defined]
            assert db.dump() == before
        finally:
            db.close()
