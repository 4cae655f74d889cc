"""The social graph: PUT / DELETE /v1/users/me/following/{user_id}, both idempotent."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from photoshare.commands.messages import FollowUser, UnfollowUser
from photoshare.infra.http.web import EVENT_POSITION_HEADER
from photoshare.writeapi.deps import UserBus, no_content

router = APIRouter(tags=["following"])

REQUESTED = "requested"


@router.put("/v1/users/me/following/{user_id}", status_code=204,
            responses={202: {"description": "the account is private: a follow request is "
                                            "pending until its owner approves it (asking "
                                            "again while pending records nothing)",
                             "content": {"application/json": {
                                 "example": {"status": REQUESTED}}}}})
async def follow(user_id: str, bus: UserBus) -> Response:
    """Follow a user: 204 once following. A private account answers 202
    `{"status": "requested"}` instead, until its owner approves the request."""
    result = await bus.run(FollowUser(follower_id=bus.actor_id, followee_id=user_id))
    if result.value == REQUESTED:
        return JSONResponse({"status": REQUESTED}, status_code=202,
                            headers={EVENT_POSITION_HEADER: str(result.position)})
    return no_content(result)


@router.delete("/v1/users/me/following/{user_id}", status_code=204)
async def unfollow(user_id: str, bus: UserBus) -> Response:
    """Stop following a user, or withdraw a pending follow request to them."""
    return no_content(await bus.run(UnfollowUser(follower_id=bus.actor_id, followee_id=user_id)))
