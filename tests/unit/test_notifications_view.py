"""The notifications view: who is told what, undo, idempotency and the read marker.

Runs the real ProjectionRunner over the real SQLite view (a temporary file), fed by an
in-memory log of envelopes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photoshare.events import (
    CommentAdded,
    CommentDeleted,
    Envelope,
    Event,
    NotificationsRead,
    PhotoDeleted,
    PhotoLiked,
    PhotoPosted,
    PhotoUnliked,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
    event_from_data,
)
from photoshare.infra.settings import Settings
from photoshare.infra.sqlite import notifications as sqlite_notifications
from photoshare.infra.sqlite.viewdb import ViewDatabase
from photoshare.projections.notifications import Notification, notification_id
from photoshare.streams.runner import Notice, ProjectionRunner
from support.histories import NAMES, START, ListLog, envelopes, histories, uid

VIEW_SETTINGS = Settings()
ANN, BOB, CY, DEE = (uid("user", i) for i in range(4))
P1, P2 = uid("photo", 1), uid("photo", 2)
C1, C2 = uid("comment", 1), uid("comment", 2)


# --- building histories ---------------------------------------------------------------


def users(n: int = 4) -> list[tuple[Event, str]]:
    return [(UserRegistered(user_id=uid("user", i), username=NAMES[i],
                            display_name=NAMES[i].title()), uid("user", i)) for i in range(n)]


def posted(photo_id: str, owner: str, *tagged: str) -> tuple[Event, str]:
    return (PhotoPosted(photo_id=photo_id, owner_id=owner, tagged_user_ids=list(tagged),
                        original_key="o.jpg", format="jpeg", width=10, height=10,
                        variants={"large": "l.jpg"}), owner)


def followed(follower: str, followee: str) -> tuple[Event, str]:
    return UserFollowed(follower_id=follower, followee_id=followee), follower


def unfollowed(follower: str, followee: str) -> tuple[Event, str]:
    return UserUnfollowed(follower_id=follower, followee_id=followee), follower


def liked(photo_id: str, owner: str, user: str) -> tuple[Event, str]:
    return PhotoLiked(photo_id=photo_id, owner_id=owner, user_id=user), user


def unliked(photo_id: str, owner: str, user: str) -> tuple[Event, str]:
    return PhotoUnliked(photo_id=photo_id, owner_id=owner, user_id=user), user


def commented(comment_id: str, photo_id: str, owner: str, author: str) -> tuple[Event, str]:
    return (CommentAdded(comment_id=comment_id, photo_id=photo_id, photo_owner_id=owner,
                         author_id=author, text="nice"), author)


def uncommented(comment_id: str, photo_id: str, author: str, by: str) -> tuple[Event, str]:
    return (CommentDeleted(comment_id=comment_id, photo_id=photo_id, author_id=author,
                           deleted_by=by), by)


def deleted(photo_id: str, owner: str) -> tuple[Event, str]:
    return PhotoDeleted(photo_id=photo_id, owner_id=owner), owner


def read(user: str, up_to: str) -> tuple[Event, str]:
    return NotificationsRead(user_id=user, up_to_notification_id=up_to), user


# --- running the view -----------------------------------------------------------------


def open_view(path: Path) -> ViewDatabase:
    return ViewDatabase(path, [sqlite_notifications.SCHEMA])


def new_runner(items: list[Envelope], views: ViewDatabase, published: list[Notice],
               batch_size: int = 500) -> ProjectionRunner:
    return ProjectionRunner(ListLog(items), views,
                            [sqlite_notifications.binding(VIEW_SETTINGS)],
                            batch_size=batch_size, publish=published.extend)


def _event(envelope: Envelope) -> Event:
    return event_from_data(envelope.event_type, envelope.schema_version, envelope.data)


class _closing:
    def __init__(self, views: ViewDatabase) -> None:
        self.views = views

    def __enter__(self) -> ViewDatabase:
        return self.views

    def __exit__(self, *_: object) -> None:
        self.views.close()


class View:
    """The view after a history, with the notices it published."""

    def __init__(self, views: ViewDatabase, published: list[Notice]) -> None:
        self.views, self.published = views, published
        self.q = sqlite_notifications.queries(views.reader(), VIEW_SETTINGS)

    def of(self, user: str) -> list[Notification]:
        return self.q.for_user(user, None, 1000)

    def kinds(self, user: str) -> list[tuple[str, str, str | None]]:
        """(type, actor, photo) of the user's notifications, newest first."""
        return [(n.type, n.actor_id, n.photo_id) for n in self.of(user)]

    def read_flags(self, user: str) -> list[bool]:
        marker = self.q.read_up_to(user)
        return [n.position <= marker for n in self.of(user)]

    def all(self) -> list[tuple[Any, ...]]:
        return self.views.dump()["notifications"]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Any]:
    opened: list[ViewDatabase] = []

    def run(*steps: tuple[Event, str], batch_size: int = 500) -> View:
        views = open_view(tmp_path / f"views-{len(opened)}.sqlite3")
        opened.append(views)
        published: list[Notice] = []
        new_runner(envelopes(list(steps)), views, published, batch_size).catch_up()
        return View(views, published)

    yield run
    for views in opened:
        views.close()


