"""Assembles the read API's routes."""

from __future__ import annotations

from fastapi import FastAPI

from readapi import media


def include_read_api(app: FastAPI) -> None:
    app.include_router(media.router)
