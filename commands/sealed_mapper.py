"""The event store's mapper, sealing personal data (crypto-shredding, `events.personal`).

`eventsourcing` turns each domain event into a stored event with a Mapper. This one
seals the personal fields of the event's `data` on the way in (the stored state then
holds them redacted plus a `sealed` entry with their ciphertext) and opens them on the
way out. The sealer (infra.crypto.sealing) holds the keys; the command side only knows
its two methods.
"""

from __future__ import annotations

from typing import Any, Protocol

from eventsourcing.persistence import Mapper, StoredEvent

SEAL_ATTRIBUTE = "sealed"


class PersonalDataSealer(Protocol):
    def seal(self, event_type: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict | None]: ...

    def open(self, event_type: str, data: dict[str, Any], seal: dict | None) -> dict[str, Any]: ...

    def forget(self, subject: str) -> None:
        """Destroy the person's key: their sealed fields can never be opened again."""


class SealingMapper(Mapper):
    def __init__(self, mapper: Mapper, sealer: PersonalDataSealer) -> None:
        super().__init__(mapper.transcoder, mapper.compressor, mapper.cipher)
        self.sealer = sealer

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = vars(domain_event)
        if "data" not in state or "event_type" not in state:
            return super().to_stored_event(domain_event)
        data, seal = self.sealer.seal(state["event_type"], state["data"])
        if seal is None and data is state["data"]:
            return super().to_stored_event(domain_event)
        # A copy with the sealed data: the aggregate keeps the clear event in memory.
        copy = object.__new__(type(domain_event))
        object.__setattr__(copy, "__dict__", {**state, "data": data,
                                              **({SEAL_ATTRIBUTE: seal} if seal else {})})
        return super().to_stored_event(copy)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        state = vars(event)
        if "data" in state and "event_type" in state:
            seal = state.pop(SEAL_ATTRIBUTE, None)
            state["data"] = self.sealer.open(state["event_type"], state["data"], seal)
        return event
