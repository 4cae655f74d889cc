"""notifications read routes (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["notifications"])
