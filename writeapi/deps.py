"""Dependencies shared by the write routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from photoshare.commands import CommandContext, CommandResult
from photoshare.infra.logs import correlation_id
from photoshare.infra.http.web import EVENT_POSITION_HEADER, CurrentUserId
from photoshare.writeapi.services import WriteServices


async def get_services(request: Request) -> WriteServices:
    return request.app.state.write


Services = Annotated[WriteServices, Depends(get_services)]


class CommandBus:
    """Runs a command for the request's user, off the event loop (the store blocks)."""

    def __init__(self, services: WriteServices, actor_id: str | None) -> None:
        self.services, self.actor_id = services, actor_id

    async def run(self, command: Any) -> CommandResult:
        context = CommandContext(actor_id=self.actor_id,
                                 correlation_id=correlation_id.get() or "-")
        result = await run_in_threadpool(self.services.commands.execute, command, context)
        self.services.after_write()
        return result


async def anonymous_bus(services: Services) -> CommandBus:
    return CommandBus(services, None)


async def user_bus(services: Services, user_id: CurrentUserId) -> CommandBus:
    return CommandBus(services, user_id)


AnonymousBus = Annotated[CommandBus, Depends(anonymous_bus)]
UserBus = Annotated[CommandBus, Depends(user_bus)]


def written(response: Response, result: CommandResult) -> None:
    """Tell the client which log position to wait for to read its own write."""
    response.headers[EVENT_POSITION_HEADER] = str(result.position)


def no_content(result: CommandResult) -> Response:
    return Response(status_code=204, headers={EVENT_POSITION_HEADER: str(result.position)})
