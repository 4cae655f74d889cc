"""Assembles the read API's routes."""

from __future__ import annotations

from fastapi import FastAPI

from photoshare.infra.http.web import include_routes
from photoshare.readapi import media
from photoshare.readapi.routes import (
    export,
    notifications,
    people_controls,
    photos,
    search,
    timeline,
    users,
)


def include_read_api(app: FastAPI) -> None:
    # The hottest read first: Starlette tries routes in order.
    for module in (timeline, users, photos, search, notifications, people_controls, media,
                   export):
        include_routes(app, module.router)
