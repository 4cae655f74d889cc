"""timelines view (to be built)."""

from __future__ import annotations

from abc import ABC

from projections.base import Projection


class TimelineQueries(ABC):
    """Read port of the timelines view."""


class TimelinesProjection(Projection[None]):
    name = "timelines"
