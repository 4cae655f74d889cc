"""The social graph: PUT / DELETE /v1/users/me/following/{user_id}, both idempotent."""

from __future__ import annotations

from fastapi import APIRouter, Response

from photoshare.commands.messages import FollowUser, UnfollowUser
from photoshare.writeapi.deps import UserBus, no_content

router = APIRouter(tags=["following"])


@router.put("/v1/users/me/following/{user_id}", status_code=204)
async def follow(user_id: str, bus: UserBus) -> Response:
    return no_content(await bus.run(FollowUser(follower_id=bus.actor_id, followee_id=user_id)))


@router.delete("/v1/users/me/following/{user_id}", status_code=204)
async def unfollow(user_id: str, bus: UserBus) -> Response:
    return no_content(await bus.run(UnfollowUser(follower_id=bus.actor_id, followee_id=user_id)))