# --- who is told what -----------------------------------------------------------------


def test_a_follow_notifies_the_followee(run) -> None:
    view = run(*users(), followed(BOB, ANN))
    [note] = view.of(ANN)
    assert note == Notification(
        notification_id=notification_id("follow", BOB, ANN), user_id=ANN, type="follow",
        actor_id=BOB, photo_id=None, created_at=(START + timedelta(seconds=5)).isoformat(),
        position=5)
    assert view.of(BOB) == []
    assert view.published == [Notice(user_id=ANN, kind="notification", data=note.to_dict())]


def test_likes_and_comments_notify_the_photo_owner(run) -> None:
    view = run(*users(), posted(P1, ANN), liked(P1, ANN, BOB), commented(C1, P1, ANN, CY))
    assert view.kinds(ANN) == [("comment", CY, P1), ("like", BOB, P1)]
    assert view.of(BOB) == view.of(CY) == []
    assert [n.data["type"] for n in view.published] == ["like", "comment"]
    assert {n.user_id for n in view.published} == {ANN}


def test_a_tag_notifies_each_tagged_user(run) -> None:
    view = run(*users(), posted(P1, ANN, BOB, CY))
    assert view.kinds(BOB) == view.kinds(CY) == [("tag", ANN, P1)]
    assert view.of(ANN) == view.of(DEE) == []
    assert sorted(n.user_id for n in view.published) == sorted([BOB, CY])


def test_nobody_is_notified_of_their_own_actions(run) -> None:
    view = run(*users(), posted(P1, ANN, ANN), liked(P1, ANN, ANN),
               commented(C1, P1, ANN, ANN))
    assert view.all() == [] and view.published == []


def test_notification_ids_are_deterministic_and_distinct_per_subject() -> None:
    assert notification_id("like", P1, BOB) == notification_id("like", P1, BOB)
    ids = {notification_id("like", P1, BOB), notification_id("like", P1, CY),
           notification_id("like", P2, BOB), notification_id("tag", P1, BOB),
           notification_id("follow", BOB, ANN), notification_id("follow", ANN, BOB),
           notification_id("comment", C1)}
    assert len(ids) == 7


# --- undo -------------------------------------------------------------------------------


def test_unfollow_removes_the_follow_notification(run) -> None:
    view = run(*users(), followed(BOB, ANN), followed(CY, ANN), unfollowed(BOB, ANN))
    assert view.kinds(ANN) == [("follow", CY, None)]


def test_unlike_removes_the_like_and_a_deleted_comment_its_notification(run) -> None:
    view = run(*users(), posted(P1, ANN), liked(P1, ANN, BOB), liked(P1, ANN, CY),
               commented(C1, P1, ANN, BOB), commented(C2, P1, ANN, CY),
               unliked(P1, ANN, BOB), uncommented(C1, P1, BOB, ANN))
    assert view.kinds(ANN) == [("comment", CY, P1), ("like", CY, P1)]


def test_deleting_a_photo_removes_every_notification_about_it(run) -> None:
    view = run(*users(), followed(BOB, ANN), posted(P1, ANN, CY), posted(P2, ANN, CY),
               liked(P1, ANN, BOB), commented(C1, P1, ANN, DEE), liked(P2, ANN, BOB),
               deleted(P1, ANN))
    assert view.kinds(ANN) == [("like", BOB, P2), ("follow", BOB, None)]
    assert view.kinds(CY) == [("tag", ANN, P2)]


