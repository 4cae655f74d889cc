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
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from photoshare.events import Envelope, UserBlocked, UserMuted, UserUnblocked, UserUnmuted
from photoshare.projections.base import Projection, on
from photoshare.projections.graph import Edge

Kind = Literal["block", "mute"]
KINDS: tuple[Kind, ...] = ("block", "mute")


@dataclass(frozen=True)
class Controls:
    """One person's blocks and mutes, seen from their side."""

    blocking: frozenset[str] = frozenset()    # whom they block
    blocked_by: frozenset[str] = frozenset()  # who blocks them
    muting: frozenset[str] = frozenset()      # whom they mute

    @cached_property  # asked once per row of a filtered page
    def hidden(self) -> frozenset[str]:
        """People they see nothing of, and who see nothing of them: blocked either way."""
        return self.blocking | self.blocked_by


NO_CONTROLS = Controls()


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
        """`user_id`'s blocks (both ways) and mutes."""

    def start_of(self, user_id: str) -> Callable[[], Controls]:
        """`of`, begun now and answered by the call it returns: a store whose reads are
        round trips sends it at once, so that it waits together with the reads made
        before it is answered (a page's entries). By default the read runs when
        answered."""
        return lambda: self.of(user_id)

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
