"""The read marker: POST /v1/notifications/read with {"up_to": "<notification_id>"}.

Marks the caller's notifications read up to (and including) that one; 404 for an id
that is not one of the caller's notifications. Recorded as an
event, so a notifications view rebuilt from the log keeps what was read. Idempotent:
marking the same notification again records nothing.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool
from pydantic import Field, field_validator

from photoshare.commands.messages import MarkNotificationsRead
from photoshare.infra.http.web import ApiError
from photoshare.writeapi.deps import Services, UserBus, no_content
from photoshare.writeapi.schemas import StrictBody

router = APIRouter(tags=["notifications"])


class NotificationsReadBody(StrictBody):
    up_to: str = Field(max_length=64, description="the id of the newest notification read")

    @field_validator("up_to")
    @classmethod
    def _notification_id(cls, value: str) -> str:
        try:
            return str(UUID(value))
        except ValueError:
            raise ValueError("must be a notification id") from None


@router.post("/v1/notifications/read", status_code=204,
             responses={404: {"description": "not one of your notifications"}})
async def mark_read(body: NotificationsReadBody, bus: UserBus, services: Services) -> Response:
    # Only ids the caller was shown: anything else would append an event for nothing.
    if not await run_in_threadpool(services.owns_notification, bus.actor_id, body.up_to):
        raise ApiError(404, "notification_not_found", "you have no notification with that id")
    return no_content(await bus.run(MarkNotificationsRead(user_id=bus.actor_id,
                                                          up_to=body.up_to)))
