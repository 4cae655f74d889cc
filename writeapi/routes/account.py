"""Deleting one's account: DELETE /v1/users/me with the password.

The password is checked as a log-in checks it (same limits, same password work queue,
the same 401 `invalid_credentials` when wrong). Then the DeleteAccount command undoes
what the person did and records AccountDeleted, and destroys their encryption key
(crypto-shredding: commands.erasure, infra.crypto.sealing); this token is revoked (the
person's other tokens name an account that no longer exists: both APIs refuse them),
and the blobs of their photos and avatars are deleted.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from photoshare.commands.messages import DeleteAccount
from photoshare.infra.http.web import ApiError, CurrentClaims
from photoshare.writeapi.deps import Services, UserBus, client_address, no_content, password_work
from photoshare.writeapi.routes.sessions import _admit, _give_back
from photoshare.writeapi.schemas import AccountDeletion

router = APIRouter(tags=["users"])


@router.delete("/v1/users/me", status_code=204,
               responses={401: {"description": "wrong password (`invalid_credentials`), or "
                                               "no valid token"},
                          429: {"description": "too many failed attempts; see Retry-After"},
                          503: {"description": "busy checking passwords; see Retry-After"}})
async def delete_account(body: AccountDeletion, request: Request, claims: CurrentClaims,
                         bus: UserBus, services: Services) -> Response:
    """Delete the signed-in account, for good. Every view forgets the person (profile,
    photos, comments, likes, follows both ways, notifications, search), their media is
    deleted, their username and email become free, and the personal data in the event
    log becomes unreadable (its key is destroyed). Answers 204 with `X-Event-Position`."""
    credentials = await run_in_threadpool(services.commands.credentials_of, claims.user_id)
    if credentials is None:
        raise ApiError(401, "unknown_actor", "the acting user does not exist")
    client, limits = client_address(request), services.limits
    pair = f"{claims.user_id}|{client}"
    attempts = _admit((limits.login_pair, pair), (limits.login_account, claims.user_id),
                      (limits.login_client, client))
    try:
        verified = await password_work(
            services.passwords.verify(credentials.password_hash, body.password))
    except BaseException:
        _give_back(attempts)
        raise
    if not verified:
        raise ApiError(401, "invalid_credentials", "wrong password")
    _give_back(attempts)
    limits.login_pair.reset(pair)
    result = await bus.run(DeleteAccount(user_id=claims.user_id))
    await run_in_threadpool(services.revocations.revoke, claims.token_id, claims.expires_at)
    for image in result.value.images:
        # Saved already: a blob that cannot be deleted is logged and left (an orphan).
        await run_in_threadpool(services.images.discard, image)
    return no_content(result)
