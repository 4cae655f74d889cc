"""Comments: POST /v1/photos/{photo_id}/comments and DELETE .../comments/{comment_id}."""

from __future__ import annotations

from fastapi import APIRouter, Response

from photoshare.commands.messages import AddComment, DeleteComment
from photoshare.writeapi.deps import UserBus, no_content, written
from photoshare.writeapi.schemas import CommentCreate, CommentCreated

router = APIRouter(tags=["comments"])


@router.post("/v1/photos/{photo_id}/comments", status_code=201, response_model=CommentCreated)
async def add_comment(photo_id: str, body: CommentCreate, response: Response,
                      bus: UserBus) -> CommentCreated:
    result = await bus.run(AddComment(photo_id=photo_id, author_id=bus.actor_id, text=body.text))
    written(response, result)
    return CommentCreated(comment_id=result.value)


@router.delete("/v1/photos/{photo_id}/comments/{comment_id}", status_code=204)
async def delete_comment(photo_id: str, comment_id: str, bus: UserBus) -> Response:
    command = DeleteComment(photo_id=photo_id, comment_id=comment_id, user_id=bus.actor_id)
    return no_content(await bus.run(command))
