"""Pages with opaque cursors: `?limit=` (default 20, at most 100) and `?cursor=`."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from photoshare.infra.http.web import ApiError

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
# Log positions fit SQLite's and Cassandra's 64-bit integers; a cursor naming a larger one
# was not given out here (and would overflow a query parameter).
MAX_POSITION = 2**62
# The longest `cursor` taken; ours are far shorter.
MAX_CURSOR_CHARS = 512


@dataclass(frozen=True)
class PageRequest:
    limit: int
    cursor: dict[str, Any] | None

    def position(self) -> int | None:
        """The position a keyset page continues from, if the cursor holds one."""
        if self.cursor is None:
            return None
        value = self.cursor.get("p")
        if (not isinstance(value, int) or isinstance(value, bool)
                or not 0 <= value <= MAX_POSITION):
            raise invalid_cursor()
        return value


def invalid_cursor() -> ApiError:
    return ApiError(400, "invalid_cursor", "the cursor is not one this API gave out")


def encode_cursor(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None
    if not isinstance(state, dict):
        raise invalid_cursor()
    return state


async def page_request(limit: Annotated[int, Query(ge=1)] = DEFAULT_LIMIT,
                 cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None) -> PageRequest:
    # A limit above the maximum is served as the maximum rather than refused.
    return PageRequest(min(limit, MAX_LIMIT), decode_cursor(cursor) if cursor else None)


Page = Annotated[PageRequest, Depends(page_request)]


def page(items: list[Any], next_state: dict[str, Any] | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": encode_cursor(next_state) if next_state else None}


def keyset_page(items: list[Any], positions: list[int], limit: int) -> dict[str, Any]:
    """A page of `items` fetched with limit + 1 rows: the extra row says there is more."""
    more = len(items) > limit
    items, positions = items[:limit], positions[:limit]
    return page(items, {"p": positions[-1]} if more else None)
