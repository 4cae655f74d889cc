"""Accounts and profiles: POST /v1/users, PATCH /v1/users/me, PUT /v1/users/me/avatar."""

from __future__ import annotations

import math
from dataclasses import replace

from fastapi import APIRouter, File, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from photoshare.commands.aggregates import User
from photoshare.commands.messages import ChangeAvatar, RegisterUser, UpdateProfile
from photoshare.infra.media.images import AVATAR_VARIANTS
from photoshare.infra.http.web import ApiError
from photoshare.writeapi.deps import (
    AnonymousBus,
    Services,
    UserBus,
    client_address,
    password_work,
    written,
)
from photoshare.writeapi.schemas import AvatarPublic, ProfilePublic, ProfileUpdate, UserCreate, UserCreated
from photoshare.writeapi.services import WriteServices
from photoshare.writeapi.uploads import image_urls, image_variants, store_image

router = APIRouter(tags=["users"])


@router.post("/v1/users", status_code=201, response_model=UserCreated,
             responses={429: {"description": "too many accounts from this address"},
                        503: {"description": "busy hashing passwords; see Retry-After"}})
async def register(body: UserCreate, request: Request, response: Response, bus: AnonymousBus,
                   services: Services) -> UserCreated:
    command = RegisterUser(username=body.username, email=body.email, password_hash="",
                           display_name=body.display_name, bio=body.bio,
                           location=body.location, age=body.age)
    # Everything cheap first: a bad or taken name costs no password hash.
    await run_in_threadpool(services.commands.check, command, bus.context())
    attempt = services.limits.registrations.acquire(client_address(request))
    if not attempt.admitted:
        raise ApiError(429, "too_many_registrations",
                       "too many accounts created from this address; try again later",
                       {"Retry-After": str(math.ceil(attempt.retry_after))})
    try:
        password_hash = await password_work(services.passwords.hash(body.password))
    except BaseException:
        services.limits.registrations.release(attempt)
        raise
    result = await bus.run(replace(command, password_hash=password_hash))
    written(response, result)
    return UserCreated(user_id=result.value, username=body.username)


@router.patch("/v1/users/me", response_model=ProfilePublic)
async def update_profile(body: ProfileUpdate, response: Response, bus: UserBus,
                         services: Services) -> ProfilePublic:
    result = await bus.run(UpdateProfile(user_id=bus.actor_id, changes=body.changes()))
    written(response, result)
    return _profile(services, result.value)


@router.put("/v1/users/me/avatar", response_model=AvatarPublic)
async def change_avatar(response: Response, bus: UserBus, services: Services,
                        file: UploadFile = File(...)) -> AvatarPublic:
    image = await store_image(services, file, AVATAR_VARIANTS)
    result = await bus.run(ChangeAvatar(user_id=bus.actor_id, image=image))
    written(response, result)
    urls = image_urls(services, image)
    return AvatarPublic(avatar_url=urls[AVATAR_VARIANTS[0].name], avatar_urls=urls,
                        avatar_variants=image_variants(services, image))


def _profile(services: WriteServices, user: User) -> ProfilePublic:
    avatar = user.avatar.get(AVATAR_VARIANTS[0].name)
    return ProfilePublic(user_id=str(user.id), username=user.username,
                         avatar_url=services.media_url(avatar) if avatar else None,
                         private=user.private, **user.profile())
