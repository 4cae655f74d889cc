"""`HotRouteMiddleware` serves a GET straight from the route the router would pick, and
only then: small apps with routes that shadow each other, a mount and errors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from photoshare.infra.http.web import ApiError, HotRouteMiddleware, install_error_handlers
from photoshare.readapi.routing import ReadRoute


class Below:
    """Notes the requests that went down past the hot-route layer."""

    def __init__(self, app: ASGIApp, *, seen: list[str]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(scope["path"])
        await self.app(scope, receive, send)


def app_with(*, before: list[Any]) -> tuple[FastAPI, list[str]]:
    app = FastAPI()
    app.router.routes.extend(before)
    router = APIRouter(route_class=ReadRoute)

    @router.get("/items/{item_id}")
    def item(item_id: str) -> dict[str, Any]:
        if item_id == "missing":
            raise ApiError(404, "item_not_found", "no such item")
        if item_id == "broken":
            raise RuntimeError("boom")
        return {"item": item_id}

    app.router.routes.extend(router.routes)
    install_error_handlers(app, {})
    seen: list[str] = []
    app.add_middleware(Below, seen=seen)
    app.add_middleware(HotRouteMiddleware, fastapi_app=app)
    return app, seen


def test_a_fast_route_is_served_without_the_layers_below() -> None:
    app, seen = app_with(before=[])
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/items/a").json() == {"item": "a"}
    missing = client.get("/items/missing")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "item_not_found", "message": "no such item"}}
    broken = client.get("/items/broken")
    assert broken.status_code == 500 and broken.json()["error"]["code"] == "internal_error"
    assert seen == []
    assert client.post("/items/a").status_code == 405  # not a GET: the usual way
    assert client.get("/elsewhere").status_code == 404
    assert seen == ["/items/a", "/elsewhere"]


def test_an_earlier_route_that_takes_the_path_still_wins() -> None:
    async def earlier(_: Any) -> PlainTextResponse:
        return PlainTextResponse("earlier")

    app, seen = app_with(before=[Route("/items/{name}", earlier, methods=["GET"])])
    assert TestClient(app).get("/items/a").text == "earlier"
    assert seen == ["/items/a"]


def test_an_earlier_route_of_other_methods_is_passed_over_as_the_router_does() -> None:
    async def posted(_: Any) -> PlainTextResponse:
        return PlainTextResponse("posted")

    app, seen = app_with(before=[Route("/items/{name}", posted, methods=["POST"])])
    client = TestClient(app)
    assert client.get("/items/a").json() == {"item": "a"}
    assert client.post("/items/a").text == "posted"
    assert seen == ["/items/a"]  # only the POST went down


def test_after_a_mount_everything_goes_the_usual_way() -> None:
    inner = Starlette(routes=[Route("/x", lambda _: PlainTextResponse("mounted"))])
    app, seen = app_with(before=[Mount("/static", app=inner)])
    client = TestClient(app)
    assert client.get("/static/x").text == "mounted"
    assert client.get("/items/a").json() == {"item": "a"}
    assert seen == ["/static/x", "/items/a"]
