"""Likes: PUT / DELETE /v1/photos/{photo_id}/likes/me, both idempotent."""

from __future__ import annotations

from fastapi import APIRouter, Response

from photoshare.commands.messages import LikePhoto, UnlikePhoto
from photoshare.writeapi.deps import UserBus, no_content

router = APIRouter(tags=["likes"])


@router.put("/v1/photos/{photo_id}/likes/me", status_code=204)
async def like(photo_id: str, bus: UserBus) -> Response:
    return no_content(await bus.run(LikePhoto(photo_id=photo_id, user_id=bus.actor_id)))


@router.delete("/v1/photos/{photo_id}/likes/me", status_code=204)
async def unlike(photo_id: str, bus: UserBus) -> Response:
    return no_content(await bus.run(UnlikePhoto(photo_id=photo_id, user_id=bus.actor_id)))
