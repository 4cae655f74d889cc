"""The block and mute sets ("people's controls"): who blocks whom, who mutes whom.

One row per (kind, user, other) pair, kept after an unblock or unmute as an inactive
row, and changed only by an event of a newer log position than the row's: a pair's
events come from one Block or Mute aggregate (one Kafka partition, in order), and a
redelivered older event is refused by the position guard, so the view converges to the
same rows under duplicate delivery, crashes, replays and partitioned interleaving.

The read API applies these sets when it answers (readapi/blocking.py) rather than the
other views when they are built: a view built from events of other partitions cannot
tell whether a block arrived "before" a post or a like in log order, but a read that
filters against the converged sets answers the same whatever the delivery order, and
already materialized timeline rows and notifications follow a new mute at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal

from photoshare.events import Envelope, UserBlocked, UserMuted, UserUnblocked, UserUnmuted
from photoshare.projections.base import Projection, on
from photoshare.projections.graph import Edge

Kind = Literal["block", "mute"]
KINDS: tuple[Kind, ...] = ("block", "mute")


# How many of the people who block a viewer a read loads whole. Past that many (someone
# blocked by many: a celebrity, the target of a pile-on) a read asks instead about the
# people it is about to show (`Controls.learn`), so that what it costs is bounded by its
# page rather than by how many block the viewer. Read when the controls are read (tests
# lower it).
BLOCKERS_LOADED = 100


@dataclass(frozen=True)
class Controls:
    """One person's blocks and mutes, seen from their side.

    `blocking` and `muting` are whole (the person's own doing). `blocked_by` is whole
    when `complete`; else it holds some of the people who block them, and `ask` answers
    for any others: which of the ids it is given block them (a store read, remembered
    for the rest of the request). Ask through `is_blocked_by` / `hides`, never by
    looking into `blocked_by` alone."""

    blocking: frozenset[str] = frozenset()    # whom they block
    blocked_by: frozenset[str] = frozenset()  # who blocks them (all, or some: `complete`)
    muting: frozenset[str] = frozenset()      # whom they mute
    complete: bool = True
    ask: Callable[[list[str]], Collection[str]] | None = field(
        default=None, compare=False, repr=False)
    _answers: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @property
    def hides_anyone(self) -> bool:
        """Whether anyone is blocked either way: if not, nothing needs filtering."""
        return bool(self.blocking or self.blocked_by)

    def learn(self, user_ids: Iterable[str]) -> None:
        """Find out at once which of `user_ids` block them (one read for a page's people
        instead of one per person); nothing to do when `blocked_by` is whole."""
        if self.complete:
            return
        unknown = sorted({user_id for user_id in user_ids
                          if user_id not in self.blocked_by and user_id not in self._answers})
        if unknown:
            if self.ask is None:
                raise RuntimeError("incomplete controls without a way to ask")
            found = set(self.ask(unknown))
            for user_id in unknown:
                self._answers[user_id] = user_id in found

    def is_blocked_by(self, user_id: str) -> bool:
        if user_id in self.blocked_by:
            return True
        if self.complete:
            return False
        if user_id not in self._answers:
            self.learn((user_id,))
        return self._answers[user_id]

    def hides(self, user_id: str) -> bool:
        """Whether they and `user_id` see nothing of each other: blocked either way."""
        return user_id in self.blocking or self.is_blocked_by(user_id)


NO_CONTROLS = Controls()


def blockers_limit() -> int:
    """How many blockers a store's read asks for: one more than it keeps whole, so that
    a read that gets them all knows it has all of them."""
    return BLOCKERS_LOADED + 1


def controls_read(blocking: Iterable[str], muting: Iterable[str], blockers: Collection[str],
                  ask: Callable[[list[str]], Collection[str]]) -> Controls:
    """The controls from a store's read: its blocks and mutes, and up to
    `blockers_limit()` of the people who block the user (all of them if fewer; else the
    others are asked about through `ask`)."""
    complete = len(blockers) <= BLOCKERS_LOADED
    return Controls(blocking=frozenset(blocking), blocked_by=frozenset(blockers),
                    muting=frozenset(muting), complete=complete,
                    ask=None if complete else ask)


class ControlStore(ABC):
    """Write port."""

    @abstractmethod
    def set(self, kind: Kind, user_id: str, other_id: str, active: bool,
            position: int) -> None:
        """`user_id` blocks / mutes `other_id` (active) or no longer does, as of the
        event at `position`; a pair already changed by a newer event stays as it is."""


class ControlQueries(ABC):
    """Read port."""

    @abstractmethod
    def of(self, user_id: str) -> Controls:
        """`user_id`'s blocks (both ways) and mutes; of who blocks them, at most
        `BLOCKERS_LOADED` and the rest on demand (`Controls`)."""

    def start_of(self, user_id: str) -> Callable[[], Controls]:
        """`of`, begun now and answered by the call it returns: a store whose reads are
        round trips sends it at once, so that it waits together with the reads made
        before it is answered (a page's entries). By default the read runs when
        answered."""
        return lambda: self.of(user_id)

    @abstractmethod
    def blockers_among(self, user_id: str, candidates: list[str]) -> set[str]:
        """Which of `candidates` block `user_id` now (what `Controls.ask` does when the
        blockers are too many to load whole)."""

    @abstractmethod
    def listed(self, kind: Kind, user_id: str, before: int | None, limit: int) -> list[Edge]:
        """Whom `user_id` blocks / mutes now, most recent first, positions below `before`
        (`Edge.position`: the block's or mute's)."""


class ControlsProjection(Projection[ControlStore]):
    name = "controls"

    @on(UserBlocked)
    def _blocked(self, event: UserBlocked, envelope: Envelope, store: ControlStore) -> None:
        store.set("block", event.blocker_id, event.blocked_id, True, envelope.position)

    @on(UserUnblocked)
    def _unblocked(self, event: UserUnblocked, envelope: Envelope,
                   store: ControlStore) -> None:
        store.set("block", event.blocker_id, event.blocked_id, False, envelope.position)

    @on(UserMuted)
    def _muted(self, event: UserMuted, envelope: Envelope, store: ControlStore) -> None:
        store.set("mute", event.muter_id, event.muted_id, True, envelope.position)

    @on(UserUnmuted)
    def _unmuted(self, event: UserUnmuted, envelope: Envelope, store: ControlStore) -> None:
        store.set("mute", event.muter_id, event.muted_id, False, envelope.position)
