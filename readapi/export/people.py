"""Where the export finds the people a person blocks and mutes.

The block and mute views (issue 15, items 2 and 3) are built apart from the export. Until
they are wired here, `blocks.json` and `mutes.json` are empty lists. Wiring one is one
line: point `BLOCKED` or `MUTED` at the view's query, e.g.

    BLOCKED: PeoplePage = lambda q, user_id, before, limit: q.blocks.blocked(user_id, before, limit)

A `PeoplePage` answers the people `user_id` blocks (or mutes), newest first, positions
below `before` (None: from the newest), at most `limit` of them, as items with a
`user_id` and a `position` (`projections.graph.Edge` has both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from photoshare.projections.graph import Edge
from photoshare.readapi.services import ViewQueries

PeoplePage = Callable[[ViewQueries, str, int | None, int], Sequence[Edge]]


def nobody(queries: ViewQueries, user_id: str, before: int | None,
           limit: int) -> Sequence[Edge]:
    """No one: the view that would answer does not exist yet."""
    return []


# TODO(issue 15 merge): the block and mute views' queries, newest first (see above).
BLOCKED: PeoplePage = nobody
MUTED: PeoplePage = nobody
