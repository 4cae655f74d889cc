"""A private account's follow requests: PUT (approve) and DELETE (decline)
/v1/users/me/follow-requests/{user_id}. The list is served by the read API."""

from __future__ import annotations

from fastapi import APIRouter, Response

from photoshare.commands.messages import ApproveFollowRequest, DeclineFollowRequest
from photoshare.writeapi.deps import UserBus, no_content

router = APIRouter(tags=["following"])

_NOT_FOUND = {404: {"description": "`follow_request_not_found`: that user has no pending "
                                   "request to follow you"}}


@router.put("/v1/users/me/follow-requests/{user_id}", status_code=204, responses=_NOT_FOUND)
async def approve(user_id: str, bus: UserBus) -> Response:
    """Approve `user_id`'s pending follow request: they follow you from now on."""
    return no_content(await bus.run(ApproveFollowRequest(user_id=bus.actor_id,
                                                         follower_id=user_id)))


@router.delete("/v1/users/me/follow-requests/{user_id}", status_code=204, responses=_NOT_FOUND)
async def decline(user_id: str, bus: UserBus) -> Response:
    """Decline `user_id`'s pending follow request (they are not told)."""
    return no_content(await bus.run(DeclineFollowRequest(user_id=bus.actor_id,
                                                         follower_id=user_id)))
