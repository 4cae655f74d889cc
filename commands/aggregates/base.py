"""The base every aggregate builds on.

Each change is recorded as one event of the public `events` vocabulary, wrapped with
its event id, schema version, actor and correlation id. The `eventsourcing` library
stores the wrapper; the aggregate's state changes only in `when`, by folding the
public event, so replaying the log rebuilds exactly the state that was decided on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from photoshare.events import Event, event_from_data, event_to_data
from photoshare.commands.messages import CommandContext


@dataclass(frozen=True)
class _Fact:
    """The stored fields around a public event."""

    event_id: str
    event_type: str
    schema_version: int
    data: dict[str, Any]
    actor_id: str | None
    correlation_id: str

    def public_event(self) -> Event:
        # Upcasts old schema versions, so `when` only ever sees the current shape.
        return event_from_data(self.event_type, self.schema_version, self.data)


def _fact_fields(event: Event, context: CommandContext) -> dict[str, Any]:
    return {
        "event_id": str(uuid4()),
        "event_type": event.event_type(),
        "schema_version": event.schema_version,
        "data": event_to_data(event),
        "actor_id": context.actor_id,
        "correlation_id": context.correlation_id,
    }


class EventSourcedAggregate(Aggregate):
    """Base aggregate: verbs call `_start` / `_record`; subclasses fold events in `when`.

    Subclasses must not annotate attributes at class level: `eventsourcing` would take
    the annotations for constructor arguments of the created event.
    """

    class Started(Aggregate.Created, _Fact):
        def apply(self, aggregate: EventSourcedAggregate) -> None:
            aggregate.when(self.public_event())

    class Recorded(Aggregate.Event, _Fact):
        def apply(self, aggregate: EventSourcedAggregate) -> None:
            aggregate.when(self.public_event())

    def __init__(self) -> None:
        # State comes from `when`, called by the Started event right after this.
        pass

    @classmethod
    def _start(cls, aggregate_id: UUID, event: Event, context: CommandContext) -> Self:
        return cls._create(cls.Started, id=aggregate_id, **_fact_fields(event, context))

    def _record(self, event: Event, context: CommandContext) -> None:
        self.trigger_event(self.Recorded, **_fact_fields(event, context))

    def when(self, event: Event) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot apply {event.event_type()}")
