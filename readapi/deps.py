"""Dependencies shared by the read routes.

They are `async def` on purpose: FastAPI runs a sync dependency in the thread pool, and a
thread hop per dependency costs more than the work they do."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Annotated

from fastapi import Depends, Header, Request, Response

from photoshare.infra.http.web import ApiError, bearer_token, verified_user_id
from photoshare.readapi.services import ReadServices

MIN_POSITION_HEADER = "X-Min-Position"
READ_POSITION_HEADER = "X-Read-Position"
STALE_HEADER = "X-Read-Stale"


async def get_services(request: Request) -> ReadServices:
    return request.app.state.read


Services = Annotated[ReadServices, Depends(get_services)]


async def consistent_services(request: Request, response: Response,
                              min_position: Annotated[str | None,
                                                      Header(alias=MIN_POSITION_HEADER)] = None
                              ) -> ReadServices:
    """Read your own writes: with X-Min-Position, wait (bounded) for the views to pass it;
    answer anyway after the wait, flagged X-Read-Stale: true."""
    return await consistent(request.app.state.read, min_position, response.headers)


async def consistent(services: ReadServices, min_position: str | None,
                     headers: MutableMapping[str, str]) -> ReadServices:
    """`consistent_services`' work, writing its headers to `headers` (also called by
    `routing.ReadRoute`'s fast path)."""
    if min_position is not None:
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if not (min_position.isascii() and min_position.isdigit()) or len(min_position) > 18:
            raise ApiError(400, "invalid_min_position", "X-Min-Position must be a log position")
        reached = await services.consistency.wait_for(int(min_position),
                                                      services.min_position_wait_seconds)
        if not reached:
            headers[STALE_HEADER] = "true"
    headers[READ_POSITION_HEADER] = str(services.consistency.position)
    return services


# Routes are sync and call `views.queries()` in their body: query objects hold the calling
# thread's SQLite connection, so they must be made on the thread that uses them.
Views = Annotated[ReadServices, Depends(consistent_services)]


async def optional_viewer(request: Request) -> str | None:
    """The authenticated user if a token was sent (a bad one is still a 401)."""
    if "authorization" not in request.headers:
        return None
    return verified_user_id(request, bearer_token(request))


Viewer = Annotated[str | None, Depends(optional_viewer)]
