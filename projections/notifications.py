"""notifications view (to be built)."""

from __future__ import annotations

from abc import ABC

from projections.base import Projection


class NotificationQueries(ABC):
    """Read port of the notifications view."""


class NotificationsProjection(Projection[None]):
    name = "notifications"
