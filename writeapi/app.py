"""Assembles the write API's routes and its one table from domain errors to HTTP status."""

from __future__ import annotations

from fastapi import FastAPI

from photoshare.commands import errors as e
from photoshare.infra.http.web import include_routes
from photoshare.writeapi.routes import (
    account,
    comments,
    follow_requests,
    following,
    likes,
    notifications,
    people_controls,
    photos,
    sessions,
    users,
)

# The one place a domain error becomes an HTTP status. Subclasses come before bases.
DOMAIN_ERROR_STATUS: dict[type[Exception], int] = {
    e.UnknownTaggedUserError: 422,
    e.InvalidValueError: 422,
    e.UsernameTakenError: 409,
    e.EmailTakenError: 409,
    e.ConcurrentUpdateError: 409,
    e.UnknownActorError: 401,
    e.UnknownUserError: 404,
    e.PhotoNotFoundError: 404,
    e.CommentNotFoundError: 404,
    e.FollowRequestNotFoundError: 404,
    e.SelfFollowError: 400,
    e.SelfBlockError: 422,
    e.SelfMuteError: 422,
    e.BlockingUserError: 409,
    e.NotPhotoOwnerError: 403,
    e.PrivateAccountError: 403,
    e.NotAllowedToDeleteCommentError: 403,
    e.DomainError: 400,
}

# Endpoints that take a multipart image and so get the upload body limit.
UPLOAD_ROUTES = frozenset({("POST", "/v1/photos"), ("PUT", "/v1/users/me/avatar")})


def include_write_api(app: FastAPI) -> None:
    for module in (users, sessions, photos, following, follow_requests, people_controls,
                   likes, comments, notifications, account):
        include_routes(app, module.router)
