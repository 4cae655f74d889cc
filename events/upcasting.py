"""Upcasters turn the data of an old schema version into the next version's.

A published version is never edited: to change an event's shape, bump the class's
`schema_version` and register a function from the previous version's data. Decoding
runs the chain, so consumers only ever see the current version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator: register `fn` to turn `event_type` data of `from_version` into the next."""

    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in _UPCASTERS:
            raise ValueError(f"an upcaster for {event_type} v{from_version} already exists")
        _UPCASTERS[key] = fn
        return fn

    return register


def upcast(event_type: str, version: int, data: Data, target_version: int) -> Data:
    """Run the registered chain from `version` up to `target_version`."""
    while version < target_version:
        try:
            step = _UPCASTERS[(event_type, version)]
        except KeyError:
            raise LookupError(f"no upcaster for {event_type} v{version}") from None
        data = step(dict(data))
        version += 1
    return data
