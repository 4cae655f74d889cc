"""Sessions: POST /v1/sessions logs in (a signed, expiring bearer token);
DELETE /v1/sessions/current logs out (the token is revoked for both APIs)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from photoshare.commands.ids import normalise_email
from photoshare.infra.auth.ratelimit import Attempt
from photoshare.infra.http.web import ApiError, CurrentClaims
from photoshare.writeapi.deps import Services, client_address, password_work
from photoshare.writeapi.schemas import SessionCreate, SessionPublic
from photoshare.writeapi.services import Limiter

router = APIRouter(tags=["sessions"])


@router.post("/v1/sessions", response_model=SessionPublic,
             responses={429: {"description": "too many attempts; see Retry-After"}})
async def log_in(body: SessionCreate, request: Request, services: Services) -> SessionPublic:
    # An account is the same whether named by username or email; an unknown login is
    # throttled by its name, so probing names looks the same as guessing passwords.
    credentials, head = await run_in_threadpool(
        lambda: (services.commands.credentials_for_login(body.login),
                 services.commands.head_position()))
    account = credentials.user_id if credentials else normalise_email(body.login)
    client = client_address(request)
    limits = services.limits
    pair = f"{account}|{client}"
    # Each attempt is counted before the password is checked, so parallel guesses
    # cannot all pass a check made before any of them failed.
    attempts = _admit((limits.login_pair, pair), (limits.login_account, account),
                      (limits.login_client, client))
    password_hash = credentials.password_hash if credentials else None
    try:
        verified = await password_work(services.passwords.verify(password_hash, body.password))
    except BaseException:
        _give_back(attempts)  # not checked (the server is busy): not a failure either
        raise
    if not verified:
        raise ApiError(401, "invalid_credentials", "wrong username, email or password")
    _give_back(attempts)  # only failures count
    limits.login_pair.reset(pair)
    issued = services.tokens.issue(credentials.user_id, position=head)
    return SessionPublic(access_token=issued.token, expires_in=issued.expires_in,
                         user_id=credentials.user_id)


@router.delete("/v1/sessions/current", status_code=204)
async def log_out(claims: CurrentClaims, services: Services) -> Response:
    await run_in_threadpool(services.revocations.revoke, claims.token_id, claims.expires_at)
    return Response(status_code=204)


def _admit(*limits: tuple[Limiter, str]) -> list[tuple[Limiter, Attempt]]:
    """Acquire every limit in turn; on the first refusal give back the others and
    answer 429."""
    admitted: list[tuple[Limiter, Attempt]] = []
    for limiter, key in limits:
        attempt = limiter.acquire(key)
        if not attempt.admitted:
            _give_back(admitted)
            raise ApiError(429, "too_many_attempts", "too many failed logins; try again later",
                           {"Retry-After": str(math.ceil(attempt.retry_after))})
        admitted.append((limiter, attempt))
    return admitted


def _give_back(attempts: list[tuple[Limiter, Attempt]]) -> None:
    for limiter, attempt in attempts:
        limiter.release(attempt)
