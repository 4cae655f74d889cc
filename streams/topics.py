"""Kafka topics of the cluster profile: one per event family, keyed by aggregate id.

Keying by aggregate id keeps one aggregate's events in order (they land on one
partition); events of different aggregates may be consumed in another order than the
log's, which every projection tolerates (ARCHITECTURE.md §4). The value is the JSON
envelope (`events.encode_envelope`), so any Kafka client can read the topics.
"""

from __future__ import annotations

from photoshare.events import event_class, public_event_classes

FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(cls.family for cls in public_event_classes()))


def topic_name(prefix: str, family: str) -> str:
    return f"{prefix}{family}"


def all_topics(prefix: str) -> list[str]:
    return [topic_name(prefix, family) for family in FAMILIES]


def topic_for(prefix: str, event_type: str) -> str:
    """The topic an event type is published to."""
    cls = event_class(event_type)
    if cls is None or cls.internal:
        raise ValueError(f"{event_type} is not a published event type")
    return topic_name(prefix, cls.family)


def partition_key(topic: str, partition: int) -> str:
    """How checkpoints name a partition: `photoshare.graph:3`."""
    return f"{topic}:{partition}"
