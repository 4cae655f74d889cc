"""search view (to be built)."""

from __future__ import annotations

from abc import ABC

from projections.base import Projection


class SearchQueries(ABC):
    """Read port of the search view."""


class SearchProjection(Projection[None]):
    name = "search"
