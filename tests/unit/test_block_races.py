"""A follow (or a follow request) racing a block of the same pair, on the real event
stores (SQLite as embedded, PostgreSQL as the cluster's write APIs share it).

The two commands are decided on different aggregates (the pair's Follow or the
followee's FollowRequests; the Block), so the store's optimistic concurrency never makes
one of them decide again. Each test pins one interleaving: one command is decided, then
held before its append while the other runs to the end in a second application (as a
second write API process would), then let go. Whichever order, no follow and no pending
request may outlive the block."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from photoshare.commands import CommandContext, PhotoShareCommands
from photoshare.commands import messages as m
from photoshare.commands.aggregates.graph import Follow
from photoshare.commands.aggregates.control import Block
from photoshare.commands.aggregates.requests import FollowRequests, follow_requests_id
from photoshare.commands.ids import follow_id
from photoshare.infra.postgres.event_store import event_store_env


class HeldBeforeSaving(PhotoShareCommands):
    """Holds the first append of an aggregate of `kind` until `go` is set."""

    name = PhotoShareCommands.name  # the same tables (the library names them by the app)

    def __init__(self, env: dict[str, str], kind: type) -> None:
        super().__init__(env)
        self.kind, self.decided, self.go = kind, threading.Event(), threading.Event()

    def save(self, *aggregates: Any, **kwargs: Any) -> Any:
        if not self.decided.is_set() and any(isinstance(a, self.kind) for a in aggregates):
            self.decided.set()
            assert self.go.wait(30), "the racing command never finished"
        return super().save(*aggregates, **kwargs)


@pytest.fixture(params=["sqlite", "postgres"])
def event_store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(tmp_path / "events.sqlite3")}
    return event_store_env(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def apps(event_store: dict[str, str]) -> Iterator[Callable[[type], tuple[Any, Any]]]:
    """(held, other): two applications on one event store, the first holding its first
    append of an aggregate of the given kind."""
    opened: list[PhotoShareCommands] = []

    def make(kind: type) -> tuple[HeldBeforeSaving, PhotoShareCommands]:
        other = PhotoShareCommands(dict(event_store))
        held = HeldBeforeSaving(dict(event_store), kind)
        opened.extend([other, held])
        return held, other

    yield make
    for app in opened:
        app.close()


def run(app: PhotoShareCommands, command: object, actor: str | None = None) -> Any:
    return app.execute(command, CommandContext(actor, "test")).value


def register(app: PhotoShareCommands, name: str, *, private: bool = False) -> str:
    user = run(app, m.RegisterUser(name, f"{name}@example.com", "hash", display_name=name))
    if private:
        run(app, m.UpdateProfile(user, {"private": True}), user)
    return user


def race(held: HeldBeforeSaving, first: object, first_actor: str,
         other: PhotoShareCommands, second: object, second_actor: str) -> None:
    """`first` decided by `held` and held before its append; `second` run to the end by
    `other`; then `first` appended (and settled)."""
    failed: list[BaseException] = []

    def run_first() -> None:
        try:
            run(held, first, first_actor)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            failed.append(error)

    thread = threading.Thread(target=run_first)
    thread.start()
    assert held.decided.wait(30) or failed, "the first command never reached its append"
    assert not failed, failed
    run(other, second, second_actor)
    held.go.set()
    thread.join(30)
    assert not failed, failed


def following(app: PhotoShareCommands, follower: str, followee: str) -> bool:
    follow = app._get(Follow, follow_id(_uuid(follower), _uuid(followee)))
    return follow is not None and follow.active


def pending(app: PhotoShareCommands, requester: str, owner: str) -> bool:
    requests = app._get(FollowRequests, follow_requests_id(_uuid(owner)))
    return requests is not None and requests.is_pending(_uuid(requester))


def _uuid(text: str) -> UUID:
    return UUID(text)


def test_a_follow_appended_after_a_block_it_did_not_see_is_ended(apps) -> None:
    held, other = apps(Follow)
    ann, bob = register(other, "ann"), register(other, "bob")
    race(held, m.FollowUser(bob, ann), bob, other, m.BlockUser(ann, bob), ann)
    assert not following(other, bob, ann)
    log = [envelope.event_type for envelope in other.iter_log()]
    assert log[-3:] == ["UserBlocked", "UserFollowed", "UserUnfollowed"]


def test_a_block_appended_after_a_follow_it_did_not_see_ends_it(apps) -> None:
    held, other = apps(Block)
    ann, bob = register(other, "ann"), register(other, "bob")
    race(held, m.BlockUser(ann, bob), ann, other, m.FollowUser(bob, ann), bob)
    assert not following(other, bob, ann)
    log = [envelope.event_type for envelope in other.iter_log()]
    assert log[-3:] == ["UserFollowed", "UserBlocked", "UserUnfollowed"]


def test_a_follow_request_that_raced_a_block_is_declined(apps) -> None:
    held, other = apps(FollowRequests)
    ann, bob = register(other, "ann", private=True), register(other, "bob")
    race(held, m.FollowUser(bob, ann), bob, other, m.BlockUser(ann, bob), ann)
    assert not pending(other, bob, ann) and not following(other, bob, ann)
    log = [envelope.event_type for envelope in other.iter_log()]
    assert log[-3:] == ["UserBlocked", "FollowRequested", "FollowRequestDeclined"]


def test_a_follow_of_someone_not_blocking_is_left_alone(apps) -> None:
    """The settling look finds nothing to do when no block exists: one event, kept."""
    held, other = apps(Follow)
    ann, bob, cy = register(other, "ann"), register(other, "bob"), register(other, "cyd")
    race(held, m.FollowUser(bob, ann), bob, other, m.BlockUser(ann, cy), ann)
    assert following(other, bob, ann)
    log = [envelope.event_type for envelope in other.iter_log()]
    assert log[-2:] == ["UserBlocked", "UserFollowed"]
