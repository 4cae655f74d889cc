"""Log in: POST /v1/sessions answers a signed, expiring bearer token."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from photoshare.commands.ids import normalise_email
from photoshare.infra.http.web import ApiError
from photoshare.writeapi.deps import Services
from photoshare.writeapi.schemas import SessionCreate, SessionPublic

router = APIRouter(tags=["sessions"])


@router.post("/v1/sessions", response_model=SessionPublic)
async def log_in(body: SessionCreate, request: Request, services: Services) -> SessionPublic:
    # Both the account and the client are throttled: one stops guessing one password,
    # the other stops trying one password against many accounts. An account is the same
    # whether named by username or email; an unknown login is throttled by its name.
    credentials = await run_in_threadpool(services.commands.credentials_for_login, body.login)
    account = credentials.user_id if credentials else normalise_email(body.login)
    client = request.client.host if request.client else "-"
    limits = ((services.login_failures, account), (services.client_failures, client))
    wait = max(limiter.retry_after(key) for limiter, key in limits)
    if wait > 0:
        raise ApiError(429, "too_many_attempts", "too many failed logins; try again later",
                       {"Retry-After": str(math.ceil(wait))})
    password_hash = credentials.password_hash if credentials else None
    if not await run_in_threadpool(services.passwords.verify, password_hash, body.password):
        for limiter, key in limits:
            limiter.record_failure(key)
        raise ApiError(401, "invalid_credentials", "wrong username, email or password")
    services.login_failures.reset(account)
    issued = services.tokens.issue(credentials.user_id)
    return SessionPublic(access_token=issued.token, expires_in=issued.expires_in,
                         user_id=credentials.user_id)
