"""Where the export finds the people a person blocks and mutes: the controls view's lists
(`projections.controls`), newest first, positions below `before` (None: from the newest),
at most `limit` of them, as `Edge`s (a `user_id` and a `position`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from photoshare.projections.graph import Edge
from photoshare.readapi.services import ViewQueries

PeoplePage = Callable[[ViewQueries, str, int | None, int], Sequence[Edge]]


def blocked(queries: ViewQueries, user_id: str, before: int | None,
            limit: int) -> Sequence[Edge]:
    return queries.controls.listed("block", user_id, before, limit)


def muted(queries: ViewQueries, user_id: str, before: int | None,
          limit: int) -> Sequence[Edge]:
    return queries.controls.listed("mute", user_id, before, limit)


BLOCKED: PeoplePage = blocked
MUTED: PeoplePage = muted
