"""The projection protocol: dispatch an event by its type to the view's handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from photoshare.events import Envelope, Event

Store = TypeVar("Store")
Handler = Callable[[Any, Any, Envelope, Any], None]


def on(event_class: type[Event]) -> Callable[[Handler], Handler]:
    """Mark a method as the handler of `event_class` (collected by `Projection`)."""

    def mark(handler: Handler) -> Handler:
        handler.__handles__ = event_class  # type: ignore[attr-defined]
        return handler

    return mark


class Projection(Generic[Store]):
    """A fold of events into one view. Subclasses set `name` and mark handlers with `@on`.

    `apply` must be safe to call once per event in log order; the runner guarantees that
    (it skips events at or below the view's recorded position, in the same transaction
    as the view's changes), so handlers may count. They still write with upserts keyed
    by entity ids, so a backend without transactions converges too.
    """

    name: ClassVar[str]
    handlers: ClassVar[dict[type[Event], Handler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = {
            value.__handles__: value
            for klass in reversed(cls.__mro__)
            for value in vars(klass).values()
            if hasattr(value, "__handles__")
        }

    @classmethod
    def handled_types(cls) -> frozenset[str]:
        return frozenset(event_class.event_type() for event_class in cls.handlers)

    def apply(self, event: Event, envelope: Envelope, store: Store) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(self, event, envelope, store)
