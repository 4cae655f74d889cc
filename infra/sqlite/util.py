"""Small SQL helpers shared by the SQLite views."""

from __future__ import annotations

import json
from collections.abc import Sized
from typing import Any

import orjson


def placeholders(values: Sized) -> str:
    """"?, ?, ?" for an IN (...) list of `values`."""
    return ", ".join("?" * len(values))


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def from_json(text: str) -> Any:
    return orjson.loads(text)  # what json.loads gives, several times faster (reads are hot)
