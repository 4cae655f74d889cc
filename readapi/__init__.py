"""The read API (FastAPI): serves queries from the view stores only, never the event store.

Profiles, photos, comments, followers, the home timeline, search, notifications (and
their live stream) and `/media`.
"""

from photoshare.readapi.app import include_read_api

__all__ = ["include_read_api"]
