"""What deleting an account undoes, decided on the write side.

The write side has no views (in the cluster they live in other processes), so the
person's footprint is read from the log itself: every aggregate whose events name the
person's id in any field (`Footprint`). Each *closer* then turns part of that footprint
into events of the existing vocabulary — the person's photos deleted, their comments
deleted, their likes taken back, follows both ways ended, their username and email
released — so the projections that already handle those events correct every view and
count, in both profiles. `AccountDeleted` comes last and lets every view drop what is
left about the person (their profile, inbox, home timeline, search entry).

Hook for new features: a feature whose aggregates relate two people (follow requests,
blocks, mutes) adds a closer with `@account_closer`, ending what the deleted person
left there (e.g. declining pending requests, lifting blocks), and its projections handle
`AccountDeleted` by dropping every row naming the person.

Cost: the footprint is one pass over the log (O(events)), once per deletion; only the
events whose stored bytes hold the person's id are decoded
(`PhotoShareCommands.log_naming`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from photoshare.commands.messages import CommandContext, StoredImage
from photoshare.events import Envelope


@dataclass
class Footprint:
    """The aggregates whose events name the person: event type -> {aggregate id: the
    data of the aggregate's latest such event}, and the images they ever uploaded."""

    user_id: str
    by_event_type: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict))
    images: list[StoredImage] = field(default_factory=list)

    @classmethod
    def of(cls, user_id: str, log: Iterable[Envelope]) -> Footprint:
        footprint = cls(user_id)
        for envelope in log:
            if _names(envelope.data, user_id):
                footprint.by_event_type[envelope.event_type][envelope.aggregate_id] = \
                    envelope.data
                if envelope.event_type == "AvatarChanged":
                    footprint.images.append(StoredImage(
                        original_key=envelope.data["original_key"], format="",
                        width=0, height=0, variants=dict(envelope.data["variants"])))
        return footprint

    def aggregates(self, event_type: str, where: Callable[[dict[str, Any]], bool] = lambda _: True
                   ) -> list[UUID]:
        return [UUID(aggregate_id) for aggregate_id, data
                in self.by_event_type.get(event_type, {}).items() if where(data)]


def _names(data: dict[str, Any], user_id: str) -> bool:
    for value in data.values():
        if value == user_id or (isinstance(value, list) and user_id in value):
            return True
    return False


Closer = Callable[[Any, Any, Footprint, CommandContext], list[Any]]
"""(application, the User aggregate, footprint, context) -> aggregates to save."""

CLOSERS: list[Closer] = []


def account_closer(closer: Closer) -> Closer:
    """Register `closer`: called by the DeleteAccount command, before AccountDeleted."""
    CLOSERS.append(closer)
    return closer