def test_like_unlike_like_again_keeps_one_notification(run) -> None:
    view = run(*users(), posted(P1, ANN), liked(P1, ANN, BOB), unliked(P1, ANN, BOB),
               liked(P1, ANN, BOB))
    [note] = view.of(ANN)
    assert note.notification_id == notification_id("like", P1, BOB)
    assert note.position == 8  # the like that stands is the newest one
    assert [n.data["position"] for n in view.published] == [6, 8]


def test_follow_unfollow_follow_again_keeps_one_notification(run) -> None:
    view = run(*users(), followed(BOB, ANN), unfollowed(BOB, ANN), followed(BOB, ANN))
    assert [n.position for n in view.of(ANN)] == [7]


@pytest.mark.parametrize("steps", [
    [posted(P1, ANN, BOB), followed(CY, ANN), liked(P1, ANN, BOB), commented(C1, P1, ANN, DEE),
     read(ANN, notification_id("follow", CY, ANN))],
    [posted(P1, ANN, BOB), liked(P1, ANN, BOB), unliked(P1, ANN, BOB), liked(P1, ANN, BOB),
     followed(CY, ANN), unfollowed(CY, ANN), commented(C1, P1, ANN, DEE),
     uncommented(C1, P1, DEE, DEE), read(ANN, notification_id("like", P1, BOB))],
], ids=["creations", "with-undo"])
def test_applying_the_same_events_twice_changes_nothing(tmp_path: Path, steps) -> None:
    """Set semantics in the store itself, below the runner's position check."""
    items = envelopes([*users(), *steps])
    binding = sqlite_notifications.binding(VIEW_SETTINGS)
    dumps, outboxes = [], []
    with _closing(open_view(tmp_path / "v.sqlite3")) as views:
        for _ in range(2):
            outbox: list[Notice] = []
            with views.transaction() as connection:
                store = binding.store(connection, outbox)
                for envelope in items:
                    binding.projection.apply(_event(envelope), envelope, store)
            dumps.append(views.dump())
            outboxes.append(outbox)
    assert dumps[0] == dumps[1]
    assert dumps[0]["notification_reads"], "the marker was set"
    if not any(isinstance(event, (PhotoUnliked, UserUnfollowed, CommentDeleted))
               for event, _ in steps):
        # (A replay that undoes and redoes re-creates, so it may announce again.)
        assert len(outboxes[0]) == 4 and outboxes[1] == [], "announced twice"


# --- the read marker ------------------------------------------------------------------


def test_reading_up_to_a_notification_reads_it_and_everything_older(run) -> None:
    steps = [*users(), posted(P1, ANN), followed(BOB, ANN), liked(P1, ANN, BOB),
             commented(C1, P1, ANN, CY)]
    view = run(*steps, read(ANN, notification_id("like", P1, BOB)))
    assert view.kinds(ANN) == [("comment", CY, P1), ("like", BOB, P1), ("follow", BOB, None)]
    assert view.read_flags(ANN) == [False, True, True]
    assert view.q.read_up_to(ANN) == 7


def test_the_marker_never_moves_back(run) -> None:
    steps = [*users(), followed(BOB, ANN), followed(CY, ANN)]
    view = run(*steps, read(ANN, notification_id("follow", CY, ANN)),
               read(ANN, notification_id("follow", BOB, ANN)))
    assert view.read_flags(ANN) == [True, True]


def test_unknown_or_someone_elses_notification_marks_nothing(run) -> None:
    steps = [*users(), followed(BOB, ANN), followed(ANN, CY)]
    view = run(*steps, read(ANN, notification_id("follow", ANN, CY)),  # CY's, not ANN's
               read(ANN, uid("nothing", 1)), read(DEE, notification_id("follow", BOB, ANN)))
    assert view.read_flags(ANN) == [False]
    assert view.q.read_up_to(ANN) == view.q.read_up_to(DEE) == 0
    assert view.views.dump()["notification_reads"] == []


def test_reading_a_removed_notification_marks_nothing(run) -> None:
    view = run(*users(), followed(BOB, ANN), unfollowed(BOB, ANN), followed(CY, ANN),
               read(ANN, notification_id("follow", BOB, ANN)))
    assert view.read_flags(ANN) == [False]


