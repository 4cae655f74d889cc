"""Trailing-slash redirects with a relative `Location`.

Starlette's router answers `/v1/users/me/` with a 307 to the same path without the slash
(and the other way round), but builds an absolute URL from the request's `Host` header:
`Host: evil.example` made the answer `Location: http://evil.example/v1/users/me` (a poisoned
cache or a link would send users elsewhere; behind the gateway it named the API process's
internal address). Here the router's own redirect is off and the same redirect is made
relative (`Location: /v1/users/me?query`), so no request header ever reaches it.

These are the only redirects the apps make: the web app serves each file at its exact path
and redirects nothing, and `/media` serves the bytes itself.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send

# A Location starting with two slashes (or a slash and a backslash, which browsers read as
# one) would name another host: such paths are never redirected.
_NETWORK_PATH = re.compile(r"^/[/\\]")


def install_relative_slash_redirects(app: FastAPI) -> None:
    """Replace the router's trailing-slash redirect with one that answers a relative
    `Location`. Routes added later are covered too (they are looked up per request)."""
    router = app.router
    router.redirect_slashes = False
    router.default = _SlashRedirect(router, router.default)


class _SlashRedirect:
    """The router's `default` (what runs when no route matches): a 307 to the path with
    (or without) its trailing slash when that one has a route, else the old default
    (a 404)."""

    def __init__(self, router: Router, fallback: ASGIApp) -> None:
        self.router, self.fallback = router, fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        location = _twin_location(self.router, scope) if scope["type"] == "http" else None
        if location is None:
            await self.fallback(scope, receive, send)
        else:
            await RedirectResponse(location)(scope, receive, send)


def _twin_location(router: Router, scope: Scope) -> str | None:
    """`/path?query` with the trailing slash added or removed, if a route takes it."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if path.removeprefix(root_path) in ("", "/"):
        return None
    twin = path.rstrip("/") if path.endswith("/") else path + "/"
    if not twin.startswith("/") or _NETWORK_PATH.match(twin):
        return None
    twin_scope = {**scope, "path": twin}
    if not any(route.matches(twin_scope)[0] is not Match.NONE for route in router.routes):
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    return twin + ("?" + query if query else "")
