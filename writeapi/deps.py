"""Dependencies shared by the write routes, as `Annotated` aliases."""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from photoshare.commands import CommandContext, CommandResult
from photoshare.infra.auth.passwords import PasswordWorkBusyError
from photoshare.infra.http.web import EVENT_POSITION_HEADER, ApiError, CurrentUserId
from photoshare.infra.logs import correlation_id
from photoshare.writeapi.services import WriteServices

T = TypeVar("T")


async def get_services(request: Request) -> WriteServices:
    return request.app.state.write


Services = Annotated[WriteServices, Depends(get_services)]


class CommandBus:
    """Runs a command for the request's user, off the event loop (the store blocks)."""

    def __init__(self, services: WriteServices, actor_id: str | None) -> None:
        self.services, self.actor_id = services, actor_id

    def context(self) -> CommandContext:
        return CommandContext(actor_id=self.actor_id, correlation_id=correlation_id.get() or "-")

    async def run(self, command: Any) -> CommandResult:
        result = await run_in_threadpool(self.services.commands.execute, command,
                                         self.context())
        self.services.after_write()
        return result


async def anonymous_bus(services: Services) -> CommandBus:
    return CommandBus(services, None)


async def user_bus(services: Services, user_id: CurrentUserId) -> CommandBus:
    """The signed-in user's bus, once the user is under their write limit (429 beyond:
    checked before an upload is read or a command runs)."""
    attempt = services.limits.user_writes.acquire(user_id)
    if not attempt.admitted:
        raise ApiError(429, "rate_limited", "too many changes in a short time; slow down",
                       {"Retry-After": str(math.ceil(attempt.retry_after))})
    return CommandBus(services, user_id)


AnonymousBus = Annotated[CommandBus, Depends(anonymous_bus)]
UserBus = Annotated[CommandBus, Depends(user_bus)]


def written(response: Response, result: CommandResult) -> None:
    """Tell the client which log position to wait for to read its own write."""
    response.headers[EVENT_POSITION_HEADER] = str(result.position)


def no_content(result: CommandResult) -> Response:
    return Response(status_code=204, headers={EVENT_POSITION_HEADER: str(result.position)})


def client_address(request: Request) -> str:
    """The client's address as the server sees it (forwarded headers are honoured
    only from the proxies the `forwarded_allow_ips` setting trusts)."""
    return request.client.host if request.client else "-"


async def password_work(work: Awaitable[T]) -> T:
    """Await password hashing; 503 with Retry-After when too much of it is queued."""
    try:
        return await work
    except PasswordWorkBusyError:
        raise ApiError(503, "busy", "the server is busy checking passwords; try again shortly",
                       {"Retry-After": "1"}) from None