def test_new_notifications_after_the_marker_are_unread(run) -> None:
    steps = [*users(), posted(P1, ANN), liked(P1, ANN, BOB),
             read(ANN, notification_id("like", P1, BOB)), unliked(P1, ANN, BOB),
             liked(P1, ANN, BOB), followed(CY, ANN)]
    view = run(*steps)
    assert view.kinds(ANN) == [("follow", CY, None), ("like", BOB, P1)]
    assert view.read_flags(ANN) == [False, False]


def test_pages_are_newest_first_below_a_position(run) -> None:
    view = run(*users(), *(followed(u, ANN) for u in (BOB, CY, DEE)))
    assert [n.actor_id for n in view.q.for_user(ANN, None, 2)] == [DEE, CY]
    assert [n.actor_id for n in view.q.for_user(ANN, 6, 2)] == [BOB]


# --- convergence ----------------------------------------------------------------------


def _candidates(history: list[tuple[Event, str]]) -> list[tuple[str, str]]:
    """(recipient, notification id) of everything the history could notify about."""
    out = []
    for event, _ in history:
        match event:
            case UserFollowed(follower_id=a, followee_id=b):
                out.append((b, notification_id("follow", a, b)))
            case PhotoLiked(photo_id=p, owner_id=o, user_id=u):
                out.append((o, notification_id("like", p, u)))
            case CommentAdded(comment_id=c, photo_owner_id=o):
                out.append((o, notification_id("comment", c)))
            case PhotoPosted(photo_id=p, tagged_user_ids=tagged):
                out.extend((t, notification_id("tag", p, t)) for t in tagged)
    return out


@st.composite
def histories_with_reads(draw: st.DrawFn) -> list[tuple[Event, str]]:
    """A valid history with read markers set at random times: on a notification of the
    reader's (often), on someone else's, or on an id that names nothing."""
    history = list(draw(histories()))
    user_ids = [e.user_id for e, _ in history if isinstance(e, UserRegistered)]
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(len(user_ids), len(history)))
        known = _candidates(history[:at])
        choice = draw(st.integers(0, 9))
        if known and choice < 7:
            recipient, nid = draw(st.sampled_from(known))
            reader = recipient if choice < 6 else draw(st.sampled_from(user_ids))
        else:
            reader, nid = draw(st.sampled_from(user_ids)), uid("unknown", choice)
        history.insert(at, read(reader, nid))
    return history


def _notices(published: list[Notice]) -> list[tuple[str, str, int]]:
    return [(n.user_id, n.data["notification_id"], n.data["position"]) for n in published]


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(history=histories_with_reads(), data=st.data())
def test_duplicates_overlaps_and_restarts_give_the_views_of_one_clean_pass(history,
                                                                           data) -> None:
    items = envelopes(history)
    head = items[-1].position
    with tempfile.TemporaryDirectory(prefix="photoshare-notifications-") as tmp:
        clean_published: list[Notice] = []
        with _closing(open_view(Path(tmp) / "clean.sqlite3")) as clean:
            new_runner(items, clean, clean_published).catch_up()
            expected = clean.dump()

        path = Path(tmp) / "messy.sqlite3"
        published: list[Notice] = []
        views = open_view(path)
        runner = new_runner(items, views, published)
        try:
            for _ in range(40):
                done = runner.position
                if done >= head:
                    break
                if data.draw(st.integers(0, 5)) == 0:
                    # A restart: the process dies; a new one opens the same view file and
                    # a new runner continues from the positions committed with the views.
                    views.close()
                    views = open_view(path)
                    runner = new_runner(items, views, published)
                    continue
                # Redelivery: a batch may start before what was applied, end anywhere
                # (even below it), and repeat events inside it.
                start = data.draw(st.integers(max(0, done - 4), done))
                end = data.draw(st.integers(start + 1, len(items)))
                batch = [e for e in items[start:end]
                         for _ in range(data.draw(st.integers(1, 2)))]
                runner.apply(batch, batch[-1].position)
            runner.catch_up()
            assert runner.position == head
            assert views.dump() == expected
            assert _notices(published) == _notices(clean_published), \
                "a notification was announced twice or not at all"
        finally:
            views.close()
