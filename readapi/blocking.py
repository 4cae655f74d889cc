"""The read side's rules for blocks and mutes, in one place; the routes call them.

A viewer's blocks (both ways) and mutes come from the controls view
(projections/controls.py) once per request, and are applied to what the other views
answer. Of the people who block the viewer, a read loads at most `BLOCKERS_LOADED`; past
that, a page asks about its own people (`learn_people`, `Controls.learn`), so that a
person many block pays for their page, not for all of them. Filtering at read time,
against sets that converge whatever the delivery order, is deterministic under
partitioned interleaved delivery, and makes a new block or mute act at once on rows
already materialized (timelines, notifications).

- Blocked either way ("hidden"): the blocked person gets 404 for the blocker's profile
  (`user_not_found`), photos, photo pages (`photo_not_found`), comments and lists, as if
  the blocker did not exist; the blocker gets the blocked person's profile header (with
  `relationship.blocking`, so they can unblock) and 404 for the rest. Neither sees the
  other in search, timelines, comments on others' photos, follower lists, tags or
  notifications.
- Muted: the muted person's posts leave the muter's home timeline (live notices too) and
  their activity raises no notification for the muter (the list and the live stream).
  Nothing else changes.
- An anonymous read has no viewer and no controls: it sees what everyone sees.

Pages stay full where they can: a filtered page reads further (a few rounds at most)
until it has `limit` items, and its cursor continues after the last row read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from photoshare.infra.http.web import ApiError
from photoshare.projections.controls import NO_CONTROLS, Controls
from photoshare.readapi.services import ViewQueries

T = TypeVar("T")

# How many reads a filtered page may take to fill itself before it answers short (its
# cursor then continues after the rows read, so nothing is skipped).
MAX_FILL_ROUNDS = 5


def controls_of(q: ViewQueries, viewer: str | None) -> Controls:
    """The viewer's blocks and mutes (none for an anonymous read)."""
    return q.controls.of(viewer) if viewer else NO_CONTROLS


def start_controls(q: ViewQueries, viewer: str | None) -> Callable[[], Controls]:
    """`controls_of`, begun now (`ControlQueries.start_of`): the call it returns answers
    them, the first time from the read, then from memory. A route begins them before
    its first read of the other views, so that both wait together on the cluster."""
    if not viewer:
        return lambda: NO_CONTROLS
    pending = q.controls.start_of(viewer)
    answered: list[Controls] = []

    def answer() -> Controls:
        if not answered:
            answered.append(pending())
        return answered[0]
    return answer


def learn_people(controls: Callable[[], Controls],
                 person: Callable[[T], str | None]) -> Callable[[list[T]], None]:
    """For `fill_keyset` / `fill_offset`'s `people`: the blocks of a batch's people found
    out in one read, when the viewer's blockers are too many to have been read whole
    (`Controls.learn`). `controls` is a route's `start_controls` answer."""
    def learn(rows: list[T]) -> None:
        controls().learn(who for row in rows if (who := person(row)) is not None)
    return learn


def user_not_found() -> ApiError:
    return ApiError(404, "user_not_found", "no such user")


def check_profile(controls: Controls, user_id: str) -> None:
    """A blocked person does not find the blocker's profile."""
    if controls.is_blocked_by(user_id):
        raise user_not_found()


def check_content(controls: Controls, owner_id: str) -> None:
    """Nobody blocked either way sees the other's photos, comments or lists."""
    if controls.hides(owner_id):
        raise user_not_found()


def check_photo(controls: Controls, owner_id: str) -> None:
    if controls.hides(owner_id):
        raise ApiError(404, "photo_not_found", "no such photo")


def shows_person(controls: Controls, user_id: str) -> bool:
    return not controls.hides(user_id)


def is_heard(controls: Controls, user_id: str) -> bool:
    """Whether `user_id`'s posts may be in the viewer's home timeline and their activity
    raise notifications for the viewer: not blocked either way, not muted."""
    return user_id not in controls.muting and not controls.hides(user_id)


def shows_notice(controls: Controls, kind: str, data: dict[str, Any]) -> bool:
    """Whether a live notice may go to the viewer: a notification from someone blocked or
    muted, or a timeline item of theirs, does not."""
    who = data.get("actor_id") if kind == "notification" else data.get("owner_id")
    return not isinstance(who, str) or is_heard(controls, who)


def without_hidden_tags(controls: Controls, cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Photo cards with the people hidden from the viewer taken out of `tagged`."""
    if controls.hides_anyone:
        controls.learn(t["user_id"] for card in cards for t in card["tagged"])
        for card in cards:
            card["tagged"] = [t for t in card["tagged"] if not controls.hides(t["user_id"])]
    return cards


def fill_keyset(fetch: Callable[[int | None, int], list[T]], keep: Callable[[T], bool],
                position: Callable[[T], int], start: int | None,
                limit: int, *, people: Callable[[list[T]], None] | None = None,
                ) -> tuple[list[T], int | None]:
    """A keyset page of the rows `keep` accepts: `fetch(cursor, n)` reads up to n rows
    after `cursor` in the list's order. Returns up to `limit` rows and the position the
    next page continues from (None: the list is exhausted). `people`, if given, is
    called with each batch read before `keep` judges its rows (`learn_people`)."""
    kept: list[T] = []
    cursor = start
    for _ in range(MAX_FILL_ROUNDS):
        batch = fetch(cursor, limit + 1)
        if people is not None:
            people(batch)
        for row in batch:
            if keep(row):
                kept.append(row)
                if len(kept) > limit:
                    return kept[:limit], position(kept[limit - 1])
        if len(batch) <= limit:
            return kept, None
        cursor = position(batch[-1])
    return kept, cursor


def fill_offset(fetch: Callable[[int, int], list[T]], keep: Callable[[T], bool], offset: int,
                limit: int, *, people: Callable[[list[T]], None] | None = None,
                ) -> tuple[list[T], int | None]:
    """`fill_keyset` for ranked lists paged by offset (search): the rows `keep` accepts,
    up to `limit`, and the offset the next page starts at (None: no more)."""
    kept: list[T] = []
    at = offset
    for _ in range(MAX_FILL_ROUNDS):
        batch = fetch(at, limit + 1)
        if people is not None:
            people(batch)
        for index, row in enumerate(batch):
            if keep(row):
                kept.append(row)
                if len(kept) > limit:
                    return kept[:limit], at + index
        if len(batch) <= limit:
            return kept, None
        at += len(batch)
    return kept, at
