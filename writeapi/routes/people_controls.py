"""Block and mute: PUT / DELETE /v1/users/me/blocks/{user_id} and .../mutes/{user_id},
all idempotent. (The lists are read routes: readapi/routes/people_controls.py.)"""

from __future__ import annotations

from fastapi import APIRouter, Response

from photoshare.commands.messages import BlockUser, MuteUser, UnblockUser, UnmuteUser
from photoshare.writeapi.deps import UserBus, no_content

router = APIRouter(tags=["block and mute"])

_ERRORS = {404: {"description": "no such user"},
           422: {"description": "that is you"}}


@router.put("/v1/users/me/blocks/{user_id}", status_code=204, responses=_ERRORS)
async def block(user_id: str, bus: UserBus) -> Response:
    """Block a person: the follows between you end both ways; neither of you can follow
    the other, like, comment on or tag the other's photos; they get 404 for your profile
    and photos, and you see nothing of theirs (their profile header stays visible to you,
    to unblock). Nobody is told. Blocking again changes nothing."""
    return no_content(await bus.run(BlockUser(blocker_id=bus.actor_id, blocked_id=user_id)))


@router.delete("/v1/users/me/blocks/{user_id}", status_code=204,
               responses={404: _ERRORS[404]})
async def unblock(user_id: str, bus: UserBus) -> Response:
    """Lift a block (follows it ended stay ended). Unblocking someone not blocked
    changes nothing."""
    return no_content(await bus.run(UnblockUser(blocker_id=bus.actor_id, blocked_id=user_id)))


@router.put("/v1/users/me/mutes/{user_id}", status_code=204, responses=_ERRORS)
async def mute(user_id: str, bus: UserBus) -> Response:
    """Mute a person: their posts leave your home timeline (those already there too) and
    their activity raises no notifications for you. Nothing else changes; they are not
    told. Muting again changes nothing."""
    return no_content(await bus.run(MuteUser(muter_id=bus.actor_id, muted_id=user_id)))


@router.delete("/v1/users/me/mutes/{user_id}", status_code=204,
               responses={404: _ERRORS[404]})
async def unmute(user_id: str, bus: UserBus) -> Response:
    """Unmute a person: their posts show in your timeline again."""
    return no_content(await bus.run(UnmuteUser(muter_id=bus.actor_id, muted_id=user_id)))
