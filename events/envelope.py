"""The envelope every event travels in, from the event store to Kafka, views and exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """One stored event with everything a consumer needs to place and trace it.

    `position` is the event's place in the event store's global log (1, 2, 3, …): a
    projection records the last position it applied, and lag is the log head minus it.
    `aggregate_version` orders the events of one aggregate; `correlation_id` is the id
    of the request that caused the event. `data` holds the event type's fields, already
    upcast to `schema_version`.

    `sealed` is set on envelopes published to Kafka (and only there): `data` then holds
    the personal fields redacted, and `sealed` their ciphertext under the person's key
    (`infra.crypto.sealing`), so the topics, kept forever, never hold personal data in
    clear. A consumer with access to the key store opens it (`decode_envelope(raw,
    open_seal)`); without it, or once the person deleted their account, the envelope
    reads as the redacted form.
    """

    event_id: str
    event_type: str
    schema_version: int
    aggregate_id: str
    aggregate_version: int
    position: int
    occurred_at: datetime
    actor_id: str | None
    correlation_id: str
    data: dict[str, Any]
    sealed: dict[str, Any] | None = None
